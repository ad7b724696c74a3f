//! JSON ↔ [`Value`] by type, and graph constants → values.
//!
//! Decoding is driven by the checked type: record fields are looked up by
//! name and stored by slot, unknown JSON fields are ignored, a missing or
//! null optional field is null, and a missing required field or a value of
//! the wrong kind is an error that names the field path and the expected type.

use super::{Layout, Record, Schemas, Value};
use aqueduct_graph::Type;
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use std::fmt;
use std::sync::Arc;

pub mod exact;
pub(crate) mod number;
mod seed;

/// A conversion failure: where (a field path, innermost last) and what.
#[derive(Debug, Clone)]
pub struct ConvError {
    path: Vec<String>,
    message: String,
}

impl ConvError {
    fn new(message: impl Into<String>) -> ConvError {
        ConvError {
            path: Vec::new(),
            message: message.into(),
        }
    }

    fn at(mut self, segment: String) -> ConvError {
        self.path.push(segment);
        self
    }
}

impl fmt::Display for ConvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            return f.write_str(&self.message);
        }
        let mut path = String::new();
        for seg in self.path.iter().rev() {
            if !seg.starts_with('[') && !path.is_empty() {
                path.push('.');
            }
            path.push_str(seg);
        }
        write!(f, "field `{path}`: {}", self.message)
    }
}

fn json_kind(json: &serde_json::Value) -> &'static str {
    match json {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn mismatch(ty: &Type, json: &serde_json::Value) -> ConvError {
    ConvError::new(format!("expected {ty}, found {}", json_kind(json)))
}

/// A JSON value read out of an untyped document: JSON `null` becomes [`Value::Null`].
pub fn json_value(json: &serde_json::Value) -> Value {
    if json.is_null() {
        Value::Null
    } else {
        Value::Json(Arc::new(json.clone()))
    }
}

/// Decodes JSON text straight into a value of type `ty` (records by field
/// name into slots, no intermediate document). `None` when the text is not
/// a valid document of that type: parse it and use [`from_json`] for the
/// error, which names the field and the expected type.
pub fn from_json_str(text: &str, ty: &Type, schemas: &Schemas) -> Option<Value> {
    seed::decode(text, ty, schemas)
}

/// Decodes `json` as a value of type `ty`.
pub fn from_json(
    json: &serde_json::Value,
    ty: &Type,
    schemas: &Schemas,
) -> Result<Value, ConvError> {
    use serde_json::Value as J;
    if let Type::Optional(inner) = ty {
        return if json.is_null() {
            Ok(Value::Null)
        } else {
            from_json(json, inner, schemas)
        };
    }
    match (ty, json) {
        (Type::Json, _) => Ok(json_value(json)),
        (Type::Null, J::Null) => Ok(Value::Null),
        (_, J::Null) => Err(ConvError::new(format!("expected {ty}, found null"))),
        (Type::String, J::String(s)) => Ok(Value::String(s.as_str().into())),
        (Type::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Int | Type::Duration, J::Number(n)) => match n.as_i64() {
            Some(i) => Ok(Value::Int(i)),
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::Int(f as i64)),
                _ => Err(ConvError::new(format!("expected int, found {n}"))),
            },
        },
        (Type::Float, J::Number(n)) => n
            .as_f64()
            .map(Value::Float)
            .ok_or_else(|| mismatch(ty, json)),
        (Type::Decimal, J::Number(n)) => {
            // a number the fast path refused for its digits arrives here as
            // its f64, which would pass as a rounded decimal
            if let Some(why) = n
                .as_f64()
                .filter(|_| !n.is_i64() && !n.is_u64())
                .and_then(seed::refused)
            {
                return Err(ConvError::new(why));
            }
            parse_decimal(&n.to_string())
                .map(Value::Decimal)
                .map_err(ConvError::new)
        }
        (Type::Decimal, J::String(s)) => {
            parse_decimal(s).map(Value::Decimal).map_err(ConvError::new)
        }
        (Type::Timestamp, J::String(s)) => parse_timestamp(s)
            .map(Value::Timestamp)
            .map_err(ConvError::new),
        (Type::Date, J::String(s)) => parse_date(s).map(Value::Date).map_err(ConvError::new),
        (Type::Bytes, J::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(|b| Value::Bytes(b.into()))
            .map_err(|e| ConvError::new(format!("expected base64 bytes: {e}"))),
        (Type::List(elem), J::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(from_json(item, elem, schemas).map_err(|e| e.at(format!("[{i}]")))?);
            }
            Ok(Value::List(Arc::new(out)))
        }
        (Type::Record(name), J::Object(map)) => {
            let layout = layout(schemas, name)?;
            let mut slots = Vec::with_capacity(layout.fields.len());
            for field in &layout.fields {
                let value = match map.get(&field.name) {
                    Some(v) => {
                        from_json(v, &field.ty, schemas).map_err(|e| e.at(field.name.clone()))?
                    }
                    None if field.ty.is_optional() => Value::Null,
                    None => {
                        return Err(ConvError::new(format!(
                            "missing required field (expected {})",
                            field.ty
                        ))
                        .at(field.name.clone()));
                    }
                };
                slots.push(value);
            }
            Ok(Value::Record(Arc::new(Record {
                layout: layout.clone(),
                slots,
            })))
        }
        _ => Err(mismatch(ty, json)),
    }
}

