//! `http` sources end to end through `aqueduct run` against a loopback API
//! written here: `get` as a batch source with each pagination style (the
//! `Link` header, a cursor in the body, a page number), a page failing
//! mid-way (tried again when transient, the run fails when it is not), and
//! `poll` with a watermark across intervals and a restart, bad elements
//! dead-lettered once.

mod support;

use serde_json::{Value as Json, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{Project, wait_until};

/// What the API answers: status, extra headers, JSON body.
type Answer = (u16, Vec<(String, String)>, Json);

/// A loopback API answering each `path?query` with `answer`, logging requests.
struct Api {
    url: String,
    log: Arc<Mutex<Vec<String>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Api {
    fn start(answer: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> Api {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the test API");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("binds the test API");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let seen = log.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (answer, seen) = (answer.clone(), seen.clone());
            async move {
                use axum::response::IntoResponse;
                let query = uri.query().unwrap_or("").to_string();
                seen.lock()
                    .expect("log")
                    .push(format!("{}?{query}", uri.path()));
                let (status, headers, body) = answer(uri.path(), &query);
                let mut response = (
                    axum::http::StatusCode::from_u16(status).expect("a status"),
                    body.to_string(),
                )
                    .into_response();
                for (name, value) in headers {
                    response.headers_mut().append(
                        axum::http::HeaderName::from_bytes(name.as_bytes()).expect("a name"),
                        axum::http::HeaderValue::from_str(&value).expect("a value"),
                    );
                }
                response
            }
        });
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Api {
            url,
            log,
            runtime: Some(runtime),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The value of query parameter `name`.
fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The value of query parameter `name` as a number (`None` when absent or
/// not a number).
fn number_param(query: &str, name: &str) -> Option<i64> {
    param(query, name).and_then(|p| p.parse().ok())
}

fn ok(body: Json) -> Answer {
    (200, Vec::new(), body)
}

/// Records `2n-1` and `2n` of page `n`.
fn page_items(n: i64) -> Json {
    json!([{"id": 2 * n - 1, "name": format!("r{}", 2 * n - 1)}, {"id": 2 * n, "name": format!("r{}", 2 * n)}])
}

/// A batch project fetching `source` into out/items.jsonl.
fn batch_project(api: &Api, source: &str) -> Project {
    api_project(
        &format!("{}/v1", api.url),
        "fetch",
        "batch",
        &format!("api.get({source})"),
        true,
    )
}

/// An API answering page 1 and then `status` with `body` for every later
/// page, and a batch project paging through it by number.
fn page_one_then_failing(status: u16, body: Json) -> (Api, Project) {
    let api = Api::start(move |_, query| {
        let page: i64 = number_param(query, "page").expect("page");
        match page {
            1 => ok(page_items(1)),
            _ => (status, Vec::new(), body.clone()),
        }
    });
    let p = batch_project(&api, r#""/items", paginate: page"#);
    (api, p)
}

/// An async project polling `api` with `poll` into out/items.jsonl (and
/// into out/dead.jsonl what does not fit, when `dead_letter`).
fn poll_project(api: &Api, poll: &str, dead_letter: bool) -> Project {
    api_project(
        &api.url,
        "watch",
        "async",
        &format!("api.poll({poll})"),
        dead_letter,
    )
}

/// A project with the http system `api` at `base_url` and one flow `flow`
/// in `mode` reading `from` as `Item` into out/items.jsonl (what does not
/// fit into out/dead.jsonl when `dead_letter`); `from` stands on line 8.
fn api_project(base_url: &str, flow: &str, mode: &str, from: &str, dead_letter: bool) -> Project {
    let dead_letter = if dead_letter {
        "  dead_letter file(\"out\").append(\"dead.jsonl\")\n"
    } else {
        ""
    };
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system api: http {{ base_url = "{base_url}" }}

type Item {{ id: int, name: string }}

flow {flow} {{
  mode {mode}
  from {from} as Item
  to file("out").append("items.jsonl")
{dead_letter}}}
"#
        ),
    );
    p
}

fn ids(p: &Project, rel: &str) -> Vec<i64> {
    if !p.path(rel).exists() {
        return Vec::new();
    }
    p.jsonl(rel)
        .iter()
        .map(|r| r["id"].as_i64().expect("an id"))
        .collect()
}

#[test]
fn get_follows_link_headers_to_the_last_page() {
    // page 1 names page 2 with a relative link (beside a `prev`), page 2
    // names page 3 with an absolute URL on the same host, page 3 none
    let base = Arc::new(Mutex::new(String::new()));
    let known = base.clone();
    let api = Api::start(move |_, query| {
        let page: i64 = number_param(query, "page").unwrap_or(1);
        let link = match page {
            1 => Some(
                r#"</v1/items?page=1>; rel="prev", </v1/items?page=2>; rel="next""#.to_string(),
            ),
            2 => Some(format!(
                "<{}/v1/items?page=3>; rel=\"next\"",
                known.lock().expect("base")
            )),
            _ => None,
        };
        (
            200,
            link.map(|l| vec![("link".to_string(), l)])
                .unwrap_or_default(),
            page_items(page),
        )
    });
    *base.lock().expect("base") = api.url.clone();
    let p = batch_project(&api, r#""/items", paginate: link"#);
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ids(&p, "out/items.jsonl"), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        r.summary("fetch"),
        "fetch: 6 in, 6 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        api.requests(),
        vec!["/v1/items?", "/v1/items?page=2", "/v1/items?page=3"]
    );
}

#[test]
fn get_does_not_follow_a_link_to_another_host() {
    let api = Api::start(|_, query| {
        let page: i64 = number_param(query, "page").unwrap_or(1);
        let link = vec![(
            "link".to_string(),
            "<http://elsewhere.invalid/v1/items?page=2>; rel=\"next\"".to_string(),
        )];
        (200, link, page_items(page))
    });
    let p = batch_project(&api, r#""/items", paginate: link"#);
    let r = p.run(&[]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "page 1: GET /v1/items: the next-page link leaves base_url's host; it is not followed"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(ids(&p, "out/items.jsonl"), Vec::<i64>::new());
}

#[test]
fn get_follows_a_cursor_in_the_body() {
    let api = Api::start(|_, query| {
        let (page, next) = match param(query, "after").as_deref() {
            None => (1, json!("c2")),
            Some("c2") => (2, json!("c3")),
            Some("c3") => (3, Json::Null),
            Some(other) => panic!("unexpected cursor {other}"),
        };
        ok(json!({"data": page_items(page), "meta": {"next": next}}))
    });
    let p = batch_project(
        &api,
        r#""/items?limit=2", items: "data", paginate: cursor, cursor: "meta.next", cursor_param: "after""#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ids(&p, "out/items.jsonl"), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        api.requests(),
        vec![
            "/v1/items?limit=2",
            "/v1/items?limit=2&after=c2",
            "/v1/items?limit=2&after=c3"
        ]
    );
}

#[test]
fn get_counts_pages_until_an_empty_one() {
    let api = Api::start(|_, query| {
        let page: i64 = number_param(query, "p").expect("p");
        ok(if page <= 3 {
            page_items(page)
        } else {
            json!([])
        })
    });
    let p = batch_project(
        &api,
        r#""/items?per_page=2", paginate: page, page_param: "p""#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ids(&p, "out/items.jsonl"), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        api.requests(),
        vec![
            "/v1/items?per_page=2&p=1",
            "/v1/items?per_page=2&p=2",
            "/v1/items?per_page=2&p=3",
            "/v1/items?per_page=2&p=4"
        ]
    );
}

#[test]
fn an_element_that_does_not_fit_is_dead_lettered_and_paging_goes_on() {
    let api = Api::start(|_, query| {
        let page: i64 = number_param(query, "page").expect("page");
        ok(match page {
            1 => page_items(1),
            2 => json!([{"id": 3, "name": 3}, {"id": 4, "name": "r4"}]),
            3 => page_items(3),
            _ => json!([]),
        })
    });
    let p = batch_project(&api, r#""/items", paginate: page"#);
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ids(&p, "out/items.jsonl"), vec![1, 2, 4, 5, 6]);
    assert_eq!(
        r.summary("fetch"),
        "fetch: 6 in, 5 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["raw"], json!(r#"{"id":3,"name":3}"#), "{dead:?}");
}

#[test]
fn a_pagination_argument_of_another_style_stops_the_run_before_any_request() {
    let api = Api::start(|_, _| ok(page_items(1)));
    let p = batch_project(&api, r#""/items", paginate: link, cursor: "next""#);
    let r = p.run(&[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "error: the project cannot start:\n  main.aq:8: flow `fetch`: `api.get`: `cursor` applies only with `paginate: cursor`"
        ),
        "{}",
        r.stderr
    );
    assert!(api.requests().is_empty());
}

#[test]
fn a_page_failing_once_with_503_is_tried_again_and_nothing_is_lost() {
    let failed = Arc::new(Mutex::new(false));
    let api = Api::start(move |_, query| {
        let page: i64 = number_param(query, "page").expect("page");
        let mut failed = failed.lock().expect("flag");
        if page == 2 && !*failed {
            *failed = true;
            return (503, Vec::new(), json!({"error": "busy"}));
        }
        ok(if page <= 3 {
            page_items(page)
        } else {
            json!([])
        })
    });
    let p = batch_project(&api, r#""/items", paginate: page"#);
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ids(&p, "out/items.jsonl"), vec![1, 2, 3, 4, 5, 6]);
    assert!(
        r.stderr
            .contains("http get: a page failed; trying it again"),
        "{}",
        r.stderr
    );
    assert_eq!(
        api.requests(),
        vec![
            "/v1/items?page=1",
            "/v1/items?page=2",
            "/v1/items?page=2",
            "/v1/items?page=3",
            "/v1/items?page=4"
        ]
    );
}

#[test]
fn a_page_refused_mid_way_fails_the_run_after_the_pages_before_it() {
    let (api, p) = page_one_then_failing(400, json!({"error": "bad page"}));
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "the run fails: {}", r.stderr);
    assert!(
        r.stderr.contains(
            r#"the source failed: page 2: HTTP 400 from GET /v1/items?page=2: {"error":"bad page"}"#
        ),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.summary("fetch"),
        r#"fetch: 2 in, 2 delivered, 0 filtered, 0 failed, 0 dead-lettered — FAILED: the source failed: page 2: HTTP 400 from GET /v1/items?page=2: {"error":"bad page"}"#
    );
    // page 1 was delivered, the run did not pretend to finish
    assert_eq!(ids(&p, "out/items.jsonl"), vec![1, 2]);
    assert_eq!(api.requests().len(), 2, "a 400 is not tried again");
}

#[test]
fn a_page_failing_every_time_with_500_fails_the_run_after_three_retries() {
    let (api, p) = page_one_then_failing(500, json!({"error": "down"}));
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "the run fails: {}", r.stderr);
    assert!(
        r.stderr.contains(
            r#"the source failed: page 2 (tried 4 times): HTTP 500 from GET /v1/items?page=2: {"error":"down"}"#
        ),
        "{}",
        r.stderr
    );
    assert_eq!(ids(&p, "out/items.jsonl"), vec![1, 2]);
    assert_eq!(api.requests().len(), 5);
}

#[test]
fn poll_with_a_watermark_delivers_each_element_once_across_intervals_and_a_restart() {
    // unsorted, with a bad element (name is not a string)
    let list = Arc::new(Mutex::new(vec![
        json!({"id": 3, "name": "c"}),
        json!({"id": 1, "name": "a"}),
        json!({"id": 2, "name": 42}),
    ]));
    let served = list.clone();
    let api = Api::start(move |_, _| ok(Json::Array(served.lock().expect("list").clone())));
    let p = poll_project(&api, r#""/items", every: 50ms, watermark: "id""#, true);
    let dead = |p: &Project| {
        if p.path("out/dead.jsonl").exists() {
            p.jsonl("out/dead.jsonl").len()
        } else {
            0
        }
    };
    let mut running = p.spawn(&[]);
    assert!(
        wait_until(Duration::from_secs(30), || ids(&p, "out/items.jsonl").len()
            == 2
            && dead(&p) == 1),
        "the first response arrives: {:?}\n{}",
        ids(&p, "out/items.jsonl"),
        running.stderr()
    );
    // many intervals later: nothing delivered or dead-lettered twice
    let polled = api.requests().len();
    assert!(wait_until(Duration::from_secs(30), || api.requests().len()
        >= polled + 5));
    assert_eq!(ids(&p, "out/items.jsonl"), vec![1, 3]);
    assert_eq!(dead(&p), 1);
    list.lock()
        .expect("list")
        .push(json!({"id": 4, "name": "d"}));
    assert!(
        wait_until(Duration::from_secs(30), || ids(&p, "out/items.jsonl").len()
            == 3),
        "the new element arrives: {:?}",
        ids(&p, "out/items.jsonl")
    );
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // added while stopped: read after the restart, nothing before it again
    list.lock()
        .expect("list")
        .push(json!({"id": 5, "name": "e"}));
    let mut running = p.spawn(&[]);
    assert!(
        wait_until(Duration::from_secs(30), || ids(&p, "out/items.jsonl").len()
            >= 4),
        "the element added while stopped arrives: {:?}\n{}",
        ids(&p, "out/items.jsonl"),
        running.stderr()
    );
    let polled = api.requests().len();
    assert!(wait_until(Duration::from_secs(30), || api.requests().len()
        >= polled + 5));
    running.terminate(Duration::from_secs(20));
    assert_eq!(ids(&p, "out/items.jsonl"), vec![1, 3, 4, 5]);
    assert_eq!(dead(&p), 1, "the bad element is dead-lettered once");
}

#[test]
fn a_poll_watermark_naming_no_field_of_the_type_stops_the_run_at_start_up() {
    let api = Api::start(|_, _| ok(page_items(1)));
    let p = poll_project(&api, r#""/items", every: 50ms, watermark: "idd""#, false);
    let r = p.run(&[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "main.aq:8: flow `watch`: `api.poll`: `watermark`: `Item` has no field `idd`"
        ),
        "{}",
        r.stderr
    );
    assert!(api.requests().is_empty());
}

#[test]
fn poll_sends_the_saved_watermark_as_a_query_parameter_also_after_a_restart() {
    // an API that can filter: only elements after `since`
    let list = Arc::new(Mutex::new(vec![
        json!({"id": 1, "name": "a"}),
        json!({"id": 2, "name": "b"}),
    ]));
    let served = list.clone();
    let api = Api::start(move |_, query| {
        let since: i64 = param(query, "since")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let items = served.lock().expect("list").clone();
        ok(Json::Array(
            items
                .into_iter()
                .filter(|i| i["id"].as_i64().unwrap_or(0) > since)
                .collect(),
        ))
    });
    let p = poll_project(
        &api,
        r#""/items?limit=10", every: 50ms, watermark: "id", watermark_param: "since""#,
        true,
    );
    let mut running = p.spawn(&[]);
    assert!(
        wait_until(Duration::from_secs(30), || api
            .requests()
            .contains(&"/items?limit=10&since=2".to_string())),
        "the watermark is sent: {:?}\n{}",
        api.requests(),
        running.stderr()
    );
    assert_eq!(api.requests()[0], "/items?limit=10");
    running.terminate(Duration::from_secs(20));
    list.lock()
        .expect("list")
        .push(json!({"id": 3, "name": "c"}));
    let before = api.requests().len();
    let mut running = p.spawn(&[]);
    assert!(
        wait_until(Duration::from_secs(30), || ids(&p, "out/items.jsonl").len()
            >= 3),
        "the new element arrives: {:?}\n{}",
        ids(&p, "out/items.jsonl"),
        running.stderr()
    );
    running.terminate(Duration::from_secs(20));
    assert_eq!(
        api.requests()[before],
        "/items?limit=10&since=2",
        "the first request after the restart carries the saved watermark"
    );
    assert_eq!(ids(&p, "out/items.jsonl"), vec![1, 2, 3]);
}
