//! `text` (`{ line: string }`, one per line) and `bytes` (`{ bytes: bytes }`,
//! the whole input).

use super::{Codec, build_record, fields_of};
use crate::support::decode_error;
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{ConnectorError, DecodeError};
use aqueduct_runtime::value::Value;
use std::sync::Arc;

/// A record whose field `name` is `value` (other fields null).
fn single_field(codec: &Codec, name: &str, value: Value, raw: &str) -> Result<Value, DecodeError> {
    let Some(layout) = codec.layout() else {
        if codec.ty.required() == &Type::String && name == "line" {
            return Ok(value);
        }
        let json = serde_json::json!({ name: value.to_json() });
        return Ok(Value::Json(Arc::new(json)));
    };
    if layout.slot(name).is_none() {
        return Err(decode_error(
            raw,
            format!("the record type `{}` has no `{name}` field", layout.name),
        ));
    }
    build_record(&layout, |f| {
        Ok(if f.name == name {
            value.clone()
        } else {
            Value::Null
        })
    })
    .map_err(|reason| decode_error(raw, reason))
}

/// Decodes one line of text.
pub(super) fn decode_line(codec: &Codec, line: &str) -> Result<Value, DecodeError> {
    single_field(codec, "line", Value::String(Arc::from(line)), line)
}

/// Decodes a whole input as bytes.
pub(super) fn decode_bytes(codec: &Codec, input: &[u8]) -> Result<Value, DecodeError> {
    let raw = String::from_utf8_lossy(&input[..input.len().min(256)]).into_owned();
    single_field(codec, "bytes", Value::Bytes(Arc::from(input)), &raw)
}

/// The value of field `name` of a record.
fn field(value: &Value, name: &str) -> Option<Value> {
    fields_of(value)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// Appends the `line` field and a newline.
pub(super) fn encode_line(value: &Value, out: &mut Vec<u8>) -> Result<(), ConnectorError> {
    let line = match value {
        Value::String(s) => s.to_string(),
        other => field(other, "line")
            .ok_or_else(|| {
                ConnectorError::Permanent(
                    "format text needs records with a `line` field".to_string(),
                )
            })?
            .to_text(),
    };
    out.extend(line.into_bytes());
    out.push(b'\n');
    Ok(())
}

/// Appends the `bytes` field as is.
pub(super) fn encode_bytes(value: &Value, out: &mut Vec<u8>) -> Result<(), ConnectorError> {
    match field(value, "bytes") {
        Some(Value::Bytes(b)) => out.extend_from_slice(&b),
        Some(other) => out.extend(other.to_text().into_bytes()),
        None => {
            return Err(ConnectorError::Permanent(
                "format bytes needs records with a `bytes` field".to_string(),
            ));
        }
    }
    Ok(())
}