fn layout<'a>(schemas: &'a Schemas, name: &str) -> Result<&'a Arc<Layout>, ConvError> {
    schemas
        .layout(name)
        .ok_or_else(|| ConvError::new(format!("unknown record type `{name}`")))
}

/// Parses a decimal written plainly (`12.50`) or in scientific notation
/// (`1e3`), exactly: text with more digits than a decimal holds is an
/// error, never rounded ([`exact`]).
pub fn parse_decimal(text: &str) -> Result<Decimal, String> {
    exact::parse(text).map_err(|e| match e {
        exact::Inexact::TooManyDigits(message) => message,
        exact::Inexact::NotADecimal => format!("expected decimal, found `{}`", truncate(text)),
    })
}

/// Parses an RFC 3339 timestamp (a naive `YYYY-MM-DDTHH:MM:SS` is read as UTC).
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc()))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc()))
        .map_err(|_| format!("expected an RFC 3339 timestamp, found `{}`", truncate(text)))
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("expected a YYYY-MM-DD date, found `{}`", truncate(text)))
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= 40 {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(40).collect::<String>())
    }
}

/// RFC 3339 text of a timestamp (`2026-01-01T00:00:00Z`, fractions only when present).
pub fn format_timestamp(ts: &DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The decimal as a JSON number when an `f64` holds it exactly, else as a string.
fn decimal_json(d: &Decimal) -> serde_json::Value {
    if let Some(f) = d.to_f64()
        && Decimal::from_f64(f).map(|back| back == *d).unwrap_or(false)
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        // integers stay integers (`3`, not `3.0`)
        if d.fract().is_zero()
            && let Some(i) = d.to_i64()
        {
            return serde_json::Value::from(i);
        }
        return serde_json::Value::Number(n);
    }
    serde_json::Value::String(d.to_string())
}

/// The value as a `serde_json` value (see [`Value::to_json`]).
pub fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::Decimal(d) => decimal_json(d),
        Value::String(s) => J::String(s.to_string()),
        Value::Timestamp(t) => J::String(format_timestamp(t)),
        Value::Date(d) => J::String(d.format("%Y-%m-%d").to_string()),
        Value::Bytes(b) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::List(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Record(r) => J::Object(
            r.layout
                .fields
                .iter()
                .zip(&r.slots)
                .map(|(f, v)| (f.name.clone(), to_json(v)))
                .collect(),
        ),
        Value::Json(j) => (**j).clone(),
    }
}

