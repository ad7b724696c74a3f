//! `soap` and `graphql` end to end through `aqueduct run`, against servers
//! this project did not write: a SOAP 1.1 service served by spyne
//! (`peers/soap_server.py`, envelopes validated against its schema) and a
//! GraphQL API served by graphql-core (`peers/graphql_server.py`). The
//! Python that has both is `AQUEDUCT_TEST_PYTHON` (`.ci/services` installs
//! it; a visible skip when unset, a failure under
//! `AQUEDUCT_REQUIRE_SERVICES=1`).
//!
//! Covered: a SOAP target call (values with markup arrive intact, the
//! SOAPAction header), a SOAP fault dead-lettered with its faultcode and
//! faultstring while the other records go through (also in `batch` groups),
//! a `Server` fault retried, basic auth, a SOAP call in `enrich`
//! typed from the answer element, a value that does not convert; GraphQL
//! mutations with variables from the record (never spliced), `errors`
//! dead-lettered with their messages, a query in `enrich` with `data`
//! typed, a value that does not convert, `operation:` picking one of two
//! operations of a document (`operationName`).

mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use support::Project;

/// A Python peer server, killed on drop.
struct Peer {
    child: Child,
    port: u16,
}

impl Peer {
    /// Starts `peers/SCRIPT ARGS…` with the test Python; `None` (after a
    /// printed skip) when no Python is configured.
    fn start(script: &str, args: &[&str], test: &str) -> Option<Peer> {
        let python = aqueduct_test_support::service_url("AQUEDUCT_TEST_PYTHON", test)?;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/peers")
            .join(script);
        let mut child = Command::new(&python)
            .arg(&path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starts {python} {}: {e}", path.display()));
        let stdout = child.stdout.take().expect("a piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reads the peer's first line");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("{script} did not start: `{line}`")
            });
        Some(Peer { child, port })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SOAP peer with `extra` arguments, logging each order it creates to
/// the returned file; `None` as [`Peer::start`].
fn soap_peer_logging(extra: &[&str], test: &str) -> Option<(Peer, tempfile::NamedTempFile)> {
    let log = tempfile::NamedTempFile::new().expect("a log file");
    let log_path = log.path().to_string_lossy().to_string();
    let args: Vec<&str> = std::iter::once(log_path.as_str())
        .chain(extra.iter().copied())
        .collect();
    let peer = Peer::start("soap_server.py", &args, test)?;
    Some((peer, log))
}

/// The orders the SOAP peer logged as created, in order.
fn created_orders(log: &tempfile::NamedTempFile) -> Vec<Value> {
    std::fs::read_to_string(log.path())
        .expect("the peer's log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The entries of `p`'s out/dead.jsonl, asserting there are `n`.
fn dead_letters(p: &Project, n: usize) -> Vec<Value> {
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), n, "{dead:#?}");
    dead
}

/// Runs `p` with the secret `env` set, asserting the run succeeds.
fn run_ok_with_secret(p: Project, env: (&str, &str)) -> (Project, support::Outcome) {
    let r = p.run_with_env(&[], &[env]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    (p, r)
}

/// The dead-letter entry of the record whose `field` is `value`.
fn dead_for<'a>(dead: &'a [Value], field: &str, value: &str) -> &'a Value {
    dead.iter()
        .find(|d| d["record"][field] == json!(value))
        .unwrap_or_else(|| panic!("no dead-letter entry for {field}={value} in {dead:#?}"))
}

fn error_of(entry: &Value) -> &str {
    entry["error"].as_str().unwrap_or_default()
}

