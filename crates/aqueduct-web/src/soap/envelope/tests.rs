//! The request envelope: the SOAP 1.1 note's example request as this
//! connector writes it, escaping, nulls, and names.

use super::*;
use aqueduct_graph::{FieldType, Type};
use aqueduct_runtime::value::{Layout, Record};
use std::sync::Arc;

fn record(fields: &[(&str, Value)]) -> Value {
    let layout = Arc::new(Layout {
        name: "R".into(),
        fields: fields
            .iter()
            .map(|(n, v)| FieldType {
                name: (*n).into(),
                ty: match v {
                    Value::Int(_) => Type::Int,
                    _ => Type::String.optional(),
                },
                doc: Vec::new(),
            })
            .collect(),
    });
    Value::Record(Arc::new(Record {
        layout,
        slots: fields.iter().map(|(_, v)| v.clone()).collect(),
    }))
}

/// The request of the SOAP 1.1 note's example 1 (`GetLastTradePrice` with
/// `symbol` DIS in "Some-URI"), as this connector writes it: document
/// style, the operation in the default namespace so its children are too,
/// no `encodingStyle` (literal, not SOAP encoding), no whitespace between
/// elements. docs/connectors.md quotes this exact text.
#[test]
fn writes_the_notes_example_request() {
    let body = request(
        "GetLastTradePrice",
        Some("Some-URI"),
        &record(&[("symbol", Value::string("DIS"))]),
    );
    assert_eq!(
        body.as_deref(),
        Ok(concat!(
            r#"<?xml version="1.0" encoding="utf-8"?>"#,
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">"#,
            r#"<soap:Body><GetLastTradePrice xmlns="Some-URI"><symbol>DIS</symbol></GetLastTradePrice>"#,
            r#"</soap:Body></soap:Envelope>"#
        ))
    );
}

#[test]
fn values_cannot_add_markup() {
    let body = request(
        "Op",
        Some("urn:a\"b"),
        &record(&[(
            "note",
            Value::string("</note><admin>true</admin>&amp;'\"\r"),
        )]),
    )
    .expect("escapes");
    assert!(
        body.contains(r#"<Op xmlns="urn:a&quot;b"><note>&lt;/note&gt;&lt;admin&gt;true&lt;/admin&gt;&amp;amp;&apos;&quot;&#13;</note></Op>"#),
        "{body}"
    );
}

#[test]
fn nulls_are_left_out_and_control_characters_refused() {
    let body = request(
        "Op",
        None,
        &record(&[("a", Value::Null), ("n", Value::Int(3))]),
    );
    assert!(
        body.as_deref()
            .is_ok_and(|b| b.contains("<soap:Body><Op><n>3</n></Op></soap:Body>")),
        "{body:?}"
    );
    assert_eq!(
        request("Op", None, &record(&[("a", Value::string("x\u{1}"))])),
        Err("field `a`: U+0001 cannot be sent in XML 1.0".to_string())
    );
}

#[test]
fn names_must_be_xml_names() {
    assert!(valid_name("CreateOrder"));
    assert!(!valid_name("m:Create"));
    assert!(!valid_name("a b"));
    assert!(!valid_name("1a"));
}
