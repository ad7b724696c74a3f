//! A source is told a record is safe (a 202, a committed position) only
//! once every target committed it or the dead letter took it, through
//! `aqueduct run`: not when the flow stops with the record still waiting in
//! a `batch` group, and not when an in-process channel merely queued it for
//! a consumer flow that then fails.

mod support;

use std::time::Duration;
use support::{Project, Rule, TestServer, http};

#[test]
fn a_record_in_flight_is_not_accepted_when_another_fails_the_flow() {
    // Scenario: with `concurrency 4`, request A is at a slow target (which
    // will refuse it); meanwhile request B fails the flow (no dead letter).
    // A never landed, so its caller must not get 202. Until this was fixed,
    // the stopping flow dropped A half-way and dropping it acknowledged it:
    // 202 for a record no target took (a file or poll source would have
    // committed its position past it).
    let server = TestServer::start(vec![
        Rule::new("/slow")
            .delay(Duration::from_secs(3))
            .always_fail()
            .status(500),
    ]);
    let port = support::free_port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system api: endpoint {{ listen = "127.0.0.1:{port}" }}
system slow: http {{ base_url = "{url}" }}
system out: file {{ root = "out" }}
type Event {{ n: int }}

flow collect {{
  mode async
  from api.post("/events") as Event
  where 100 / .n > 0
  to slow.post("/slow")
  concurrency 4
}}

flow other {{
  mode async
  from api.post("/other") as Event
  to out.append("other.jsonl")
}}
"#,
            url = server.url()
        ),
    );
    let mut running = p.spawn(&[]);
    running.wait_serving(port, "/events");
    let first = std::thread::spawn(move || http(port, "POST", "/events", r#"{"n":1}"#));
    assert!(
        support::wait_until(Duration::from_secs(10), || !server.hits("/slow").is_empty()),
        "A reached the slow target; stderr:\n{}",
        running.stderr()
    );
    let failing = http(port, "POST", "/events", r#"{"n":0}"#);
    assert_eq!(failing.status, 503, "{}", failing.body);
    let first = first.join().expect("the first request");
    assert_eq!(
        first.status,
        503,
        "the caller of a record no target took is told to try again, never 202: {}\nstderr:\n{}",
        first.body,
        running.stderr()
    );
    let out = running.terminate(Duration::from_secs(20));
    assert!(
        out.stderr.contains("Flow failed"),
        "the run reports the failure: {}",
        out.stderr
    );
}
