//! `json`: a top-level array of records (or one object, one record).
//!
//! A document that is not JSON at all is one decode error; an element that
//! does not fit the declared type is an error for that element only.

use super::Codec;
use crate::support::decode_error;
use aqueduct_runtime::connector::DecodeError;
use aqueduct_runtime::value::Value;

/// Parses JSON text, with serde's line and column in the message.
pub(crate) fn parse(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("malformed JSON: {e}"))
}

/// Decodes one JSON document holding one record.
pub(super) fn decode_value(codec: &Codec, text: &str) -> Result<Value, DecodeError> {
    // straight into record slots; the slow path below words the errors
    if let Some(value) =
        aqueduct_runtime::value::json::from_json_str(text, &codec.ty, &codec.schemas)
    {
        return Ok(value);
    }
    let json = parse(text).map_err(|reason| decode_error(text, reason))?;
    Value::from_json(&json, &codec.ty, &codec.schemas).map_err(|reason| decode_error(text, reason))
}

/// Decodes a whole document: an array gives one record per element.
pub(super) fn decode_document(codec: &Codec, input: &[u8]) -> Vec<Result<Value, DecodeError>> {
    let text = String::from_utf8_lossy(input);
    if text.trim().is_empty() {
        return Vec::new();
    }
    let json = match parse(&text) {
        Ok(json) => json,
        Err(reason) => return vec![Err(decode_error(&text, reason))],
    };
    let items = match json {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| {
            Value::from_json(&item, &codec.ty, &codec.schemas)
                .map_err(|reason| decode_error(&item.to_string(), reason))
        })
        .collect()
}

/// Appends one array element (a comma first unless it is the first).
pub(super) fn encode(value: &Value, after_first: bool, out: &mut Vec<u8>) {
    if after_first {
        out.push(b',');
    }
    out.push(b'\n');
    out.extend(value.to_json_string().into_bytes());
}
