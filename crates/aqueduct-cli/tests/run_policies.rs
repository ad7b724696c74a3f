//! Policies through `aqueduct run` against a loopback HTTP server: `retry`
//! with backoff (and `Retry-After`), retries exhausted → dead letter,
//! `rate_limit`, `concurrency`, `circuit_breaker` (with `/metrics`,
//! `/healthz` and `/readyz` on `--admin`).

mod support;

use serde_json::json;
use std::time::{Duration, Instant};
use support::{Project, Rule, TestServer, http, metric, wait_until};

/// A batch flow posting each record of `in/rows.jsonl` to the server, with `policies`.
fn post_project(server: &TestServer, rows: &str, policies: &str) -> Project {
    let p = Project::new();
    p.file("in/rows.jsonl", rows).file(
        "main.aq",
        format!(
            r#"
system sink: http {{ base_url = "{url}" }}
type Row {{ id: string, n: int }}

flow send {{
  mode batch
  from file("in").read("rows.jsonl") as Row
  to sink.post("/orders")
  {policies}
}}
"#,
            url = server.url()
        ),
    );
    p
}

fn gaps(hits: &[support::Hit]) -> Vec<Duration> {
    hits.windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .collect()
}

#[test]
fn retry_with_exponential_backoff_then_success_delivers_once() {
    let server = TestServer::start(vec![Rule::new("/orders").fail_first(2).status(503)]);
    let p = post_project(
        &server,
        "{\"id\":\"A\",\"n\":1}\n",
        "retry 3 backoff exponential(200ms, 5s)\n  dead_letter file(\"out\").append(\"dead.jsonl\")",
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("send"),
        "send: 1 in, 1 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    let hits = server.hits("/orders");
    assert_eq!(hits.len(), 3, "two failures, then the success");
    assert!(hits.iter().all(|h| h.json() == json!({"id": "A", "n": 1})));
    // exponential(200ms, …) with ±20 % jitter: about 200 ms, then about 400 ms
    let g = gaps(&hits);
    assert!(g[0] >= Duration::from_millis(150), "first wait {:?}", g[0]);
    assert!(g[1] >= Duration::from_millis(300), "second wait {:?}", g[1]);
    assert_eq!(p.read("out/dead.jsonl"), "");
}

#[test]
fn retry_honours_retry_after() {
    let server = TestServer::start(vec![
        Rule::new("/orders")
            .fail_first(1)
            .status(503)
            .retry_after(1),
    ]);
    let p = post_project(
        &server,
        "{\"id\":\"A\",\"n\":1}\n",
        "retry 2 backoff fixed(50ms)",
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let hits = server.hits("/orders");
    assert_eq!(hits.len(), 2);
    let g = gaps(&hits);
    assert!(
        g[0] >= Duration::from_millis(900),
        "waited {:?}, not the 1 s of Retry-After",
        g[0]
    );
}

#[test]
fn retries_exhausted_go_to_the_dead_letter_and_the_flow_keeps_going() {
    let server = TestServer::start(vec![
        Rule::new("/orders")
            .status(503)
            .fail_when(|hit| hit.body.contains("\"B\"")),
    ]);
    let p = post_project(
        &server,
        "{\"id\":\"A\",\"n\":1}\n{\"id\":\"B\",\"n\":2}\n{\"id\":\"C\",\"n\":3}\n",
        "retry 2 backoff fixed(50ms)\n  dead_letter file(\"out\").append(\"dead.jsonl\")",
    );
    let started = chrono_like_now();
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("send"),
        "send: 3 in, 2 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    let ids: Vec<String> = server
        .hits("/orders")
        .iter()
        .map(|h| h.json()["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        ids,
        vec!["A", "B", "B", "B", "C"],
        "B tried 3 times, then C"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:?}");
    let d = &dead[0];
    assert_eq!(d["record"], json!({"id": "B", "n": 2}));
    assert_eq!(d["flow"], json!("send"));
    assert_eq!(d["attempts"], json!(3));
    assert!(
        d["step"].as_str().is_some_and(|s| !s.is_empty()),
        "the step: {d}"
    );
    let error = d["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("503") && error.contains("/orders"),
        "the error names the status and the call: {error}"
    );
    let at = d["at"].as_str().unwrap_or_default();
    assert!(
        at.len() >= 20 && at.ends_with('Z') && at[..10] >= started[..10],
        "an RFC 3339 UTC timestamp: {at}"
    );
}

/// Today's date as `YYYY-MM-DD` (UTC), from `date`, so no extra dependency.
fn chrono_like_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .expect("runs date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn rate_limit_makes_the_run_take_at_least_the_expected_time() {
    let server = TestServer::start(vec![Rule::new("/orders")]);
    let rows: String = (1..=12)
        .map(|i| format!("{{\"id\":\"r{i}\",\"n\":{i}}}\n"))
        .collect();
    let p = post_project(&server, &rows, "rate_limit 5 per 1s");
    let started = Instant::now();
    let r = p.run(&[]);
    let took = started.elapsed();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(server.hits("/orders").len(), 12);
    // a full bucket of 5, then 7 more at 200 ms each: about 1.4 s
    assert!(
        took >= Duration::from_millis(1200),
        "12 records at 5 per second took {took:?}"
    );
}

#[test]
fn rate_limit_spaces_the_requests_a_target_receives() {
    let server = TestServer::start(vec![Rule::new("/orders")]);
    let rows: String = (1..=12)
        .map(|i| format!("{{\"id\":\"r{i}\",\"n\":{i}}}\n"))
        .collect();
    let p = post_project(&server, &rows, "rate_limit 5 per 1s");
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let hits = server.hits("/orders");
    assert_eq!(hits.len(), 12);
    // a full bucket of 5, then 7 more at 200 ms each: about 1.4 s
    let span = hits[11].at.duration_since(hits[0].at);
    assert!(
        span >= Duration::from_millis(1200),
        "12 records at 5 per second took {span:?}"
    );
}

/// A batch flow enriching each record with a slow lookup, with `policies`.
fn slow_lookup_project(server: &TestServer, n: usize, policies: &str) -> Project {
    let p = Project::new();
    let rows: String = (1..=n)
        .map(|i| format!("{{\"id\":\"r{i}\",\"n\":{i}}}\n"))
        .collect();
    p.file("in/rows.jsonl", rows).file(
        "main.aq",
        format!(
            r#"
system slow: http {{ base_url = "{url}" }}
type Row {{ id: string, n: int }}
type Answer {{ ok: bool }}

flow look {{
  mode batch
  from file("in").read("rows.jsonl") as Row
  enrich answer = slow.get("/lookup/{{.id}}") as Answer
  to file("out").append("rows.jsonl")
  {policies}
}}
"#,
            url = server.url()
        ),
    );
    p
}

#[test]
fn concurrency_processes_several_records_at_once() {
    let server = TestServer::start(vec![
        Rule::new("/lookup/").delay(Duration::from_millis(300)),
    ]);
    let p = slow_lookup_project(&server, 8, "concurrency 4");
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(server.hits("/lookup/").len(), 8);
    let most = server.max_in_flight();
    assert!(
        (2..=4).contains(&most),
        "`concurrency 4`: the server saw {most} lookups at once"
    );
    let mut ns: Vec<i64> = p
        .jsonl("out/rows.jsonl")
        .iter()
        .map(|v| v["n"].as_i64().expect("n"))
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, (1..=8).collect::<Vec<i64>>());
}

#[test]
fn default_concurrency_is_one_and_keeps_the_order() {
    let server = TestServer::start(vec![Rule::new("/lookup/").delay(Duration::from_millis(50))]);
    let p = slow_lookup_project(&server, 5, "");
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(server.max_in_flight(), 1);
    let ns: Vec<i64> = p
        .jsonl("out/rows.jsonl")
        .iter()
        .map(|v| v["n"].as_i64().expect("n"))
        .collect();
    assert_eq!(ns, vec![1, 2, 3, 4, 5]);
}

#[test]
fn circuit_breaker_opens_after_n_failures_shows_in_metrics_and_closes_again() {
    let server = TestServer::start(vec![Rule::new("/orders").always_fail().status(500)]);
    let port = support::free_port();
    let admin = support::free_port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system sink: http {{ base_url = "{url}" }}
system api: endpoint {{ listen = "127.0.0.1:{port}" }}
type Order {{ id: string }}

flow orders {{
  mode async
  from api.post("/orders") as Order
  to sink.post("/orders")
  dead_letter file("out").append("dead.jsonl")
  circuit_breaker {{ failures = 3, reset = 2s }}
}}
"#,
            url = server.url()
        ),
    );
    let mut running = p.spawn(&["--admin", &format!("127.0.0.1:{admin}")]);
    running.wait_serving(port, "/orders");
    assert!(wait_until(Duration::from_secs(10), || support::try_http(
        admin,
        "GET",
        "/readyz",
        "",
        &[]
    )
    .is_ok_and(|r| r.status == 200)));
    assert_eq!(http(admin, "GET", "/healthz", "").status, 200);
    let breaker = "aqueduct_circuit_breaker_state{flow=\"orders\",system=\"sink\"}";
    let state = || metric(&http(admin, "GET", "/metrics", "").body, breaker);
    assert_eq!(state(), Some(0.0), "closed at start");

    let post = |i: u32| {
        let r = http(port, "POST", "/orders", &format!("{{\"id\":\"o{i}\"}}"));
        assert_eq!(r.status, 202, "o{i}: the dead letter took it: {}", r.body);
    };
    for i in 1..=3 {
        post(i);
    }
    // The breaker opened while the third record was handled, so no later
    // than now: `reset` counts from at most here, however busy the machine.
    let opened = Instant::now();
    for i in 4..=6 {
        post(i);
    }
    let fast = opened.elapsed();
    assert_eq!(
        server.hits("/orders").len(),
        3,
        "after 3 failures the breaker stops calling the server"
    );
    assert_eq!(state(), Some(2.0), "open");
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 6, "{dead:?}");
    for d in &dead[3..] {
        let error = d["error"].as_str().unwrap_or_default();
        assert!(error.contains("circuit breaker"), "{error}");
    }
    assert!(
        fast < Duration::from_secs(2),
        "records failed fast: {fast:?}"
    );

    // the server recovers; after `reset` one trial goes through and closes the breaker
    server.set_rules(vec![Rule::new("/orders")]);
    let wait = Duration::from_millis(2100).saturating_sub(opened.elapsed());
    std::thread::sleep(wait);
    let r = http(port, "POST", "/orders", "{\"id\":\"o7\"}");
    assert_eq!(r.status, 202, "{}", r.body);
    let last = server.hits("/orders").pop().expect("a trial call");
    assert_eq!(last.json(), json!({"id": "o7"}));
    assert_eq!(state(), Some(0.0), "closed again");
    assert_eq!(p.jsonl("out/dead.jsonl").len(), 6);

    let metrics = http(admin, "GET", "/metrics", "").body;
    assert!(
        metrics.contains("aqueduct_records_dead_lettered_total{flow=\"orders\""),
        "{metrics}"
    );
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.summary("orders"),
        "orders: 7 in, 1 delivered, 0 filtered, 6 failed, 6 dead-lettered"
    );
}
