//! Round trips and decode errors of every format.

mod common;

use aqueduct_connectors::formats::{Codec, Format};
use aqueduct_graph::Type;
use common::{record, schemas};
use serde_json::json;

fn row_schemas() -> std::sync::Arc<aqueduct_runtime::value::Schemas> {
    schemas(&[
        (
            "Row",
            &[
                ("id", "int"),
                ("name", "string"),
                ("note", "string?"),
                ("amount", "decimal?"),
            ],
        ),
        ("Line", &[("line", "string")]),
    ])
}

fn rows(schemas: &aqueduct_runtime::value::Schemas) -> Vec<aqueduct_runtime::value::Value> {
    vec![
        record(
            schemas,
            "Row",
            json!({"id": 1, "name": "Ada, \"the\" first", "note": "multi\nline", "amount": "12.50"}),
        ),
        record(
            schemas,
            "Row",
            json!({"id": 2, "name": "Bob", "note": null, "amount": null}),
        ),
    ]
}

fn round_trip(format: Format) {
    let schemas = row_schemas();
    let codec = Codec::new(format, Type::Record("Row".into()), schemas.clone());
    let records = rows(&schemas);
    let bytes = codec.encode_all(&records).expect("encode");
    let decoded: Vec<_> = codec
        .decode_all(&bytes)
        .into_iter()
        .map(|r| r.expect("decodes"))
        .collect();
    assert_eq!(
        decoded,
        records,
        "{format:?}: {}",
        String::from_utf8_lossy(&bytes)
    );
}

#[test]
fn csv_round_trips_with_empty_optional_cells_and_quoted_newlines() {
    round_trip(Format::Csv);
    let schemas = row_schemas();
    let codec = Codec::new(Format::Csv, Type::Record("Row".into()), schemas.clone());
    let text = String::from_utf8(codec.encode_all(&rows(&schemas)).expect("encode")).expect("utf8");
    assert!(text.starts_with("id,name,note,amount\n"), "{text}");
    assert!(text.contains("2,Bob,,\n"), "{text}");
}

#[test]
fn jsonl_json_and_xml_round_trip() {
    round_trip(Format::Jsonl);
    round_trip(Format::Json);
    round_trip(Format::Xml);
}

#[test]
fn text_round_trips_lines() {
    let schemas = row_schemas();
    let codec = Codec::new(Format::Text, Type::Record("Line".into()), schemas.clone());
    let decoded: Vec<_> = codec
        .decode_all(b"one\r\ntwo\n\nthree")
        .into_iter()
        .map(|r| r.expect("line"))
        .collect();
    assert_eq!(decoded.len(), 4);
    assert_eq!(decoded[3].field("line").as_str(), Some("three"));
    assert_eq!(
        codec.encode_all(&decoded).expect("encode"),
        b"one\ntwo\n\nthree\n"
    );
}

#[test]
fn csv_errors_name_the_field_and_do_not_stop_the_read() {
    let schemas = row_schemas();
    let codec = Codec::new(Format::Csv, Type::Record("Row".into()), schemas);
    let input = b"id,name,note,amount\n1,Ada,,\n,Nobody,,\nx,Bad,,\n3,Cy,hi,1.5\n";
    let results = codec.decode_all(input);
    assert_eq!(results.len(), 4);
    assert!(results[0].is_ok());
    let empty = results[1].as_ref().expect_err("required id is empty");
    assert!(empty.reason.contains("`id`"), "{}", empty.reason);
    assert_eq!(empty.raw, ",Nobody,,");
    let bad = results[2].as_ref().expect_err("id is not an int");
    assert!(bad.reason.contains("`id`"), "{}", bad.reason);
    assert_eq!(
        results[3].as_ref().expect("ok").field("note").as_str(),
        Some("hi")
    );
}

