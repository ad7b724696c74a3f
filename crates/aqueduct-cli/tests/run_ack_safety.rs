//! A source is told a record is safe (a 202, a committed position) only
//! once every target committed it or the dead letter took it, through
//! `aqueduct run`: not when the flow stops with the record still waiting in
//! a `batch` group, not when an in-process channel merely queued it for
//! a consumer flow that then fails, and not when a shutdown's drain timeout
//! cuts the flow off with the record still at its target.

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

#[test]
fn a_record_handed_to_a_channel_is_read_again_when_the_consumer_flow_fails() {
    // Scenario: `ingest` reads a file into an in-process channel; `store`
    // reads the channel and posts to a server that is down, and fails (no
    // dead letter). Until this was fixed, a record counted as delivered
    // once queued for `store`, so `ingest` committed the file as read: the
    // next run, with the server up, found nothing to do and the records
    // were lost. Now `ingest`'s records wait for `store` to make them safe.
    let port = support::free_port();
    let p = Project::new();
    p.file("in/a.jsonl", "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
        .file(
            "main.aq",
            format!(
                r#"
system sink: http {{ base_url = "http://127.0.0.1:{port}" }}
type Row {{ n: int }}
channel rows: Row

flow ingest {{
  mode batch
  from file("in").read("*.jsonl") as Row
  to rows
}}

flow store {{
  mode async
  from rows
  to sink.post("/rows")
  retry 2 backoff fixed(100ms)
}}
"#
            ),
        );
    let r = p.run(&[]);
    assert_ne!(r.code, 0, "nothing listens, the run fails: {}", r.stderr);
    let server = TestServer::start_on(port, vec![Rule::new("/rows")]);
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ns: Vec<i64> = server
        .hits("/rows")
        .iter()
        .map(|h| h.json()["n"].as_i64().unwrap_or_default())
        .collect();
    assert_eq!(ns, vec![1, 2, 3], "every record lands on the second run");
}

#[test]
fn a_partial_batch_behind_a_channel_is_sent_when_the_input_pauses() {
    // A producer's records wait for the consumer to make them safe; a
    // consumer's `batch` without `within` that holds the last records of a
    // bounded run must not make the run wait forever: it is sent after a
    // pause of the channel (2 s), and the run ends.
    let p = Project::new();
    p.file("in/a.jsonl", "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
        .file(
            "main.aq",
            r#"
type Row { n: int }
channel rows: Row

flow ingest {
  mode batch
  from file("in").read("*.jsonl") as Row
  to rows
}

flow store {
  mode async
  from rows
  batch 10
  to file("out").append("rows.jsonl")
}
"#,
        );
    let started = std::time::Instant::now();
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/rows.jsonl"),
        "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_record_cut_off_by_the_drain_timeout_is_not_accepted() {
    // Scenario: SIGTERM while a record waits at a target slower than the
    // drain timeout (10 s). The flow is stopped with the record still at
    // the target; it never landed, so its caller gets 503 (try again),
    // never 202.
    let server = TestServer::start(vec![Rule::new("/slow").delay(Duration::from_secs(25))]);
    let port = support::free_port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system api: endpoint {{ listen = "127.0.0.1:{port}" }}
system slow: http {{ base_url = "{url}" }}
type Event {{ n: int }}

flow collect {{
  mode async
  from api.post("/events") as Event
  to slow.post("/slow")
}}
"#,
            url = server.url()
        ),
    );
    let mut running = p.spawn(&[]);
    running.wait_serving(port, "/events");
    let caller =
        std::thread::spawn(move || support::try_http(port, "POST", "/events", r#"{"n":1}"#, &[]));
    assert!(
        support::wait_until(Duration::from_secs(10), || !server.hits("/slow").is_empty()),
        "the record reached the slow target; stderr:\n{}",
        running.stderr()
    );
    let out = running.terminate(Duration::from_secs(30));
    let response = caller
        .join()
        .expect("the caller")
        .expect("the endpoint answers before it closes");
    assert_eq!(
        response.status, 503,
        "a record cut off by the drain timeout is not accepted: {}\nstderr:\n{}",
        response.body, out.stderr
    );
    assert!(
        out.stderr
            .contains("stopped before in-flight records drained"),
        "the run says the flow was cut off: {}",
        out.stderr
    );
}
