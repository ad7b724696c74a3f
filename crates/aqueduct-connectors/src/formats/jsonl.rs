//! `jsonl`: one JSON object per line; blank lines are skipped.

use super::Codec;
use aqueduct_runtime::connector::DecodeError;
use aqueduct_runtime::value::Value;

/// Decodes one line; `None` for a blank line.
pub(super) fn decode_line(codec: &Codec, line: &str) -> Option<Result<Value, DecodeError>> {
    if line.trim().is_empty() {
        return None;
    }
    Some(super::json::decode_value(codec, line))
}

/// Appends one record as a line of compact JSON.
pub(super) fn encode(value: &Value, out: &mut Vec<u8>) {
    aqueduct_runtime::value::json::write_json_bytes(value, out);
    out.push(b'\n');
}