/// Where JSON text goes: a `String` or a byte buffer.
trait Sink {
    fn text(&mut self, s: &str);
    fn display(&mut self, d: impl fmt::Display);
}

impl Sink for String {
    fn text(&mut self, s: &str) {
        self.push_str(s);
    }
    fn display(&mut self, d: impl fmt::Display) {
        use std::fmt::Write as _;
        let _ = write!(self, "{d}");
    }
}

impl Sink for Vec<u8> {
    fn text(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
    fn display(&mut self, d: impl fmt::Display) {
        use std::io::Write as _;
        let _ = write!(self, "{d}");
    }
}

/// A JSON string literal, escaped the way `serde_json` escapes (quotes,
/// backslashes and control characters; everything else as UTF-8).
fn write_str<S: Sink>(s: &str, out: &mut S) {
    out.text("\"");
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        if start < i {
            out.text(&s[start..i]);
        }
        if esc.is_empty() {
            out.display(format_args!("\\u{:04x}", b));
        } else {
            out.text(esc);
        }
        start = i + 1;
    }
    if start < bytes.len() {
        out.text(&s[start..]);
    }
    out.text("\"");
}

/// A JSON string literal into a byte buffer, escaped as [`write_json_bytes`]
/// escapes it (the fused batch path writes its fields with it).
pub(crate) fn write_json_str(s: &str, out: &mut Vec<u8>) {
    write_str(s, out);
}

/// Writes compact JSON text, keeping record field order and exact decimals.
pub fn write_json(value: &Value, out: &mut String) {
    write_to(value, out);
}

/// [`write_json`] into a byte buffer (what line-based writers append to).
pub fn write_json_bytes(value: &Value, out: &mut Vec<u8>) {
    write_to(value, out);
}

fn write_to<S: Sink>(value: &Value, out: &mut S) {
    match value {
        Value::Null => out.text("null"),
        Value::Bool(b) => out.text(if *b { "true" } else { "false" }),
        Value::Int(i) => out.display(i),
        Value::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => out.display(n),
            None => out.text("null"),
        },
        Value::Decimal(d) => out.display(d),
        Value::List(items) => {
            out.text("[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.text(",");
                }
                write_to(item, out);
            }
            out.text("]");
        }
        Value::Record(r) => {
            out.text("{");
            for (i, (f, v)) in r.layout.fields.iter().zip(&r.slots).enumerate() {
                if i > 0 {
                    out.text(",");
                }
                write_str(&f.name, out);
                out.text(":");
                write_to(v, out);
            }
            out.text("}");
        }
        Value::String(s) => write_str(s, out),
        Value::Json(j) => out.display(j),
        other => out.display(to_json(other)),
    }
}

/// Converts a graph constant into a value of type `ty` (see [`Value::from_constant`]).
pub fn from_constant(
    value: &aqueduct_graph::Value,
    ty: &Type,
    schemas: &Schemas,
) -> Result<Value, String> {
    constant(value, ty, schemas).map_err(|e| e.to_string())
}

