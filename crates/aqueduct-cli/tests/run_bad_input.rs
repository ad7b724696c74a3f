//! Bad input through `aqueduct run`: malformed CSV and JSON lines, wrong
//! types and failing expressions go to the dead letter with the raw text and
//! a reason naming the field, and the run carries on with the other records;
//! an endpoint answers malformed JSON with 400, a missing or mistyped field
//! with 422 naming it and an oversized body with 413, and keeps serving.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{Project, http, try_http};

/// The dead-letter entry whose `raw` text is `raw`.
fn entry_for<'a>(dead: &'a [Value], raw: &str) -> &'a Value {
    dead.iter()
        .find(|d| d["raw"] == json!(raw))
        .unwrap_or_else(|| panic!("no dead-letter entry for `{raw}` in {dead:#?}"))
}

fn error_of(entry: &Value) -> String {
    entry["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn malformed_csv_rows_and_wrong_types_go_to_the_dead_letter_and_the_run_continues() {
    let p = Project::new();
    p.file(
        "in/rows.csv",
        "id,name,amount,note\n1,a,1.50,hello\n2,b,2.00,\n3,c\nx,d,4.00,\n5,e,abc,\n6,f,6.25,bye\n",
    )
    .file(
        "main.aq",
        r#"
type Row { id: int, name: string, amount: decimal, note: string? }

flow load {
  mode batch
  from file("in").read("rows.csv", format: csv) as Row
  to file("out").append("rows.jsonl")
  dead_letter file("out").append("dead.jsonl")
}
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("load"),
        "load: 6 in, 3 delivered, 0 filtered, 3 failed, 3 dead-lettered"
    );
    assert_eq!(
        p.read("out/rows.jsonl"),
        concat!(
            r#"{"id":1,"name":"a","amount":1.50,"note":"hello"}"#,
            "\n",
            r#"{"id":2,"name":"b","amount":2.00,"note":null}"#,
            "\n",
            r#"{"id":6,"name":"f","amount":6.25,"note":"bye"}"#,
            "\n",
        ),
        "an empty CSV field is null for an optional field"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 3, "{dead:#?}");
    for d in &dead {
        assert_eq!(d["flow"], json!("load"));
        assert_eq!(d["step"], json!("source"));
        assert!(d["at"].as_str().is_some_and(|a| a.ends_with('Z')), "{d}");
    }
    assert!(!error_of(entry_for(&dead, "3,c")).is_empty());
    let id = error_of(entry_for(&dead, "x,d,4.00,"));
    assert!(id.contains("`id`") && id.contains('x'), "{id}");
    let amount = error_of(entry_for(&dead, "5,e,abc,"));
    assert!(
        amount.contains("`amount`") && amount.contains("abc"),
        "{amount}"
    );
}

#[test]
fn a_short_csv_row_names_the_missing_field() {
    let p = Project::new();
    p.file("in/rows.csv", "id,name,amount\n1,a,1.50\n3,c\n")
        .file(
            "main.aq",
            r#"
type Row { id: int, name: string, amount: decimal }

flow load {
  mode batch
  from file("in").read("rows.csv", format: csv) as Row
  to file("out").append("rows.jsonl")
  dead_letter file("out").append("dead.jsonl")
}
"#,
        );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dead = p.jsonl("out/dead.jsonl");
    let error = error_of(entry_for(&dead, "3,c"));
    assert!(
        error.contains("amount"),
        "the reason names the missing field: {error}"
    );
}

#[test]
fn malformed_json_lines_and_wrong_types_go_to_the_dead_letter_and_the_run_continues() {
    let lines = [
        r#"{"id":1,"name":"a","amount":"1.50"}"#,
        r#"{oops"#,
        r#"{"id":2,"name":"b","amount":"abc"}"#,
        r#"{"id":3,"amount":"3.00"}"#,
        r#"{"id":"four","name":"d","amount":"4"}"#,
        r#"[1,2]"#,
        r#"{"id":5,"name":"e","amount":"5.25"}"#,
    ];
    let p = Project::new();
    p.file("in/rows.jsonl", lines.join("\n") + "\n").file(
        "main.aq",
        r#"
type Row { id: int, name: string, amount: decimal }

flow load {
  mode batch
  from file("in").read("rows.jsonl") as Row
  to file("out").append("rows.jsonl")
  dead_letter file("out").append("dead.jsonl")
}
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("load"),
        "load: 7 in, 2 delivered, 0 filtered, 5 failed, 5 dead-lettered"
    );
    assert_eq!(
        p.read("out/rows.jsonl"),
        concat!(
            r#"{"id":1,"name":"a","amount":1.50}"#,
            "\n",
            r#"{"id":5,"name":"e","amount":5.25}"#,
            "\n",
        )
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 5, "{dead:#?}");
    assert!(!error_of(entry_for(&dead, lines[1])).is_empty());
    let amount = error_of(entry_for(&dead, lines[2]));
    assert!(amount.contains("`amount`"), "{amount}");
    let name = error_of(entry_for(&dead, lines[3]));
    assert!(name.contains("`name`"), "{name}");
    let id = error_of(entry_for(&dead, lines[4]));
    assert!(id.contains("`id`"), "{id}");
    assert!(!error_of(entry_for(&dead, lines[5])).is_empty());
}

#[test]
fn a_failing_expression_dead_letters_the_record_with_the_reason() {
    let p = Project::new();
    p.file(
        "in/rows.jsonl",
        "{\"id\":\"a\",\"total\":10,\"count\":2}\n{\"id\":\"b\",\"total\":10,\"count\":0}\n{\"id\":\"c\",\"total\":9,\"count\":3}\n",
    )
    .file(
        "main.aq",
        r#"
type Row { id: string, total: int, count: int }
type Avg { id: string, avg: int }

flow averages {
  mode batch
  from file("in").read("rows.jsonl") as Row
  map Avg { id = .id, avg = .total / .count }
  to file("out").append("avg.jsonl")
  dead_letter file("out").append("dead.jsonl")
}
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/avg.jsonl"),
        "{\"id\":\"a\",\"avg\":5}\n{\"id\":\"c\",\"avg\":3}\n"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(
        dead[0]["record"],
        json!({"id": "b", "total": 10, "count": 0})
    );
    let error = error_of(&dead[0]);
    assert!(error.contains("zero"), "{error}");
    assert_eq!(dead[0]["attempts"], json!(1));
}

#[test]
fn decimals_read_from_json_numbers_stay_exact() {
    let p = Project::new();
    p.file(
        "in/rows.jsonl",
        "{\"id\":\"a\",\"amount\":12345678901234567.89}\n{\"id\":\"b\",\"amount\":0.10}\n",
    )
    .file(
        "main.aq",
        r#"
type Row { id: string, amount: decimal }

flow copy {
  mode batch
  from file("in").read("rows.jsonl") as Row
  map Row { ..., amount = .amount + 0 }
  to file("out").append("rows.jsonl")
}
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/rows.jsonl"),
        "{\"id\":\"a\",\"amount\":12345678901234567.89}\n{\"id\":\"b\",\"amount\":0.10}\n"
    );
}

const ENDPOINT_FLOWS: &str = r#"
type Order { id: string, qty: int, note: string? }

flow take {
  mode async
  from api.post("/orders") as Order
  to file("out").append("orders.jsonl")
  dead_letter file("out").append("dead.jsonl")
}

flow check {
  mode sync
  from api.post("/check") as Order
  reply { id = .id, double = .qty * 2 }
}
"#;

#[test]
fn an_endpoint_refuses_bad_requests_with_json_errors_and_keeps_serving() {
    let port = support::free_port();
    let p = Project::new();
    p.file("flows.aq", ENDPOINT_FLOWS).file(
        "systems.aq",
        format!("system api: endpoint {{ listen = \"127.0.0.1:{port}\", max_body = 1KiB }}\n"),
    );
    let mut running = p.spawn(&[]);
    running.wait_serving(port, "/orders");
    running.wait_serving(port, "/check");
    for path in ["/orders", "/check"] {
        let r = http(port, "POST", path, r#"{"id": "a", "qty": }"#);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let e = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(e.contains("malformed JSON"), "{path}: {e}");

        let r = http(port, "POST", path, r#"{"id": "a"}"#);
        assert_eq!(r.status, 422, "{path}: {}", r.body);
        let e = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(e.contains("qty"), "{path}: the missing field is named: {e}");

        let r = http(port, "POST", path, r#"{"id": "a", "qty": "many"}"#);
        assert_eq!(r.status, 422, "{path}: {}", r.body);
        let e = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(
            e.contains("qty"),
            "{path}: the mistyped field is named: {e}"
        );

        let big = format!(r#"{{"id": "a", "qty": 1, "note": "{}"}}"#, "x".repeat(2048));
        let r = try_http(port, "POST", path, &big, &[]).expect("an answer to a big body");
        assert_eq!(r.status, 413, "{path}: {}", r.body);
        assert!(r.json()["error"].is_string(), "{path}: {}", r.body);
    }
    // it keeps serving, and none of the refused requests made a record
    let r = http(port, "POST", "/orders", r#"{"id": "ok", "qty": 2}"#);
    assert_eq!(r.status, 202, "{}", r.body);
    let r = http(port, "POST", "/check", r#"{"id": "ok", "qty": 2}"#);
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"id": "ok", "double": 4}))
    );
    assert_eq!(
        p.read("out/orders.jsonl"),
        "{\"id\":\"ok\",\"qty\":2,\"note\":null}\n"
    );
    assert_eq!(p.read("out/dead.jsonl"), "");
    let out = running.terminate(Duration::from_secs(15));
    assert_eq!(out.code, 0, "{}", out.stderr);
}
