//! The timing modes through `aqueduct run`: a batch run once (ends, exit 0),
//! a batch on `every 1s` (runs again until SIGTERM), an async endpoint (202,
//! then the record is in the target), a sync endpoint (the reply body; 422
//! when `where` drops the request; 504 with a JSON error when `timeout`
//! passes).

mod support;

use std::time::{Duration, Instant};
use support::{Project, Rule, TestServer, http, wait_until};

#[test]
fn batch_without_schedule_runs_once_and_exits_0() {
    let p = Project::new();
    p.file("in/rows.csv", "id,name\n1,a\n2,b\n3,c\n").file(
        "main.aq",
        r#"
type Row { id: int, name: string }

flow copy {
  mode batch
  from file("in").read("rows.csv", format: csv) as Row
  to file("out").append("rows.jsonl")
}
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("copy"),
        "copy: 3 in, 3 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        p.read("out/rows.jsonl"),
        "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n{\"id\":3,\"name\":\"c\"}\n"
    );
    assert!(
        p.path(".aqueduct/state.db").exists(),
        "the default state store"
    );
}

#[test]
fn batch_every_runs_on_time_until_sigterm() {
    let p = Project::new();
    p.file("in/a.jsonl", "{\"n\":1}\n{\"n\":2}\n").file(
        "main.aq",
        r#"
type Row { n: int }

flow ticks {
  mode batch every 1s
  from file("in").read("*.jsonl") as Row
  to file("out").append("rows.jsonl")
}
"#,
    );
    let mut running = p.spawn(&[]);
    let runs = |r: &support::Running| r.stderr().matches("Scheduled run finished.").count();
    assert!(
        wait_until(Duration::from_secs(10), || runs(&running) >= 1),
        "no first run; stderr:\n{}",
        running.stderr()
    );
    assert_eq!(p.read("out/rows.jsonl"), "{\"n\":1}\n{\"n\":2}\n");
    // a file added between runs is read by the next run; a.jsonl is not read again
    std::fs::write(p.path("in/b.tmp"), "{\"n\":3}\n").expect("writes");
    std::fs::rename(p.path("in/b.tmp"), p.path("in/b.jsonl")).expect("renames");
    let first_done = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), || runs(&running) >= 2
            && p.read("out/rows.jsonl").lines().count() >= 3),
        "no second run; stderr:\n{}",
        running.stderr()
    );
    assert!(running.is_running(), "a scheduled flow keeps running");
    assert!(
        first_done.elapsed() < Duration::from_secs(5),
        "`every 1s` ran again after {:?}",
        first_done.elapsed()
    );
    let r = running.terminate(Duration::from_secs(15));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/rows.jsonl"),
        "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n"
    );
    assert!(
        r.summary("ticks").starts_with("ticks: 3 in, 3 delivered"),
        "{}",
        r.summary("ticks")
    );
}

const ENDPOINTS: &str = r#"
system out: file { root = "out" }

type QuoteRequest { sku: string, quantity: int }
type Quote { sku: string, quantity: int, unit_price: decimal, total: decimal }
type Event { kind: string, page: string, user: string? }
type Tracked { kind: string, page: string, user: string }
type Rate { rate: decimal }

flow quote {
  mode sync
  from api.post("/quote") as QuoteRequest
  where .quantity > 0
  let unit_price = if .quantity >= 100 { 8.50 } else { 10.00 }
  reply Quote { ..., unit_price = $unit_price, total = $unit_price * .quantity }
  timeout 2s
}

flow slow_quote {
  mode sync
  from api.post("/slow") as QuoteRequest
  enrich rate = slow.get("/slow/{.sku}") as Rate
  reply { sku = .sku, rate = $rate.rate }
  timeout 500ms
}

flow track {
  mode async
  from api.post("/events") as Event
  map Tracked { ..., kind = lower(.kind), user = .user ?? "anonymous" }
  to out.append("events.jsonl")
  dead_letter out.append("dead.jsonl")
}
"#;

fn endpoint_project(port: u16, slow_url: &str) -> Project {
    let p = Project::new();
    p.file("flows.aq", ENDPOINTS).file(
        "systems.aq",
        format!(
            "system api: endpoint {{ listen = \"127.0.0.1:{port}\" }}\nsystem slow: http {{ base_url = \"{slow_url}\" }}\n"
        ),
    );
    p
}