fn constant(
    value: &aqueduct_graph::Value,
    ty: &Type,
    schemas: &Schemas,
) -> Result<Value, ConvError> {
    use aqueduct_graph::Value as C;
    let want = ty.required();
    Ok(match (value, want) {
        (C::Null, _) => Value::Null,
        (C::Record { ty: name, fields }, _) => {
            let layout = layout(schemas, name)?;
            let mut slots = Vec::with_capacity(layout.fields.len());
            for (i, field) in layout.fields.iter().enumerate() {
                let v = match fields.get(i) {
                    Some(v) => {
                        constant(v, &field.ty, schemas).map_err(|e| e.at(field.name.clone()))?
                    }
                    None => Value::Null,
                };
                slots.push(v);
            }
            Value::Record(Arc::new(Record {
                layout: layout.clone(),
                slots,
            }))
        }
        (C::Object(fields), Type::Record(name)) => {
            let layout = layout(schemas, name)?;
            let mut slots = Vec::with_capacity(layout.fields.len());
            for field in &layout.fields {
                let v = match fields.iter().find(|(n, _)| *n == field.name) {
                    Some((_, v)) => {
                        constant(v, &field.ty, schemas).map_err(|e| e.at(field.name.clone()))?
                    }
                    None => Value::Null,
                };
                slots.push(v);
            }
            Value::Record(Arc::new(Record {
                layout: layout.clone(),
                slots,
            }))
        }
        (C::List(items), _) => {
            let elem = match want {
                Type::List(e) => (**e).clone(),
                _ => Type::Json,
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(constant(item, &elem, schemas).map_err(|e| e.at(format!("[{i}]")))?);
            }
            if matches!(want, Type::Json) {
                return Ok(Value::Json(Arc::new(serde_json::Value::Array(
                    out.iter().map(to_json).collect(),
                ))));
            }
            Value::List(Arc::new(out))
        }
        (C::Object(fields), _) => {
            let map = fields
                .iter()
                .map(|(n, v)| constant(v, &Type::Json, schemas).map(|v| (n.clone(), to_json(&v))))
                .collect::<Result<serde_json::Map<_, _>, _>>()?;
            Value::Json(Arc::new(serde_json::Value::Object(map)))
        }
        (scalar, Type::Json) => {
            let v = constant(scalar, &natural_type(scalar), schemas)?;
            Value::Json(Arc::new(to_json(&v)))
        }
        (C::Bool(b), _) => Value::Bool(*b),
        (C::Int(i), Type::Decimal) => Value::Decimal(Decimal::from(*i)),
        (C::Int(i), Type::Float) => Value::Float(*i as f64),
        (C::Int(i), _) => Value::Int(*i),
        (C::Float(f), Type::Decimal) => Value::Decimal(
            Decimal::from_f64(*f).ok_or_else(|| ConvError::new(format!("{f} is not a decimal")))?,
        ),
        (C::Float(f), _) => Value::Float(*f),
        (C::Decimal(d), Type::Float) => Value::Float(
            parse_decimal(d)
                .map_err(ConvError::new)?
                .to_f64()
                .unwrap_or(f64::NAN),
        ),
        (C::Decimal(d), _) => Value::Decimal(parse_decimal(d).map_err(ConvError::new)?),
        (C::String(s) | C::Timestamp(s), Type::Timestamp) => {
            Value::Timestamp(parse_timestamp(s).map_err(ConvError::new)?)
        }
        (C::String(s) | C::Date(s), Type::Date) => {
            Value::Date(parse_date(s).map_err(ConvError::new)?)
        }
        (C::String(s), Type::Decimal) => Value::Decimal(parse_decimal(s).map_err(ConvError::new)?),
        (C::String(s), _) => Value::String(s.as_str().into()),
        (C::Timestamp(s), _) => Value::Timestamp(parse_timestamp(s).map_err(ConvError::new)?),
        (C::Date(s), _) => Value::Date(parse_date(s).map_err(ConvError::new)?),
        (C::Duration(ms), _) => Value::Int(i64::try_from(*ms).unwrap_or(i64::MAX)),
    })
}

