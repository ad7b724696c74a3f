//! The inbound `endpoint` through `aqueduct run`: auth (api key, bearer),
//! GET query parameters converted to the record's types (decimals exact),
//! path segments written `:name` as documented, and secrets kept out of the
//! logs.

mod support;

use std::time::Duration;
use support::{Project, http, try_http};

/// POSTs `body` to `path` on `port` with the one `header`, expecting an
/// answer.
fn post_with(port: u16, path: &str, body: &str, header: (&str, &str)) -> support::Response {
    try_http(port, "POST", path, body, &[header]).expect("an answer")
}

#[test]
fn api_key_and_bearer_auth_refuse_requests_without_the_credential() {
    let port = support::free_port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system keyed: endpoint {{
  listen = "127.0.0.1:{port}"
  auth = api_key {{ header = "X-Api-Key", value = secret("TEST_API_KEY") }}
}}
system bearer_api: endpoint {{
  listen = "127.0.0.1:{port}"
  auth = bearer {{ token = secret("TEST_BEARER") }}
}}
type Ping {{ n: int }}

flow keyed_ping {{
  mode sync
  from keyed.post("/keyed") as Ping
  reply {{ n = .n + 1 }}
}}

flow bearer_ping {{
  mode sync
  from bearer_api.post("/bearer") as Ping
  reply {{ n = .n + 2 }}
}}
"#
        ),
    );
    let key = "k-5f1c2b9e7d";
    let token = "t-0a9b8c7d6e";
    let mut running = p.spawn_with_env(
        &["--log-format", "json"],
        &[
            ("TEST_API_KEY", key),
            ("TEST_BEARER", token),
            ("RUST_LOG", "debug"),
        ],
    );
    running.wait_listening(port);
    // 401 comes before the flow is asked, so wait for the flows with good credentials
    let serving = |path: &str, header: (&str, &str)| {
        support::wait_until(Duration::from_secs(20), || {
            try_http(port, "POST", path, "{", &[header]).is_ok_and(|r| r.status == 400)
        })
    };
    assert!(
        serving("/keyed", ("X-Api-Key", key)),
        "{}",
        running.stderr()
    );
    let bearer = format!("Bearer {token}");
    assert!(
        serving("/bearer", ("Authorization", &bearer)),
        "{}",
        running.stderr()
    );

    let r = http(port, "POST", "/keyed", r#"{"n":1}"#);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.json()["error"].is_string());
    let r = post_with(port, "/keyed", r#"{"n":1}"#, ("X-Api-Key", "wrong"));
    assert_eq!(r.status, 401, "{}", r.body);
    let r = post_with(port, "/keyed", r#"{"n":1}"#, ("X-Api-Key", key));
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"n":2}"#));

    let r = post_with(
        port,
        "/bearer",
        r#"{"n":1}"#,
        ("Authorization", "Bearer nope"),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    let r = post_with(port, "/bearer", r#"{"n":1}"#, ("Authorization", &bearer));
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"n":3}"#));

    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stderr.contains(key) && !out.stderr.contains(token),
        "a secret appears in the logs:\n{}",
        out.stderr
    );
}

#[test]
fn get_query_parameters_become_typed_fields() {
    let port = support::free_port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system api: endpoint {{ listen = "127.0.0.1:{port}" }}
type Query {{ sku: string, qty: int, price: decimal }}

flow price {{
  mode sync
  from api.get("/price") as Query
  reply {{ sku = upper(.sku), total = .price * .qty }}
}}
"#
        ),
    );
    let mut running = p.spawn(&[]);
    running.wait_answering_get(port, "/price?sku=mug&qty=3&price=2.50");
    let r = http(port, "GET", "/price?sku=mug&qty=3&price=2.50", "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), serde_json::json!({"sku": "MUG", "total": 7.5}));
    let r = http(port, "GET", "/price?sku=mug&qty=three&price=2.50", "");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("qty")),
        "{}",
        r.body
    );
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn decimal_query_parameters_stay_exact() {
    let port = support::free_port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system api: endpoint {{ listen = "127.0.0.1:{port}" }}
type Query {{ price: decimal }}

flow echo {{
  mode sync
  from api.get("/echo") as Query
  reply {{ text = to_string(.price) }}
}}
"#
        ),
    );
    let mut running = p.spawn(&[]);
    let path = "/echo?price=12345678901234567.89";
    running.wait_answering_get(port, path);
    let r = http(port, "GET", path, "");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, r#"{"text":"12345678901234567.89"}"#)
    );
}

#[test]
fn path_segments_written_with_a_colon_become_fields() {
    // connectors.md, endpoint: `"/orders/:id"` (:id becomes a field,
    // converted to its type).
    let port = support::free_port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system api: endpoint {{ listen = "127.0.0.1:{port}" }}
type Lookup {{ id: string, line: int }}

flow order {{
  mode sync
  from api.get("/orders/:id/lines/:line") as Lookup
  reply {{ id = .id, next = .line + 1 }}
}}
"#
        ),
    );
    let mut running = p.spawn(&[]);
    running.wait_listening(port);
    let path = "/orders/A%2D1/lines/7";
    let answered = support::wait_until(Duration::from_secs(10), || {
        try_http(port, "GET", path, "", &[]).is_ok_and(|r| r.status == 200)
    });
    let r = http(port, "GET", path, "");
    assert!(answered, "GET {path} answered {} {}", r.status, r.body);
    assert_eq!(r.body, r#"{"id":"A-1","next":8}"#);
    // a segment that does not fit the field's type is refused
    let r = http(port, "GET", "/orders/A-1/lines/seven", "");
    assert_eq!(r.status, 422, "{}", r.body);
}

#[test]
fn a_port_already_taken_stops_the_run_before_any_flow_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds a port");
    let port = taken.local_addr().expect("an address").port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system api: endpoint {{ listen = "127.0.0.1:{port}" }}
type Ping {{ n: int }}

flow ping {{
  mode sync
  from api.post("/ping") as Ping
  reply {{ n = .n + 1 }}
}}
"#
        ),
    );
    let out = p.run(&[]);
    // 3: the project could not start (exit codes: docs/cli.md)
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("the project cannot start")
            && out.stderr.contains("flow `ping`")
            && out
                .stderr
                .contains(&format!("endpoint 127.0.0.1:{port}: cannot listen")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Flow started"), "{}", out.stderr);
}
