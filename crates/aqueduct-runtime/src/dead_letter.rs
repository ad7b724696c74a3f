//! Dead-letter entries: what a record that keeps failing becomes.
//!
//! One entry per record, written to the flow's `dead_letter` target as a
//! record whose JSON form is
//! `{"record": …, "error": "…", "flow": "…", "step": "s3", "attempts": 3, "at": "RFC 3339"}`;
//! a record that could not be decoded carries `"raw": "…"` (the input text)
//! instead of `"record"`, or `"raw_base64": "…"` (the input bytes in
//! base64) when the input was not valid UTF-8. Error texts pass through [`crate::secrets::redact`].

use crate::value::{Layout, Record, Value};
use aqueduct_graph::{FieldType, Type};
use chrono::{DateTime, Utc};
use std::sync::{Arc, OnceLock};

fn layout(first: &str, first_ty: Type) -> Arc<Layout> {
    let f = |name: &str, ty: Type| FieldType {
        name: name.into(),
        ty,
        doc: Vec::new(),
    };
    Arc::new(Layout {
        name: "DeadLetter".into(),
        fields: vec![
            f(first, first_ty),
            f("error", Type::String),
            f("flow", Type::String),
            f("step", Type::String),
            f("attempts", Type::Int),
            f("at", Type::Timestamp),
        ],
    })
}

fn record_layout() -> Arc<Layout> {
    static L: OnceLock<Arc<Layout>> = OnceLock::new();
    L.get_or_init(|| layout("record", Type::Json)).clone()
}

fn raw_layout() -> Arc<Layout> {
    static L: OnceLock<Arc<Layout>> = OnceLock::new();
    L.get_or_init(|| layout("raw", Type::String)).clone()
}

fn raw_bytes_layout() -> Arc<Layout> {
    static L: OnceLock<Arc<Layout>> = OnceLock::new();
    L.get_or_init(|| layout("raw_base64", Type::String)).clone()
}

/// What went wrong with a record, for its dead-letter entry.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    /// The flow.
    pub flow: &'a str,
    /// The step id (`s3`), or `source` for decode errors.
    pub step: &'a str,
    /// The error text (redacted here).
    pub error: &'a str,
    /// Attempts made (1 when not retried).
    pub attempts: u32,
    /// When it was given up.
    pub at: DateTime<Utc>,
}

fn entry(layout: Arc<Layout>, first: Value, f: &Failure<'_>) -> Value {
    Value::Record(Arc::new(Record {
        layout,
        slots: vec![
            first,
            Value::string(crate::secrets::redact(f.error)),
            Value::string(f.flow),
            Value::string(f.step),
            Value::Int(i64::from(f.attempts)),
            Value::Timestamp(f.at),
        ],
    }))
}

/// The entry for a record that failed.
pub fn for_record(record: &Value, failure: &Failure<'_>) -> Value {
    let json = match record {
        Value::Json(_) => record.clone(),
        other => Value::Json(Arc::new(other.to_json())),
    };
    // keep record field order and exact decimals: carry the typed record itself
    let first = if matches!(record, Value::Record(_)) {
        record.clone()
    } else {
        json
    };
    entry(record_layout(), first, failure)
}

/// The entry for input that could not be decoded.
pub fn for_raw(raw: &str, failure: &Failure<'_>) -> Value {
    entry(raw_layout(), Value::string(raw), failure)
}

/// The entry for input bytes that are not text (`base64`: their base64).
pub fn for_raw_bytes(base64: &str, failure: &Failure<'_>) -> Value {
    entry(raw_bytes_layout(), Value::string(base64), failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_have_the_documented_shape() {
        let at = crate::value::json::parse_timestamp("2026-01-01T00:00:00Z").expect("ts");
        let f = Failure {
            flow: "orders",
            step: "s3",
            error: "HTTP 500",
            attempts: 3,
            at,
        };
        let e = for_record(&Value::Json(Arc::new(serde_json::json!({"id": 1}))), &f);
        assert_eq!(
            e.to_json_string(),
            r#"{"record":{"id":1},"error":"HTTP 500","flow":"orders","step":"s3","attempts":3,"at":"2026-01-01T00:00:00Z"}"#
        );
        let raw = for_raw(
            "{oops",
            &Failure {
                step: "source",
                attempts: 1,
                ..f
            },
        );
        assert!(raw.to_json_string().starts_with(
            r#"{"raw":"{oops","error":"HTTP 500","flow":"orders","step":"source","attempts":1"#
        ));
    }
}
