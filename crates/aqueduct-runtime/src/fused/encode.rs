//! Encoding the fused path's output record as one JSON line, byte for byte
//! what `value::json::write_json_bytes` and the jsonl target write for the
//! same record: fields in slot order, nulls written, strings escaped by the
//! same function, floats through `serde_json::Number` as there.

use super::expr::FVal;
use std::io::Write as _;

/// Field names, pre-encoded: `{"id":`, `,"name":`, ….
#[derive(Debug)]
pub(crate) struct Keys(Vec<Vec<u8>>);

impl Keys {
    pub(crate) fn new<'a>(names: impl Iterator<Item = &'a str>) -> Keys {
        Keys(
            names
                .enumerate()
                .map(|(i, name)| {
                    let mut k = vec![if i == 0 { b'{' } else { b',' }];
                    crate::value::json::write_json_str(name, &mut k);
                    k.push(b':');
                    k
                })
                .collect(),
        )
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Appends the record `slots` (named by `keys`) and a line end to `out`.
pub(crate) fn record(keys: &Keys, slots: &[FVal<'_>], out: &mut Vec<u8>) {
    if keys.0.is_empty() {
        out.extend_from_slice(b"{}");
    }
    for (key, value) in keys.0.iter().zip(slots) {
        out.extend_from_slice(key);
        scalar(value, out);
    }
    if !keys.0.is_empty() {
        out.push(b'}');
    }
    out.push(b'\n');
}

fn scalar(value: &FVal<'_>, out: &mut Vec<u8>) {
    match value {
        FVal::Null => out.extend_from_slice(b"null"),
        FVal::Bool(true) => out.extend_from_slice(b"true"),
        FVal::Bool(false) => out.extend_from_slice(b"false"),
        FVal::Int(i) => int(*i, out),
        FVal::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => out.extend_from_slice(b"null"),
        },
        FVal::Str(s) => crate::value::json::write_json_str(s, out),
    }
}

/// An i64 in decimal (what `Display` writes), without the formatter.
fn int(i: i64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[at..]);
}
