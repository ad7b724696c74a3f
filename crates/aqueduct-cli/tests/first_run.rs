//! Issue 12, first-run ordering: a sync lookup flow reading a table that a
//! sibling flow's `upsert` creates works on the very first `run` against a
//! fresh database, whichever flow is declared (and starts) first, and also
//! when only the lookup flow runs; a lookup of a table nobody creates stops
//! the start-up with an error naming the cause and the fix, naming the flow
//! once.

mod support;

use std::time::Duration;
use support::{Project, try_http};

fn project(port: u16) -> Project {
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system api: endpoint {{
  listen = "127.0.0.1:{port}"
}}
system db: sqlite {{
  path = "out/wh.db"
}}
system input: file {{
  root = "input"
}}

type ShipmentId {{ id: string }}
type Shipment {{ id: string, weight: decimal, shipped_at: timestamp, count: int }}

// declared first, so it is built and started first
flow get_shipment {{
  mode sync
  from api.get("/shipments/:id") as ShipmentId
  enrich row = db.query("select * from shipments where id = {{.id}}") as Shipment?
  where $row != null
  reply {{ id = .id, weight = $row.weight ?? 0.0 }}
}}

flow load_shipments {{
  mode batch
  from input.read("shipments.csv", format: csv) as Shipment
  to db.upsert("shipments", key: [id])
}}
"#
        ),
    );
    p.file(
        "input/shipments.csv",
        "id,weight,shipped_at,count\nS-1,12.50,2026-03-01T08:00:00Z,3\n",
    );
    p
}

#[test]
fn a_lookup_of_a_table_a_sibling_upsert_creates_works_on_the_first_run() {
    let port = support::free_port();
    let p = project(port);
    let mut running = p.spawn(&[]);
    running.wait_listening(port);
    let answered = support::wait_until(Duration::from_secs(20), || {
        try_http(port, "GET", "/shipments/S-1", "", &[]).is_ok_and(|r| r.status == 200)
    });
    assert!(answered, "{}", running.stderr());
    let r = try_http(port, "GET", "/shipments/S-1", "", &[]).expect("an answer");
    assert_eq!(r.json()["id"], "S-1", "{}", r.body);
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // the column types docs/connectors.md gives
    let cols = p.sqlite(
        "out/wh.db",
        "select name, type, \"notnull\", pk from pragma_table_info('shipments') order by cid",
    );
    assert_eq!(
        serde_json::Value::from(cols),
        serde_json::json!([
            ["id", "TEXT", 1, 1],
            ["weight", "TEXT", 1, 0],
            ["shipped_at", "TEXT", 1, 0],
            ["count", "INTEGER", 1, 0]
        ])
    );
    let row = p.sqlite(
        "out/wh.db",
        "select weight, typeof(weight), shipped_at, count from shipments",
    );
    assert_eq!(
        serde_json::Value::from(row),
        serde_json::json!([["12.50", "text", "2026-03-01T08:00:00Z", 3]])
    );
}

#[test]
fn running_only_the_lookup_flow_creates_the_table_of_the_sibling_upsert() {
    let port = support::free_port();
    let p = project(port);
    let mut running = p.spawn(&["--flow", "get_shipment"]);
    running.wait_answering_get(port, "/shipments/S-1");
    // the table exists and is empty: the lookup finds no row
    let r = try_http(port, "GET", "/shipments/S-1", "", &[]).expect("an answer");
    assert_eq!(r.status, 422, "{}", r.body);
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// A project whose main.aq declares an endpoint on `port`, the SQLite
/// database out/wh.db and the types `ShipmentId` and `Shipment { id,
/// weight }` in nine lines, then `flows` (so they start at line 10).
fn shipments_project(port: u16, flows: &str) -> Project {
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system api: endpoint {{
  listen = "127.0.0.1:{port}"
}}
system db: sqlite {{
  path = "out/wh.db"
}}
type ShipmentId {{ id: string }}
type Shipment {{ id: string, weight: decimal }}
{flows}"#
        ),
    );
    p
}

