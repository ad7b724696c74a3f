//! The typed fast path of generated services: JSON text straight into the
//! generated structs, and the structs straight into JSON text, with the
//! runtime's semantics.
//!
//! - [`JsonOut`] writes a value as the compact JSON that
//!   [`crate::value::json::write_json_bytes`] writes for its run-time
//!   [`Value`] (record fields in declaration order, exact decimals, RFC 3339
//!   timestamps, non-finite floats as `null`, strings escaped as serde_json
//!   escapes them), without building that value.
//! - [`de`] holds the `deserialize_with` helpers generated structs use for
//!   `decimal`, `timestamp` and `date` fields: the same parsers the
//!   runtime's decoder uses. They only accept what the runtime accepts and
//!   decode it to the same value; anything else is an error, and the
//!   service then hands the line to the runtime's own decoder (which words
//!   the error, or accepts a coercion the fast path does not know).

use crate::value::Value;
use crate::value::json::{format_timestamp, write_json_bytes};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::io::Write as _;

/// A value written as the JSON text of its run-time value.
pub trait JsonOut {
    /// Appends the compact JSON text of `self` to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

/// A JSON string literal (serde_json's escaping, which the runtime's writer follows).
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    // writing to a Vec cannot fail
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The field name and colon of a record field (`"name":`), written before its value.
pub fn write_key(name: &str, out: &mut Vec<u8>) {
    write_str(name, out);
    out.push(b':');
}

impl JsonOut for String {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_str(self, out);
    }
}

impl JsonOut for str {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_str(self, out);
    }
}

impl JsonOut for i64 {
    fn write_json(&self, out: &mut Vec<u8>) {
        let _ = serde_json::to_writer(&mut *out, self);
    }
}

impl JsonOut for f64 {
    fn write_json(&self, out: &mut Vec<u8>) {
        // serde_json writes non-finite floats as null, as the runtime does
        let _ = serde_json::to_writer(&mut *out, self);
    }
}

impl JsonOut for bool {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl JsonOut for Decimal {
    fn write_json(&self, out: &mut Vec<u8>) {
        // exact, scale kept (`12.50`): the runtime writes the decimal's own text
        let _ = write!(out, "{self}");
    }
}

impl JsonOut for DateTime<Utc> {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_str(&format_timestamp(self), out);
    }
}

impl JsonOut for NaiveDate {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_str(&self.format("%Y-%m-%d").to_string(), out);
    }
}

impl JsonOut for Value {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_json_bytes(self, out);
    }
}

impl<T: JsonOut> JsonOut for Option<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.write_json(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

impl<T: JsonOut> JsonOut for Vec<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            v.write_json(out);
        }
        out.push(b']');
    }
}

/// `deserialize_with` helpers for the fields whose JSON form is text the
/// runtime parses itself (see the module doc).
pub mod de {
    use crate::value::json::{parse_date, parse_decimal, parse_timestamp};
    use chrono::{DateTime, NaiveDate, Utc};
    use rust_decimal::Decimal;
    use serde::de::{Deserialize, Deserializer, Error};
    use serde_json::value::RawValue;
    use std::borrow::Cow;

    /// A `decimal` from the raw JSON text of its value: a number as written
    /// (never through f64, so `0.10` keeps its scale) or a string without
    /// escapes holding one.
    pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let raw = <&RawValue>::deserialize(d)?;
        decimal_text(raw.get()).ok_or_else(|| D::Error::custom("not a decimal"))
    }

    /// A `decimal?`: null (or a missing field, with `#[serde(default)]`) is `None`.
    pub fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        let raw = <&RawValue>::deserialize(d)?;
        if raw.get() == "null" {
            return Ok(None);
        }
        decimal_text(raw.get())
            .map(Some)
            .ok_or_else(|| D::Error::custom("not a decimal"))
    }

    fn decimal_text(raw: &str) -> Option<Decimal> {
        let text = match raw.as_bytes().first() {
            Some(b'"') => raw.get(1..raw.len() - 1).filter(|t| !t.contains('\\'))?,
            Some(b'-' | b'0'..=b'9') => raw,
            _ => return None,
        };
        parse_decimal(text).ok()
    }

    /// A `timestamp` from an RFC 3339 string (the runtime's parser).
    pub fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        parse_timestamp(&s).map_err(D::Error::custom)
    }

    /// A `timestamp?`.
    pub fn opt_timestamp<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<Cow<str>>::deserialize(d)? {
            Some(s) => parse_timestamp(&s).map(Some).map_err(D::Error::custom),
            None => Ok(None),
        }
    }

    /// A `date` from a `YYYY-MM-DD` string (the runtime's parser).
    pub fn date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        parse_date(&s).map_err(D::Error::custom)
    }

    /// A `date?`.
    pub fn opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        match Option::<Cow<str>>::deserialize(d)? {
            Some(s) => parse_date(&s).map(Some).map_err(D::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::NativeValue;

    fn same<T: JsonOut + NativeValue>(v: T) {
        let mut fast = Vec::new();
        v.write_json(&mut fast);
        let mut slow = Vec::new();
        write_json_bytes(&v.into_value(), &mut slow);
        assert_eq!(
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&slow)
        );
    }

    /// Every scalar kind, with the awkward values, writes what the runtime writes.
    #[test]
    fn scalars_write_what_the_runtime_writes() {
        for s in [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "äöü 日本 🎉 \u{2028}",
        ] {
            same(s.to_string());
        }
        for i in [0i64, -1, i64::MAX, i64::MIN] {
            same(i);
        }
        for f in [
            0.0f64,
            -0.0,
            1.5,
            3.0,
            1e21,
            1e-7,
            0.1 + 0.2,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
        ] {
            same(f);
        }
        for d in [
            "0",
            "12.50",
            "-0.001",
            "79228162514264337593543950335",
            "1e3",
        ] {
            same(crate::value::json::parse_decimal(d).expect("decimal"));
        }
        same(true);
        same(Some(Decimal::new(1050, 2)));
        same(None::<String>);
        same(vec![1i64, 2, 3]);
        same(vec![Some("a".to_string()), None]);
        for t in ["2026-01-01T00:00:00Z", "2026-01-01T12:30:00.125+02:00"] {
            same(crate::value::json::parse_timestamp(t).expect("ts"));
        }
        same(NaiveDate::from_ymd_opt(2026, 2, 28).expect("date"));
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct D {
        #[serde(deserialize_with = "de::decimal")]
        a: Decimal,
        #[serde(default, deserialize_with = "de::opt_decimal")]
        b: Option<Decimal>,
        #[serde(default, deserialize_with = "de::opt_timestamp")]
        t: Option<DateTime<Utc>>,
    }

    /// Decimals keep their text (scale included); what the runtime refuses is refused.
    #[test]
    fn decimals_come_from_their_text() {
        let d: D = serde_json::from_str(r#"{"a": 0.10, "b": "12.500"}"#).expect("decodes");
        assert_eq!(d.a.to_string(), "0.10");
        assert_eq!(d.b.map(|b| b.to_string()).as_deref(), Some("12.500"));
        assert_eq!(d.t, None);
        let d: D = serde_json::from_str(r#"{"a": 1e3, "b": null}"#).expect("decodes");
        assert_eq!(d.a, Decimal::new(1000, 0));
        assert!(serde_json::from_str::<D>(r#"{"a": true}"#).is_err());
        assert!(serde_json::from_str::<D>(r#"{"a": "x"}"#).is_err());
        assert!(serde_json::from_str::<D>(r#"{"a": 1, "t": "yesterday"}"#).is_err());
    }
}