#[test]
fn csv_without_header_uses_field_order_and_custom_delimiter() {
    let schemas = row_schemas();
    let mut codec = Codec::new(Format::Csv, Type::Record("Row".into()), schemas);
    codec.header = false;
    codec.delimiter = b';';
    let results = codec.decode_all(b"7;Ann;;0.1\n");
    let row = results[0].as_ref().expect("row");
    assert_eq!(
        row.to_json_string(),
        r#"{"id":7,"name":"Ann","note":null,"amount":0.1}"#
    );
}

#[test]
fn malformed_jsonl_lines_become_decode_errors() {
    let schemas = row_schemas();
    let codec = Codec::new(Format::Jsonl, Type::Record("Row".into()), schemas);
    let input = b"{\"id\": 1, \"name\": \"a\"}\n{\"id\": 2, \"name\": }\n\n{\"name\": \"no id\"}\n{\"id\": 4, \"name\": \"d\"}\n";
    let results = codec.decode_all(input);
    assert_eq!(results.len(), 4, "blank lines are skipped");
    let malformed = results[1].as_ref().expect_err("malformed");
    assert!(
        malformed.reason.starts_with("malformed JSON:"),
        "{}",
        malformed.reason
    );
    assert!(
        malformed.reason.contains("line 1 column"),
        "{}",
        malformed.reason
    );
    assert_eq!(malformed.raw, "{\"id\": 2, \"name\": }");
    let missing = results[2].as_ref().expect_err("missing id");
    assert!(missing.reason.contains("id"), "{}", missing.reason);
    assert!(results[3].is_ok());
}

#[test]
fn json_documents_decode_arrays_objects_and_report_bad_elements() {
    let schemas = row_schemas();
    let codec = Codec::new(Format::Json, Type::Record("Row".into()), schemas);
    let results = codec.decode_all(br#"[{"id": 1, "name": "a"}, {"id": "x", "name": "b"}]"#);
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    assert!(
        results[1]
            .as_ref()
            .expect_err("bad id")
            .raw
            .contains("\"x\"")
    );
    assert_eq!(codec.decode_all(br#"{"id": 1, "name": "single"}"#).len(), 1);
    let broken = codec.decode_all(b"[{\"id\": 1,");
    assert_eq!(broken.len(), 1);
    assert!(
        broken[0]
            .as_ref()
            .expect_err("broken")
            .reason
            .starts_with("malformed JSON")
    );
}

#[test]
fn xml_reads_attributes_named_records_and_entities() {
    let schemas = row_schemas();
    let mut codec = Codec::new(Format::Xml, Type::Record("Row".into()), schemas);
    codec.record = Some("row".to_string());
    let input = br#"<?xml version="1.0"?>
<export><meta><count>2</count></meta>
  <rows>
    <row id="1"><name>Fish &amp; Chips</name><amount>3.20</amount></row>
    <row><id>2</id><name><![CDATA[<raw>]]></name><note>&#65;</note></row>
    <row><name>missing id</name></row>
  </rows>
</export>"#;
    let results = codec.decode_all(input);
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[0].as_ref().expect("first").to_json_string(),
        r#"{"id":1,"name":"Fish & Chips","note":null,"amount":3.20}"#
    );
    assert_eq!(
        results[1].as_ref().expect("second").field("name").as_str(),
        Some("<raw>")
    );
    assert_eq!(
        results[1].as_ref().expect("second").field("note").as_str(),
        Some("A")
    );
    assert!(
        results[2]
            .as_ref()
            .expect_err("no id")
            .reason
            .contains("id")
    );
    let broken = codec.decode_all(b"<rows><row><id>1</id></rows>");
    assert!(
        broken[0]
            .as_ref()
            .expect_err("broken")
            .reason
            .contains("malformed XML")
    );
}

#[test]
fn formats_follow_names_and_extensions() {
    assert_eq!(Format::from_path("in/a.csv"), Format::Csv);
    assert_eq!(Format::from_path("in/a.ndjson"), Format::Jsonl);
    assert_eq!(Format::from_path("in/a.txt"), Format::Text);
    assert_eq!(Format::from_path("in/a.dat"), Format::Jsonl);
    assert_eq!(Format::parse("xml"), Some(Format::Xml));
    assert_eq!(Format::parse("yaml"), None);
}