/// The type a constant has on its own.
fn natural_type(value: &aqueduct_graph::Value) -> Type {
    use aqueduct_graph::Value as C;
    match value {
        C::Null => Type::Null,
        C::Bool(_) => Type::Bool,
        C::Int(_) | C::Duration(_) => Type::Int,
        C::Float(_) => Type::Float,
        C::Decimal(_) => Type::Decimal,
        C::String(_) => Type::String,
        C::Timestamp(_) => Type::Timestamp,
        C::Date(_) => Type::Date,
        C::List(_) | C::Object(_) => Type::Json,
        C::Record { ty, .. } => Type::Record(ty.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqueduct_graph::{FieldType, Graph, RecordType};

    fn schemas() -> Schemas {
        let field = |n: &str, t: &str| FieldType {
            name: n.into(),
            ty: Type::parse(t).expect("type"),
            doc: vec![],
        };
        let graph = Graph {
            types: vec![
                RecordType {
                    name: "Order".into(),
                    fields: vec![
                        field("id", "string"),
                        field("amount", "decimal"),
                        field("note", "string?"),
                        field("lines", "[Line]"),
                    ],
                    doc: vec![],
                },
                RecordType {
                    name: "Line".into(),
                    fields: vec![field("qty", "int")],
                    doc: vec![],
                },
            ],
            ..Graph::default()
        };
        Schemas::new(&graph)
    }

    #[test]
    fn decodes_records_by_field_name() {
        let s = schemas();
        let j =
            serde_json::json!({"amount": 12.50, "id": "A1", "extra": true, "lines": [{"qty": 2}]});
        let v = Value::from_json(&j, &Type::Record("Order".into()), &s).expect("decodes");
        assert_eq!(
            v.to_json_string(),
            r#"{"id":"A1","amount":12.5,"note":null,"lines":[{"qty":2}]}"#
        );
        assert_eq!(v.field("note"), Value::Null);
    }

    #[test]
    fn errors_name_the_field_and_type() {
        let s = schemas();
        let ty = Type::Record("Order".into());
        let missing = Value::from_json(&serde_json::json!({"amount": 1, "lines": []}), &ty, &s);
        assert_eq!(
            missing,
            Err("field `id`: missing required field (expected string)".into())
        );
        let wrong = Value::from_json(
            &serde_json::json!({"id": "x", "amount": 1, "lines": [{"qty": "2"}]}),
            &ty,
            &s,
        );
        assert_eq!(
            wrong,
            Err("field `lines[0].qty`: expected int, found a string".into())
        );
    }

    #[test]
    fn decimals_stay_exact() {
        let s = schemas();
        let v = Value::from_json(&serde_json::json!("0.10"), &Type::Decimal, &s).expect("decimal");
        assert_eq!(v.to_json_string(), "0.10");
        assert_eq!(v.to_json(), serde_json::json!(0.1));
        let big = Value::Decimal(parse_decimal("12345678901234567890.123").expect("parses"));
        assert_eq!(big.to_json(), serde_json::json!("12345678901234567890.123"));
    }

    #[test]
    fn json_numbers_read_as_decimals_keep_their_text() {
        let s = schemas();
        let ty = Type::Record("Order".into());
        for (amount, written) in [
            ("12345678901234567.89", "12345678901234567.89"),
            ("0.10", "0.10"),
            ("-3", "-3"),
            ("1.5e2", "150"),
            ("\"7.250\"", "7.250"),
        ] {
            let text = format!(r#"{{"id":"a","amount":{amount},"lines":[]}}"#);
            let v = from_json_str(&text, &ty, &s).unwrap_or_else(|| panic!("decodes {text}"));
            assert_eq!(v.field("amount").to_json_string(), written, "{text}");
        }
        let list = Type::parse("[decimal?]").expect("type");
        let v = from_json_str("[0.30, null, \"1.00\"]", &list, &s).expect("decodes");
        assert_eq!(v.to_json_string(), "[0.30,null,1.00]");
        // not decimals: left to the slow path (which words the error)
        for bad in ["true", "{}", "[1]", "\"x\"", "null"] {
            assert_eq!(from_json_str(bad, &Type::Decimal, &s), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_round_trip() {
        let s = schemas();
        let v = Value::from_json(
            &serde_json::json!("2026-01-01T01:00:00+01:00"),
            &Type::Timestamp,
            &s,
        )
        .expect("ts");
        assert_eq!(v.to_json(), serde_json::json!("2026-01-01T00:00:00Z"));
    }
}