#[test]
fn sync_endpoint_answers_with_the_reply_and_422_when_where_drops() {
    let server = TestServer::start(vec![Rule::new("/slow/")]);
    let port = support::free_port();
    let p = endpoint_project(port, &server.url());
    let mut running = p.spawn(&[]);
    running.wait_serving(port, "/quote");
    let r = http(port, "POST", "/quote", r#"{"sku":"MUG-1","quantity":120}"#);
    assert_eq!(r.status, 200, "{}\nstderr:\n{}", r.body, running.stderr());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.body,
        r#"{"sku":"MUG-1","quantity":120,"unit_price":8.50,"total":1020.00}"#
    );
    let r = http(port, "POST", "/quote", r#"{"sku":"MUG-1","quantity":3}"#);
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            r#"{"sku":"MUG-1","quantity":3,"unit_price":10.00,"total":30.00}"#
        )
    );
    let r = http(port, "POST", "/quote", r#"{"sku":"MUG-1","quantity":0}"#);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("where")),
        "{}",
        r.body
    );
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn sync_endpoint_answers_504_with_a_json_error_when_the_timeout_passes() {
    let server = TestServer::start(vec![
        Rule::new("/slow/")
            .delay(Duration::from_secs(3))
            .respond(|_| serde_json::json!({"rate": "2"})),
    ]);
    let port = support::free_port();
    let p = endpoint_project(port, &server.url());
    // debug: a failure under load shows when routes opened and closed
    let log = (
        "RUST_LOG",
        "info,aqueduct_connectors=debug,aqueduct_runtime=debug",
    );
    let mut running = p.spawn_with_env(&[], &[log]);
    running.wait_serving(port, "/slow");
    running.wait_serving(port, "/quote");
    let started = Instant::now();
    let r = http(port, "POST", "/slow", r#"{"sku":"MUG-1","quantity":1}"#);
    let took = started.elapsed();
    assert_eq!(r.status, 504, "{}\nstderr:\n{}", r.body, running.stderr());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let error = r.json()["error"].as_str().map(str::to_string);
    assert!(
        error.as_deref().is_some_and(|e| e.contains("500ms")),
        "a JSON error naming the timeout: {}",
        r.body
    );
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(2500),
        "answered after {took:?}"
    );
    assert_eq!(server.hits("/slow/").len(), 1);
    assert_eq!(server.hits("/slow/")[0].path, "/slow/MUG-1");
    // the server still answers the other flows
    let r = http(port, "POST", "/quote", r#"{"sku":"A","quantity":1}"#);
    assert_eq!(r.status, 200, "{}\nstderr:\n{}", r.body, running.stderr());
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn async_endpoint_answers_202_and_the_record_is_in_the_target() {
    let port = support::free_port();
    let p = endpoint_project(port, "http://127.0.0.1:9");
    let mut running = p.spawn(&["--flow", "track"]);
    running.wait_serving(port, "/events");
    let r = http(
        port,
        "POST",
        "/events",
        r#"{"kind":"VIEW","page":"/pricing"}"#,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    // the 202 comes once the record is delivered: it is in the file now
    assert_eq!(
        p.read("out/events.jsonl"),
        "{\"kind\":\"view\",\"page\":\"/pricing\",\"user\":\"anonymous\"}\n"
    );
    let r = http(
        port,
        "POST",
        "/events",
        r#"{"kind":"Click","page":"/signup","user":"u-42"}"#,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        p.read("out/events.jsonl"),
        "{\"kind\":\"view\",\"page\":\"/pricing\",\"user\":\"anonymous\"}\n{\"kind\":\"click\",\"page\":\"/signup\",\"user\":\"u-42\"}\n"
    );
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.summary("track"),
        "track: 2 in, 2 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
}

/// `-q` leaves only warnings and errors on stderr: no INFO log lines and no
/// summary, even with `RUST_LOG=info` in the environment (the support sets it).
#[test]
fn quiet_run_prints_only_warnings_and_errors() {
    let p = Project::new();
    p.file("in/rows.csv", "id,name\n1,a\n2,b\n").file(
        "main.aq",
        r#"
type Row { id: int, name: string }

flow copy {
  mode batch
  from file("in").read("rows.csv", format: csv) as Row
  to file("out").append("rows.jsonl")
}
"#,
    );
    let loud = p.run(&[]);
    assert_eq!(loud.code, 0, "{}", loud.stderr);
    assert!(loud.stderr.contains(" INFO "), "{}", loud.stderr);
    let quiet = p.run(&["-q"]);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(!quiet.stderr.contains(" INFO "), "{}", quiet.stderr);
    assert!(!quiet.stderr.contains("copy: "), "{}", quiet.stderr);
}
