//! Input bytes that are not what they claim, through `aqueduct run`: lines
//! that are not UTF-8 (dead-lettered with their raw bytes, never delivered
//! with U+FFFD in them), a record over `max_record_size`, and a csv quote
//! that is never closed (an error naming its line; reading goes on with the
//! next line).

mod support;

use base64::Engine;
use serde_json::{Value, json};
use support::Project;

fn error_of(entry: &Value) -> String {
    entry["error"].as_str().unwrap_or_default().to_string()
}

fn base64_of(entry: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(entry["raw_base64"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("raw_base64 of {entry}: {e}"))
}

/// Two records whose keys differ only in bytes that are not UTF-8 would
/// both become "a\u{FFFD}" and collapse into one upsert row: both must go
/// to the dead letter instead, with their exact bytes.
#[test]
fn lines_that_are_not_utf8_go_to_the_dead_letter_with_their_bytes() {
    let p = Project::new();
    let jsonl: &[u8] =
        b"{\"id\":\"ok\",\"n\":1}\n{\"id\":\"a\xff\",\"n\":2}\n{\"id\":\"a\xfe\",\"n\":3}\n";
    let csv: &[u8] = b"id,n\nok,1\nb\xc3,2\n";
    p.file("in/rows.jsonl", jsonl)
        .file("in/rows.csv", csv)
        .file(
            "main.aq",
            r#"
type Row { id: string, n: int }

flow from_jsonl {
  mode batch
  from file("in").read("rows.jsonl") as Row
  to sqlite("out/rows.db").upsert("rows", key: [id])
  dead_letter file("out").append("dead_jsonl.jsonl")
}

flow from_csv {
  mode batch
  from file("in").read("rows.csv", format: csv) as Row
  to file("out").append("csv.jsonl")
  dead_letter file("out").append("dead_csv.jsonl")
}
"#,
        );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("from_jsonl"),
        "from_jsonl: 3 in, 1 delivered, 0 filtered, 2 failed, 2 dead-lettered"
    );
    assert_eq!(
        p.sqlite("out/rows.db", "select id, n from rows order by n"),
        vec![vec![json!("ok"), json!(1)]]
    );
    let dead = p.jsonl("out/dead_jsonl.jsonl");
    assert_eq!(dead.len(), 2, "{dead:#?}");
    assert_eq!(base64_of(&dead[0]), b"{\"id\":\"a\xff\",\"n\":2}");
    assert_eq!(base64_of(&dead[1]), b"{\"id\":\"a\xfe\",\"n\":3}");
    assert_eq!(
        error_of(&dead[0]),
        "line 2 is not valid UTF-8 (byte 9 of the line); its bytes are in raw_base64"
    );
    assert!(dead[0].get("raw").is_none(), "{}", dead[0]);

    assert_eq!(p.read("out/csv.jsonl"), "{\"id\":\"ok\",\"n\":1}\n");
    let dead = p.jsonl("out/dead_csv.jsonl");
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(base64_of(&dead[0]), b"b\xc3,2");
    assert!(error_of(&dead[0]).starts_with("line 3 is not valid UTF-8"));
}

#[test]
fn a_record_over_max_record_size_is_dead_lettered_and_the_rest_delivered() {
    let p = Project::new();
    let long = format!("{{\"id\":\"{}\",\"n\":2}}", "x".repeat(3 << 20));
    p.file(
        "in/rows.jsonl",
        format!("{{\"id\":\"a\",\"n\":1}}\n{long}\n{{\"id\":\"c\",\"n\":3}}\n"),
    )
    .file(
        "main.aq",
        r#"
type Row { id: string, n: int }

flow load {
  mode batch
  from file("in").read("rows.jsonl", max_record_size: 1MiB) as Row
  to file("out").append("rows.jsonl")
  dead_letter file("out").append("dead.jsonl")
}
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/rows.jsonl"),
        "{\"id\":\"a\",\"n\":1}\n{\"id\":\"c\",\"n\":3}\n"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        error_of(&dead[0]),
        format!(
            "line 2 is {} bytes, more than max_record_size (1048576 bytes); the record is skipped",
            long.len()
        )
    );
    // the dead letter keeps the start of the line, not all of it
    let raw = dead[0]["raw"].as_str().unwrap_or_default();
    assert!(
        raw.starts_with("{\"id\":\"xxx") && raw.len() <= 4096,
        "{}",
        raw.len()
    );
}

#[test]
fn an_unclosed_csv_quote_is_an_error_on_its_line_and_reading_goes_on() {
    let p = Project::new();
    p.file(
        "in/rows.csv",
        "id,note\n1,\"fine\nacross lines\"\n2,\"never closed\n3,x\n4,y\n",
    )
    .file(
        "main.aq",
        r#"
type Row { id: int, note: string }

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
        p.read("out/rows.jsonl"),
        concat!(
            r#"{"id":1,"note":"fine\nacross lines"}"#,
            "\n",
            r#"{"id":3,"note":"x"}"#,
            "\n",
            r#"{"id":4,"note":"y"}"#,
            "\n",
        )
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(dead[0]["raw"], json!("2,\"never closed"));
    assert_eq!(
        error_of(&dead[0]),
        "line 4: a quoted csv cell opened on this line is never closed; reading goes on at line 5"
    );
}
