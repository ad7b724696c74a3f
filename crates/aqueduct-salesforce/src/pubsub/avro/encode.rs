//! Avro binary encoding of a record to publish, driven by the topic's
//! writer schema (the same parsed schema the subscriber decodes with):
//! the inverse of [`super::Decoder::decode`], so what the decoder shows as
//! JSON encodes back to the same bytes.
//!
//! A record is a JSON object; a field it lacks is written as null, which
//! only a union with `null` (every Salesforce data field) takes. A union
//! takes the first branch the value fits. Date-times (`long` with a
//! `…:DateTime` doc or `timestamp-millis`) take RFC 3339 text or epoch
//! milliseconds; dates (`int` days) take `YYYY-MM-DD`. A key the schema does
//! not have is an error unless its value is null, as is a value of the
//! wrong shape, each naming the field.

use super::{Decoder, Hint, Schema};
use serde_json::Value as J;

impl Decoder {
    /// Encodes one datum (no container header) of the root schema.
    pub(crate) fn encode(&self, value: &J) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        self.write(&self.root, value, &mut out, 0)?;
        Ok(out)
    }

    /// The names of the root record's fields (empty for other roots).
    pub(crate) fn field_names(&self) -> Vec<&str> {
        match &self.root {
            Schema::Record(fields) => fields.iter().map(|(n, _)| n.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    fn write(&self, schema: &Schema, v: &J, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
        if depth > super::MAX_DEPTH {
            return Err(format!(
                "values nest deeper than {} levels",
                super::MAX_DEPTH
            ));
        }
        let wrong = |what: &str| Err(format!("{v} is not {what}"));
        match schema {
            Schema::Null => {
                if !v.is_null() {
                    return wrong("null");
                }
            }
            Schema::Boolean => match v {
                J::Bool(b) => out.push(u8::from(*b)),
                _ => return wrong("a boolean"),
            },
            Schema::Int(hint) => {
                let n = number(v, *hint)?;
                if i32::try_from(n).is_err() {
                    return Err(format!("{n} does not fit an Avro int"));
                }
                long(out, n);
            }
            Schema::Long(hint) => long(out, number(v, *hint)?),
            Schema::Float => out.extend_from_slice(&(float(v)? as f32).to_le_bytes()),
            Schema::Double => out.extend_from_slice(&float(v)?.to_le_bytes()),
            Schema::Bytes => {
                let bytes = base64(v)?;
                long(out, bytes.len() as i64);
                out.extend_from_slice(&bytes);
            }
            Schema::Fixed(n) => {
                let bytes = base64(v)?;
                if bytes.len() != *n {
                    return Err(format!("{} bytes where the schema fixes {n}", bytes.len()));
                }
                out.extend_from_slice(&bytes);
            }
            Schema::String => match v {
                J::String(s) => {
                    long(out, s.len() as i64);
                    out.extend_from_slice(s.as_bytes());
                }
                _ => return wrong("text"),
            },
            Schema::Record(fields) => {
                let J::Object(map) = v else {
                    return wrong("an object");
                };
                if let Some((k, _)) = map
                    .iter()
                    .find(|(k, v)| !v.is_null() && !fields.iter().any(|(n, _)| n == *k))
                {
                    return Err(format!("`{k}` is not a field of the schema"));
                }
                for (name, field) in fields {
                    let value = map.get(name).unwrap_or(&J::Null);
                    self.write(field, value, out, depth + 1)
                        .map_err(|e| format!("`{name}`: {e}"))?;
                }
            }
            Schema::Enum(symbols) => {
                let i = v
                    .as_str()
                    .and_then(|s| symbols.iter().position(|x| x == s))
                    .ok_or_else(|| format!("{v} is not one of {}", symbols.join(", ")))?;
                long(out, i as i64);
            }
            Schema::Array(items) => {
                let J::Array(values) = v else {
                    return wrong("a list");
                };
                if !values.is_empty() {
                    long(out, values.len() as i64);
                    for item in values {
                        self.write(items, item, out, depth + 1)?;
                    }
                }
                long(out, 0);
            }
            Schema::Map(values) => {
                let J::Object(map) = v else {
                    return wrong("an object");
                };
                if !map.is_empty() {
                    long(out, map.len() as i64);
                    for (k, item) in map {
                        long(out, k.len() as i64);
                        out.extend_from_slice(k.as_bytes());
                        self.write(values, item, out, depth + 1)?;
                    }
                }
                long(out, 0);
            }
            Schema::Union(branches) => {
                let mut first_error = None;
                for (i, branch) in branches.iter().enumerate() {
                    let mut attempt = Vec::new();
                    long(&mut attempt, i as i64);
                    match self.write(branch, v, &mut attempt, depth + 1) {
                        Ok(()) => {
                            out.extend_from_slice(&attempt);
                            return Ok(());
                        }
                        Err(e) => {
                            if !matches!(branch, Schema::Null) && first_error.is_none() {
                                first_error = Some(e);
                            }
                        }
                    }
                }
                return Err(first_error.unwrap_or_else(|| format!("{v} fits no branch")));
            }
            Schema::Ref(name) => {
                let schema = self.resolve(name)?;
                self.write(schema, v, out, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// Zig-zag varint.
fn long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// An `int` or `long`: an integer, or the text of a date-time or date.
fn number(v: &J, hint: Hint) -> Result<i64, String> {
    if let Some(n) = v.as_i64() {
        return Ok(n);
    }
    if let Some(f) = v.as_f64()
        && f.fract() == 0.0
        && f.abs() < 9.0e15
    {
        return Ok(f as i64);
    }
    match (hint, v.as_str()) {
        (Hint::DateTime, Some(text)) => {
            let text = crate::convert::normalize_datetime(text);
            chrono::DateTime::parse_from_rfc3339(&text)
                .map(|t| t.timestamp_millis())
                .map_err(|_| format!("`{text}` is not an RFC 3339 date-time"))
        }
        (Hint::Date, Some(text)) => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|d| {
                d.signed_duration_since(chrono::NaiveDate::default())
                    .num_days()
            })
            .map_err(|_| format!("`{text}` is not a YYYY-MM-DD date")),
        _ => Err(format!("{v} is not an integer")),
    }
}

/// A `float` or `double`: a number, or its text (decimals may be text).
fn float(v: &J) -> Result<f64, String> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| format!("{v} is not a number"))
}

fn base64(v: &J) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let text = v
        .as_str()
        .ok_or_else(|| format!("{v} is not base64 text"))?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| format!("`{text}` is not base64"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_the_decoder_shows_encodes_back_to_the_same_bytes() {
        let d = Decoder::parse(
            r#"{"type":"record","name":"R","namespace":"n","fields":[
                {"name":"a","type":"long"},
                {"name":"b","type":["null","string"],"default":null},
                {"name":"c","type":{"type":"enum","name":"E","symbols":["X","Y"]}},
                {"name":"d","type":["null","E"]},
                {"name":"e","type":{"type":"array","items":"int"}},
                {"name":"f","type":"double"},
                {"name":"g","type":"long","doc":"Data:DateTime"},
                {"name":"h","type":"boolean"},
                {"name":"i","type":{"type":"int","logicalType":"date"}}
            ]}"#,
        )
        .expect("schema");
        let value = json!({"a": -2, "b": "hi", "c": "Y", "d": "X", "e": [1, -1], "f": 1.5,
                           "g": "1970-01-01T00:00:01.5Z", "h": true, "i": "1970-01-03"});
        let bytes = d.encode(&value).expect("encodes");
        // a = -2 (zig-zag 3), b = branch 1 "hi", c = 1, d = branch 1 index 0,
        // e = one block of 2 items then 0, f = 1.5, g = 1500 ms, h, i = 2 days
        let mut expected = vec![3, 2, 4, b'h', b'i', 2, 2, 0, 4, 2, 1, 0];
        expected.extend_from_slice(&1.5f64.to_le_bytes());
        expected.extend_from_slice(&[0xb8, 0x17, 1, 4]);
        assert_eq!(bytes, expected);
        let back = d.decode(&bytes).expect("decodes");
        assert_eq!(back["g"], "1970-01-01T00:00:01.500Z");
        assert_eq!(d.encode(&back).expect("again"), bytes);
        assert_eq!(
            d.field_names(),
            ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        );
    }

    #[test]
    fn values_that_do_not_fit_name_their_field() {
        let d = Decoder::parse(
            r#"{"type":"record","name":"R","fields":[
                {"name":"CreatedDate","type":"long"},
                {"name":"Note__c","type":["null","string"]},
                {"name":"Count__c","type":["null","int"]}
            ]}"#,
        )
        .expect("schema");
        let err = |v: serde_json::Value| d.encode(&v).expect_err("refused");
        assert_eq!(
            err(json!({"Note__c": "x"})),
            "`CreatedDate`: null is not an integer"
        );
        assert_eq!(
            err(json!({"CreatedDate": 1, "Note__c": 5})),
            "`Note__c`: 5 is not text"
        );
        assert_eq!(
            err(json!({"CreatedDate": 1, "Count__c": 5_000_000_000i64})),
            "`Count__c`: 5000000000 does not fit an Avro int"
        );
        assert_eq!(
            err(json!({"CreatedDate": 1, "Other__c": 1})),
            "`Other__c` is not a field of the schema"
        );
        // an unknown key that is null is left out, a missing optional is null
        assert_eq!(
            d.encode(&json!({"CreatedDate": 1, "Other__c": null}))
                .expect("encodes"),
            vec![2, 0, 0]
        );
    }
}