#[test]
fn a_lookup_of_a_table_no_flow_creates_names_the_cause_and_the_flow_once() {
    let port = support::free_port();
    let p = shipments_project(
        port,
        r#"
flow get_shipment {
  mode sync
  from api.get("/shipments/:id") as ShipmentId
  enrich row = db.query("select * from shipments where id = {.id}") as Shipment?
  reply { id = .id, weight = $row.weight ?? 0.0 }
}
"#,
    );
    let out = p.run(&[]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let expected = "  main.aq:14: flow `get_shipment`: `db.query`: table `shipments` does not exist in \
                    `out/wh.db`, and no flow started here writes it; the flow that writes it \
                    with `insert` or `upsert` creates it when it starts: run that flow first \
                    (or in the same run), or create the table";
    assert!(
        out.stderr.contains("the project cannot start:\n"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(expected), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("get_shipment").count(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn callers_get_a_stable_code_and_no_project_location_and_the_summary_counts_every_request() {
    let port = support::free_port();
    let p = Project::new();
    p.file(
        "lookup.aq",
        format!(
            r#"
system api: endpoint {{
  listen = "127.0.0.1:{port}"
}}
type Item {{ n: int }}

flow divide {{
  mode sync
  from api.get("/items/:n") as Item
  where .n >= 0
  reply {{ n = 100 / .n }}
}}
"#
        ),
    );
    let mut running = p.spawn(&[]);
    running.wait_listening(port);
    let up = support::wait_until(Duration::from_secs(20), || {
        try_http(port, "GET", "/items/4", "", &[]).is_ok_and(|r| r.status == 200)
    });
    assert!(up, "{}", running.stderr());
    let answer = |path: &str| {
        let r = try_http(port, "GET", path, "", &[]).expect("an answer");
        (r.status, r.json())
    };
    assert_eq!(answer("/items/5").1, serde_json::json!({"n": 20}));
    assert_eq!(
        answer("/items/-1"),
        (
            422,
            serde_json::json!({"error": "request rejected by `where`", "code": "rejected"})
        )
    );
    assert_eq!(
        answer("/items/0"),
        (
            500,
            serde_json::json!({"error": "the flow could not process the request", "code": "internal"})
        )
    );
    let (status, body) = answer("/items/abc");
    assert_eq!(
        (status, &body["code"]),
        (422, &serde_json::json!("invalid_request"))
    );
    assert!(!body.to_string().contains(".aq"), "{body}");
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // `run` says where the endpoint listens and that it runs until Ctrl-C
    assert!(
        out.stderr.contains("Endpoint listening.")
            && out
                .stderr
                .contains(&format!("url=http://127.0.0.1:{port}/items/:n")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("running until Ctrl-C (or SIGTERM): `divide` wait for input"),
        "{}",
        out.stderr
    );
    // the failure's detail is logged, with where it happened
    assert!(
        out.stderr.contains("division by zero") && out.stderr.contains("lookup.aq:"),
        "{}",
        out.stderr
    );
    // 5 requests reached the flow: 2 replies, 1 rejected by `where`, 1
    // failed in the flow, 1 rejected before it (a path parameter not an int)
    assert_eq!(
        out.summary("divide"),
        "divide: 5 in, 2 delivered, 1 filtered, 2 failed, 0 dead-lettered"
    );
}

#[test]
fn a_body_that_is_not_json_gets_400_bad_request() {
    let port = support::free_port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system api: endpoint {{
  listen = "127.0.0.1:{port}"
}}
type Item {{ n: int }}

flow pick {{
  mode sync
  from api.post("/pick") as Item
  reply {{ n = .n }}
}}
"#
        ),
    );
    let mut running = p.spawn(&[]);
    running.wait_serving(port, "/pick");
    let r = try_http(port, "POST", "/pick", "{", &[]).expect("an answer");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["code"], "bad_request", "{}", r.body);
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// The dead-letter entry language.md quotes for the quickstart's bad row.
#[test]
fn a_row_that_cannot_be_read_is_dead_lettered_with_its_raw_text_and_reason() {
    let p = Project::new();
    p.file(
        "main.aq",
        r#"
type OrderRow { order_id: string, amount: decimal }
flow import_orders {
  mode batch
  from file("input").read("orders.csv", format: csv) as OrderRow
  to file("out").append("orders.jsonl")
  dead_letter file("out").append("dead_letter.jsonl")
}
"#,
    );
    p.file("input/orders.csv", "order_id,amount\nA-1007,twelve\n");
    let out = p.run(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dead = p.jsonl("out/dead_letter.jsonl");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["raw"], "A-1007,twelve");
    assert_eq!(
        dead[0]["error"],
        "field `amount`: expected decimal, found `twelve`"
    );
    assert_eq!(
        (&dead[0]["step"], &dead[0]["attempts"]),
        (&serde_json::json!("source"), &serde_json::json!(1))
    );
}

/// Issue 12: `reply STATUS VALUE` answers with that status (404 for an
/// absent record, 201 with a Location for a create), checked by flow tests
/// with `expect reply 404 …`.
#[test]
fn replies_choose_their_status_404_for_absent_and_201_with_a_location() {
    let port = support::free_port();
    let p = shipments_project(
        port,
        r#"type Created { id: string, location: string }

flow get_shipment {
  mode sync
  from api.get("/shipments/:id") as ShipmentId
  enrich row = db.query("select * from shipments where id = {.id}") as Shipment?
  route {
    when $row == null => reply 404 { error = "no such shipment" }
    else => reply { id = .id, weight = $row.weight ?? 0.0 }
  }
}

flow add_shipment {
  mode sync
  from api.post("/shipments") as Shipment
  to db.upsert("shipments", key: [id])
  reply 201 Created { id = .id, location = "/shipments/{.id}" }
}

test absent_is_404 for get_shipment {
  given ShipmentId { id = "nope" }
  stub db.query() => null
  expect reply 404 { error = "no such shipment" }
}

test create_is_201 for add_shipment {
  given Shipment { id = "S-9", weight = 1.5 }
  expect reply 201 Created { id = "S-9", location = "/shipments/S-9" }
}
"#,
    );
    let tested = std::process::Command::new(env!("CARGO_BIN_EXE_aqueduct"))
        .args(["test"])
        .arg(p.root())
        .env("NO_COLOR", "1")
        .output()
        .expect("aqueduct test runs");
    let report = String::from_utf8_lossy(&tested.stdout);
    assert!(tested.status.success(), "{report}");
    assert!(report.contains("2 passed, 0 failed"), "{report}");

    let mut running = p.spawn(&[]);
    running.wait_serving(port, "/shipments");
    // the GET route is a flow of its own, which may start after the POST one
    running.wait_answering_get(port, "/shipments/S-9");
    let r = try_http(port, "GET", "/shipments/S-9", "", &[]).expect("an answer");
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, r#"{"error":"no such shipment"}"#)
    );
    let r = try_http(
        port,
        "POST",
        "/shipments",
        r#"{"id": "S-9", "weight": 1.5}"#,
        &[],
    )
    .expect("an answer");
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("location"), Some("/shipments/S-9"));
    assert_eq!(r.json()["location"], "/shipments/S-9");
    let r = try_http(port, "GET", "/shipments/S-9", "", &[]).expect("an answer");
    assert_eq!(
        (r.status, r.json()["id"].clone()),
        (200, serde_json::json!("S-9"))
    );
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
}