#[test]
fn soap_call_as_a_target_sends_each_record_and_dead_letters_faults() {
    let Some((peer, log)) = soap_peer_logging(&[], "soap target") else {
        return;
    };
    let p = Project::new();
    p.file(
        "in/orders.jsonl",
        concat!(
            r#"{"id":"A-1","qty":2,"note":"<b>bold</b> & \"quoted\" 'too'"}"#,
            "\n",
            r#"{"id":"A-2","qty":-1,"note":null}"#,
            "\n",
            r#"{"id":"A-3","qty":5,"note":null}"#,
            "\n"
        ),
    )
    .file(
        "main.aq",
        format!(
            r#"
system orders: soap {{ url = "{url}", namespace = "urn:aqueduct:test", timeout = 10s }}

type Order {{ id: string, qty: int, note: string? }}

flow send {{
  mode batch
  from file("in").read("orders.jsonl") as Order
  to orders.call("CreateOrder", action: "urn:aqueduct:test/CreateOrder")
  dead_letter file("out").append("dead.jsonl")
}}
"#,
            url = peer.url()
        ),
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("send"),
        "send: 3 in, 2 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    let created = created_orders(&log);
    assert_eq!(
        created,
        vec![
            json!({"id": "A-1", "qty": 2, "note": "<b>bold</b> & \"quoted\" 'too'", "action": "\"urn:aqueduct:test/CreateOrder\""}),
            json!({"id": "A-3", "qty": 5, "note": null, "action": "\"urn:aqueduct:test/CreateOrder\""}),
        ]
    );
    let dead = dead_letters(&p, 1);
    assert_eq!(
        error_of(dead_for(&dead, "id", "A-2")),
        "orders.call: SOAP fault soap11env:Client.Quantity from CreateOrder (HTTP 500): quantity must not be negative"
    );
}

#[test]
fn soap_faults_in_a_batch_group_are_dead_lettered_alone_and_server_faults_retried() {
    let Some((peer, log)) = soap_peer_logging(&[], "soap batch") else {
        return;
    };
    let p = Project::new();
    p.file(
        "in/orders.jsonl",
        // groups of two: [B-1, B-2] (a Client fault), [B-3, B-4], [B-5] (a Server fault)
        "{\"id\":\"B-1\",\"qty\":1}\n{\"id\":\"B-2\",\"qty\":-5}\n{\"id\":\"B-3\",\"qty\":3}\n{\"id\":\"B-4\",\"qty\":4}\n{\"id\":\"B-5\",\"qty\":999}\n",
    )
    .file(
        "main.aq",
        format!(
            r#"
system orders: soap {{ url = "{url}", namespace = "urn:aqueduct:test" }}

type Order {{ id: string, qty: int }}

flow send {{
  mode batch
  from file("in").read("orders.jsonl") as Order
  batch 2
  to orders.call("CreateOrder")
  retry 2 backoff fixed(50ms)
  dead_letter file("out").append("dead.jsonl")
}}
"#,
            url = peer.url()
        ),
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let created: Vec<String> = created_orders(&log)
        .iter()
        .map(|o| o["id"].to_string())
        .collect();
    assert_eq!(
        created,
        vec!["\"B-1\"", "\"B-3\"", "\"B-4\""],
        "{}",
        r.stderr
    );
    let dead = dead_letters(&p, 2);
    let client = dead_for(&dead, "id", "B-2");
    assert_eq!(
        error_of(client),
        "orders.call: SOAP fault soap11env:Client.Quantity from CreateOrder (HTTP 500): quantity must not be negative"
    );
    let server = dead_for(&dead, "id", "B-5");
    assert_eq!(
        error_of(server),
        "orders.call: SOAP fault soap11env:Server.Busy from CreateOrder (HTTP 500): try again later"
    );
    assert_eq!(
        server["attempts"],
        json!(3),
        "a Server fault is tried again"
    );
}

#[test]
fn soap_basic_auth_is_sent_and_a_refused_login_is_dead_lettered() {
    let Some((peer, log)) = soap_peer_logging(&["svc:s3cret"], "soap auth") else {
        return;
    };
    let project = |password: &str| {
        let p = Project::new();
        p.file("in/orders.jsonl", "{\"id\":\"C-1\",\"qty\":1}\n")
            .file(
                "main.aq",
                format!(
                    r#"
system orders: soap {{
  url = "{url}"
  namespace = "urn:aqueduct:test"
  auth = basic {{ username = "svc", password = secret("SOAP_PASSWORD") }}
}}

type Order {{ id: string, qty: int }}

flow send {{
  mode batch
  from file("in").read("orders.jsonl") as Order
  to orders.call("CreateOrder")
  dead_letter file("out").append("dead.jsonl")
}}
"#,
                    url = peer.url()
                ),
            );
        run_ok_with_secret(p, ("SOAP_PASSWORD", password))
    };
    let (_, r) = project("s3cret");
    assert_eq!(
        r.summary("send"),
        "send: 1 in, 1 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert!(std::fs::read_to_string(log.path()).is_ok_and(|l| l.contains("C-1")));
    let (p, r) = project("wrong-one");
    assert_eq!(
        r.summary("send"),
        "send: 1 in, 0 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(
        error_of(dead_for(&dead, "id", "C-1")),
        "orders.call: HTTP 401 from POST CreateOrder: bad credentials"
    );
    assert!(!r.stderr.contains("wrong-one") && !p.read("out/dead.jsonl").contains("wrong-one"));
}

#[test]
fn soap_call_in_enrich_answers_with_the_typed_response_element() {
    let Some(peer) = Peer::start("soap_server.py", &[], "soap enrich") else {
        return;
    };
    let p = Project::new();
    p.file(
        "in/ids.jsonl",
        "{\"id\":\"A-1\"}\n{\"id\":\"bad\"}\n{\"id\":\"nope\"}\n",
    )
    .file(
        "main.aq",
        format!(
            r#"
system orders: soap {{ url = "{url}", namespace = "urn:aqueduct:test" }}

type OrderId {{ id: string }}
type OrderInfo {{ id: string, total: decimal, placed: date, paid: bool }}
type GetOrderAnswer {{ GetOrderResult: OrderInfo }}
type Out {{ id: string, total: decimal, placed: date, paid: bool }}

flow look_up {{
  mode batch
  from file("in").read("ids.jsonl") as OrderId
  enrich answer = orders.call("GetOrder") as GetOrderAnswer
  map Out {{
    id = .id
    total = $answer.GetOrderResult.total
    placed = $answer.GetOrderResult.placed
    paid = $answer.GetOrderResult.paid
  }}
  to file("out").append("orders.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}
"#,
            url = peer.url()
        ),
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.jsonl("out/orders.jsonl"),
        vec![json!({"id": "A-1", "total": 12.50, "placed": "2026-12-01", "paid": true})]
    );
    assert_eq!(
        p.read("out/orders.jsonl").trim(),
        r#"{"id":"A-1","total":12.50,"placed":"2026-12-01","paid":true}"#
    );
    let dead = dead_letters(&p, 2);
    assert_eq!(
        error_of(dead_for(&dead, "id", "bad")),
        "orders.call: the answer of GetOrder does not fit GetOrderAnswer: field `total`: expected decimal, found `n/a`"
    );
    assert_eq!(
        error_of(dead_for(&dead, "id", "nope")),
        "orders.call: SOAP fault soap11env:Client.NotFound from GetOrder (HTTP 500): no order nope"
    );
}

/// The tags of order `id` on the GraphQL peer, read through its own API.
fn tags_of(peer: &Peer, id: &str) -> Value {
    tags_of_with(peer, id, None)
}

/// [`tags_of`], with a bearer `token` when the peer wants one.
fn tags_of_with(peer: &Peer, id: &str, token: Option<&str>) -> Value {
    let query =
        json!({"query": "query($id: ID!) { order(id: $id) { tags } }", "variables": {"id": id}});
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| ("Authorization", b))
        .into_iter()
        .collect();
    let answer = support::try_http(peer.port, "POST", "/", &query.to_string(), &headers)
        .expect("the peer answers")
        .json();
    answer["data"]["order"]["tags"].clone()
}

#[test]
fn graphql_mutations_take_variables_from_records_and_dead_letter_errors() {
    let Some(peer) = Peer::start("graphql_server.py", &[], "graphql mutate") else {
        return;
    };
    let p = Project::new();
    p.file(
        "in/tags.jsonl",
        concat!(
            r#"{"id":"1","tag":"vip \"gold\" } { order(id: 2) { id } }"}"#,
            "\n",
            r#"{"id":"2","tag":"forbidden"}"#,
            "\n",
            r#"{"id":"9","tag":"late"}"#,
            "\n",
            r#"{"id":"2","tag":"ok"}"#,
            "\n"
        ),
    )
    .file(
        "main.aq",
        format!(
            r#"
system shop: graphql {{ url = "{url}" }}

type Tag {{ id: string, tag: string }}

flow tag_orders {{
  mode batch
  from file("in").read("tags.jsonl") as Tag
  to shop.mutate("""
    mutation Tag($id: ID!, $tag: String!) {{ tagOrder(id: $id, tag: $tag) {{ id }} }}
  """)
  dead_letter file("out").append("dead.jsonl")
}}
"#,
            url = peer.url()
        ),
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("tag_orders"),
        "tag_orders: 4 in, 2 delivered, 0 filtered, 2 failed, 2 dead-lettered"
    );
    assert_eq!(
        tags_of(&peer, "1"),
        json!(["vip \"gold\" } { order(id: 2) { id } }"])
    );
    assert_eq!(tags_of(&peer, "2"), json!(["ok"]));
    let dead = dead_letters(&p, 2);
    assert_eq!(
        error_of(dead_for(&dead, "tag", "forbidden")),
        "shop.mutate: the answer has errors: tag 'forbidden' is not allowed (at tagOrder)"
    );
    assert_eq!(
        error_of(dead_for(&dead, "tag", "late")),
        "shop.mutate: the answer has errors: no order 9 (at tagOrder)"
    );
}

#[test]
fn graphql_bearer_auth_is_sent_and_a_refused_token_is_dead_lettered() {
    let Some(peer) = Peer::start("graphql_server.py", &["t0ken"], "graphql auth") else {
        return;
    };
    let run = |token: &str| {
        let p = Project::new();
        p.file("in/tags.jsonl", "{\"id\":\"1\",\"tag\":\"authed\"}\n")
            .file(
                "main.aq",
                format!(
                    r#"
system shop: graphql {{ url = "{url}", auth = bearer {{ token = secret("SHOP_TOKEN") }} }}

type Tag {{ id: string, tag: string }}

flow tag_orders {{
  mode batch
  from file("in").read("tags.jsonl") as Tag
  to shop.mutate("""mutation($id: ID!, $tag: String!) {{ tagOrder(id: $id, tag: $tag) {{ id }} }}""")
  dead_letter file("out").append("dead.jsonl")
}}
"#,
                    url = peer.url()
                ),
            );
        run_ok_with_secret(p, ("SHOP_TOKEN", token))
    };
    let (_, r) = run("t0ken");
    assert_eq!(
        r.summary("tag_orders"),
        "tag_orders: 1 in, 1 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(tags_of_with(&peer, "1", Some("t0ken")), json!(["authed"]));
    let (p, r) = run("stale");
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(
        error_of(dead_for(&dead, "tag", "authed")),
        "shop.mutate: the answer has errors: not authenticated"
    );
    assert!(!r.stderr.contains("stale") && !p.read("out/dead.jsonl").contains("stale"));
}

#[test]
fn a_graphql_variable_naming_no_field_stops_the_run_at_start_up() {
    let p = Project::new();
    p.file("in/tags.jsonl", "{\"id\":\"1\",\"tag\":\"a\"}\n")
        .file(
            "main.aq",
            r#"
system shop: graphql { url = "http://127.0.0.1:9/graphql" }

type Tag { id: string, tag: string }

flow tag_orders {
  mode batch
  from file("in").read("tags.jsonl") as Tag
  to shop.mutate("""mutation($idd: ID!, $tag: String!) { tagOrder(id: $idd, tag: $tag) { id } }""")
  dead_letter file("out").append("dead.jsonl")
}
"#,
        );
    let r = p.run(&[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`shop.mutate`: the document uses $idd, but `Tag` has no field `idd`"),
        "{}",
        r.stderr
    );
}

#[test]
fn graphql_query_in_enrich_answers_with_typed_data() {
    let Some(peer) = Peer::start("graphql_server.py", &[], "graphql query") else {
        return;
    };
    let p = Project::new();
    p.file(
        "in/ids.jsonl",
        "{\"id\":\"1\"}\n{\"id\":\"3\"}\n{\"id\":\"4\"}\n",
    )
    .file(
        "main.aq",
        format!(
            r#"
system shop: graphql {{ url = "{url}" }}

type OrderId {{ id: string }}
type OrderInfo {{ id: string, total: decimal, placed: date }}
type OrderData {{ order: OrderInfo? }}
type Out {{ id: string, found: bool, total: decimal? }}

flow look_up {{
  mode batch
  from file("in").read("ids.jsonl") as OrderId
  enrich o = shop.query("""query($id: ID!) {{ order(id: $id) {{ id total placed }} }}""") as OrderData
  map Out {{
    id = .id
    found = $o.order != null
    total = $o.order.total
  }}
  to file("out").append("orders.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}
"#,
            url = peer.url()
        ),
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/orders.jsonl"),
        "{\"id\":\"1\",\"found\":true,\"total\":12.50}\n{\"id\":\"4\",\"found\":false,\"total\":null}\n"
    );
    let dead = dead_letters(&p, 1);
    assert_eq!(
        error_of(dead_for(&dead, "id", "3")),
        "shop.query: the data does not fit OrderData: field `order.total`: expected decimal, found `n/a`"
    );
}

#[test]
fn graphql_operation_picks_one_of_several_and_an_unknown_one_stops_the_run() {
    let Some(peer) = Peer::start("graphql_server.py", &[], "graphql operationName") else {
        return;
    };
    let project = |operation: &str| {
        let p = Project::new();
        p.file("in/ids.jsonl", "{\"id\":\"1\"}\n").file(
            "main.aq",
            format!(
                r#"
system shop: graphql {{ url = "{url}" }}

type OrderId {{ id: string }}
type OrderInfo {{ id: string, total: decimal? }}
type OrderData {{ order: OrderInfo? }}
type Out {{ id: string, total: decimal? }}

flow look_up {{
  mode batch
  from file("in").read("ids.jsonl") as OrderId
  enrich o = shop.query("""
    query Bare($id: ID!) {{ order(id: $id) {{ id }} }}
    query WithTotal($id: ID!) {{ order(id: $id) {{ id total }} }}
  """, operation: "{operation}") as OrderData
  map Out {{
    id = .id
    total = $o.order.total
  }}
  to file("out").append("orders.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}
"#,
                url = peer.url()
            ),
        );
        p
    };
    // graphql-core runs the operation operationName names (without it, a
    // document with two operations is an error there)
    let p = project("WithTotal");
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/orders.jsonl"),
        "{\"id\":\"1\",\"total\":12.50}\n"
    );
    let p = project("Bare");
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/orders.jsonl"),
        "{\"id\":\"1\",\"total\":null}\n"
    );
    let p = project("Total");
    let r = p.run(&[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "`shop.query`: operation `Total` is not in the document (it defines Bare, WithTotal)"
        ),
        "{}",
        r.stderr
    );
}
