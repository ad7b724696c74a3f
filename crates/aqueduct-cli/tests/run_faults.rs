//! Faults of an outbound HTTP target through `aqueduct run`: transient
//! failures (connection refused, a call that times out) are retried and the
//! record is delivered once; a target that keeps failing (500 every time, or
//! a permanent 400) sends records to the dead letter and the flow keeps
//! going: later records are delivered when it recovers, and other targets
//! still receive them.

mod support;

use serde_json::json;
use std::time::Duration;
use support::{Project, Rule, TestServer, http, wait_until};

/// A batch flow posting each record of `in/rows.jsonl` to `url`, with `policies`.
fn post_project(url: &str, rows: &str, policies: &str) -> Project {
    let p = Project::new();
    p.file("in/rows.jsonl", rows).file(
        "main.aq",
        format!(
            r#"
system sink: http {{ base_url = "{url}" }}
type Row {{ id: string }}

flow send {{
  mode batch
  from file("in").read("rows.jsonl") as Row
  to file("out").append("all.jsonl")
  to sink.post("/orders")
  dead_letter file("out").append("dead.jsonl")
  {policies}
}}
"#
        ),
    );
    p
}

fn ids(hits: &[support::Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| h.json()["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_target_that_refuses_connections_is_retried_until_it_comes_up() {
    let port = support::free_port();
    let p = post_project(
        &format!("http://127.0.0.1:{port}"),
        "{\"id\":\"A\"}\n",
        "retry 8 backoff fixed(300ms)",
    );
    let mut running = p.spawn_with_env(&[], &[("RUST_LOG", "info,aqueduct_runtime=debug")]);
    // the first attempts find nothing listening
    assert!(
        wait_until(Duration::from_secs(10), || running
            .stderr()
            .contains("Retrying after a failure")),
        "no retry; stderr:\n{}",
        running.stderr()
    );
    let server = TestServer::start_on(port, vec![Rule::new("/orders")]);
    let status = running.wait_exit(support::RUN_LIMIT).expect("the run ends");
    assert_eq!(status.code(), Some(0), "{}", running.stderr());
    assert_eq!(ids(&server.hits("/orders")), vec!["A"], "delivered once");
    assert_eq!(
        support::summary_line(&running.stderr(), "send"),
        "send: 1 in, 2 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(p.read("out/dead.jsonl"), "");
}

#[test]
fn a_call_that_times_out_is_retried_and_succeeds() {
    let server = TestServer::start(vec![
        Rule::new("/orders").slow_first(1, Duration::from_secs(3)),
    ]);
    let p = post_project(
        &server.url(),
        "{\"id\":\"A\"}\n{\"id\":\"B\"}\n",
        "timeout 300ms\n  retry 2 backoff fixed(50ms)",
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        ids(&server.hits("/orders")),
        vec!["A", "A", "B"],
        "A timed out once, then went through"
    );
    assert_eq!(
        r.summary("send"),
        "send: 2 in, 4 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(p.read("out/dead.jsonl"), "");
}

#[test]
fn a_permanent_400_goes_to_the_dead_letter_without_retries_and_the_flow_keeps_going() {
    let server = TestServer::start(vec![
        Rule::new("/orders")
            .status(400)
            .fail_when(|h| h.body.contains("\"B\"")),
    ]);
    let p = post_project(
        &server.url(),
        "{\"id\":\"A\"}\n{\"id\":\"B\"}\n{\"id\":\"C\"}\n",
        "retry 3 backoff fixed(50ms)",
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        ids(&server.hits("/orders")),
        vec!["A", "B", "C"],
        "B tried once"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["record"], json!({"id": "B"}));
    assert_eq!(dead[0]["attempts"], json!(1));
    let error = dead[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("400"), "{error}");
    assert_eq!(
        r.summary("send"),
        "send: 3 in, 5 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
}

#[test]
fn when_one_target_keeps_failing_the_other_targets_still_receive_every_record() {
    let server = TestServer::start(vec![
        Rule::new("/orders")
            .status(500)
            .fail_when(|h| h.body.contains("\"B\"")),
    ]);
    let p = post_project(
        &server.url(),
        "{\"id\":\"A\"}\n{\"id\":\"B\"}\n{\"id\":\"C\"}\n",
        "retry 1 backoff fixed(50ms)",
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/all.jsonl"),
        "{\"id\":\"A\"}\n{\"id\":\"B\"}\n{\"id\":\"C\"}\n"
    );
    assert_eq!(ids(&server.hits("/orders")), vec!["A", "B", "B", "C"]);
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["record"], json!({"id": "B"}));
    assert_eq!(dead[0]["attempts"], json!(2));
    assert!(
        dead[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("500") && e.contains("sink.post")),
        "{}",
        dead[0]
    );
}

#[test]
fn a_target_failing_every_time_dead_letters_until_it_recovers_then_delivers() {
    let server = TestServer::start(vec![Rule::new("/orders").always_fail().status(500)]);
    let port = support::free_port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system sink: http {{ base_url = "{url}" }}
system api: endpoint {{ listen = "127.0.0.1:{port}" }}
type Order {{ id: string }}

flow forward {{
  mode async
  from api.post("/orders") as Order
  to sink.post("/orders")
  dead_letter file("out").append("dead.jsonl")
  retry 1 backoff fixed(50ms)
}}
"#,
            url = server.url()
        ),
    );
    let mut running = p.spawn(&[]);
    running.wait_serving(port, "/orders");
    for id in ["e1", "e2"] {
        let r = http(port, "POST", "/orders", &format!("{{\"id\":\"{id}\"}}"));
        assert_eq!(
            r.status,
            202,
            "the dead letter took {id}: {}\nstderr:\n{}",
            r.body,
            running.stderr()
        );
    }
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(
        dead.iter()
            .map(|d| d["record"]["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!("e1"), json!("e2")]
    );
    assert!(dead.iter().all(|d| d["attempts"] == json!(2)), "{dead:?}");
    assert!(
        dead.iter().all(|d| d["flow"] == json!("forward")),
        "{dead:?}"
    );
    server.set_rules(vec![Rule::new("/orders")]);
    let r = http(port, "POST", "/orders", "{\"id\":\"e3\"}");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        ids(&server.hits("/orders")),
        vec!["e1", "e1", "e2", "e2", "e3"]
    );
    assert_eq!(p.jsonl("out/dead.jsonl").len(), 2);
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.summary("forward"),
        "forward: 3 in, 1 delivered, 0 filtered, 2 failed, 2 dead-lettered"
    );
}

#[test]
fn a_flow_that_failed_while_the_others_serve_makes_the_process_unhealthy() {
    // a permanent 400 and no dead letter: the record can go nowhere, so
    // the flow fails; the other flow keeps the process serving
    let server = TestServer::start(vec![Rule::new("/orders").always_fail().status(400)]);
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
type Ping {{ n: int }}

flow orders {{
  mode async
  from api.post("/orders") as Order
  to sink.post("/orders")
}}

flow ping {{
  mode sync
  from api.post("/ping") as Ping
  reply {{ n = .n + 1 }}
}}
"#,
            url = server.url()
        ),
    );
    let mut running = p.spawn(&["--admin", &format!("127.0.0.1:{admin}")]);
    running.wait_serving(port, "/orders");
    running.wait_serving(port, "/ping");
    let health = |path: &str| support::try_http(admin, "GET", path, "", &[]).ok();
    assert!(
        wait_until(Duration::from_secs(10), || health("/readyz")
            .is_some_and(|r| r.status == 200)),
        "{}",
        running.stderr()
    );
    assert_eq!(health("/healthz").map(|r| r.status), Some(200));
    let r = http(port, "POST", "/orders", r#"{"id":"o1"}"#);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        wait_until(Duration::from_secs(10), || running
            .stderr()
            .contains("Flow failed.")),
        "{}",
        running.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(10), || health("/healthz")
            .is_some_and(|r| r.status != 200)),
        "{}",
        running.stderr()
    );
    let healthz = health("/healthz").expect("the admin port answers");
    assert_eq!(
        (healthz.status, healthz.body.as_str()),
        (503, "failed: flow `orders`\n")
    );
    assert_eq!(health("/readyz").map(|r| r.status), Some(503));
    // the failed flow's route says so (not 404); the other flow still answers
    let r = http(port, "POST", "/orders", r#"{"id":"o2"}"#);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (503, json!("the flow is not running"))
    );
    let r = http(port, "POST", "/ping", r#"{"n":1}"#);
    assert_eq!((r.status, r.json()["n"].clone()), (200, json!(2)));
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 1, "a failed flow fails the run: {}", out.stderr);
}
