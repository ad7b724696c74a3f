//! Avro binary decoding of Pub/Sub payloads into JSON (and, in
//! [`encode`], the encoding of records to publish), driven by the
//! writer schema `GetSchema` returned (Avro 1.11 specification: zig-zag
//! varints, length-prefixed bytes and strings, blocked arrays and maps,
//! unions by branch index, named types referable by name).
//!
//! Written by hand rather than with `apache-avro`: subscribing and
//! publishing need only the binary form of schemas they are given, a few
//! hundred lines, while that crate
//! brings its own serde layer, big-number and UUID crates into the build.
//!
//! Salesforce writes date-times as `long` milliseconds and says so in the
//! field's `doc` (`"Data:DateTime"`, `"CreatedDate:DateTime"`) rather than
//! with a logical type; both forms become ISO-8601 text here, which is
//! what the record types (and the CometD transport) expect.

use serde_json::{Map, Value as J};
use std::collections::HashMap;

mod encode;

/// How deep schemas and values may nest (guards against recursive types).
const MAX_DEPTH: usize = 64;

/// Array and map items one payload may hold in total: items of a
/// zero-byte type (`null`) cost no input, so input length bounds nothing.
const MAX_ITEMS: usize = 1_000_000;

/// How a `long` or `int` is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hint {
    Number,
    /// Milliseconds since the epoch.
    DateTime,
    /// Days since the epoch.
    Date,
}

#[derive(Debug, Clone)]
enum Schema {
    Null,
    Boolean,
    Int(Hint),
    Long(Hint),
    Float,
    Double,
    Bytes,
    String,
    Record(Vec<(String, Schema)>),
    Enum(Vec<String>),
    Array(Box<Schema>),
    Map(Box<Schema>),
    Union(Vec<Schema>),
    Fixed(usize),
    /// A named type defined elsewhere in the schema.
    Ref(String),
}

/// A parsed writer schema.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    root: Schema,
    named: HashMap<String, Schema>,
}

impl Decoder {
    /// Parses an Avro schema (JSON text).
    pub(crate) fn parse(json: &str) -> Result<Decoder, String> {
        let value: J =
            serde_json::from_str(json).map_err(|e| format!("the schema is not JSON: {e}"))?;
        let mut named = HashMap::new();
        let root = parse(&value, "", None, &mut named, 0)?;
        Ok(Decoder { root, named })
    }

    /// Decodes one datum (no container header) into JSON.
    pub(crate) fn decode(&self, bytes: &[u8]) -> Result<J, String> {
        let mut r = Reader {
            bytes,
            at: 0,
            items: 0,
        };
        let value = self.value(&self.root, &mut r, 0)?;
        if r.at != bytes.len() {
            return Err(format!(
                "{} bytes left over after the payload's last field",
                bytes.len() - r.at
            ));
        }
        Ok(value)
    }

    fn resolve<'a>(&'a self, name: &str) -> Result<&'a Schema, String> {
        self.named
            .get(name)
            .or_else(|| self.named.get(name.rsplit('.').next().unwrap_or(name)))
            .ok_or_else(|| format!("the schema names an undefined type `{name}`"))
    }

    fn value(&self, schema: &Schema, r: &mut Reader<'_>, depth: usize) -> Result<J, String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nest deeper than {MAX_DEPTH} levels"));
        }
        Ok(match schema {
            Schema::Null => J::Null,
            Schema::Boolean => match r.byte()? {
                0 => J::Bool(false),
                1 => J::Bool(true),
                b => return Err(format!("byte {} is not a boolean ({b})", r.at - 1)),
            },
            Schema::Int(hint) | Schema::Long(hint) => {
                let n = r.long()?;
                match hint {
                    Hint::Number => J::from(n),
                    Hint::DateTime => chrono::DateTime::from_timestamp_millis(n)
                        .map(|t| J::String(aqueduct_runtime::value::json::format_timestamp(&t)))
                        .unwrap_or(J::from(n)),
                    Hint::Date => chrono::DateTime::from_timestamp(n.saturating_mul(86_400), 0)
                        .map(|t| J::String(t.date_naive().to_string()))
                        .unwrap_or(J::from(n)),
                }
            }
            Schema::Float => {
                let b = r.take(4)?;
                let f = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                serde_json::Number::from_f64(f64::from(f)).map_or(J::Null, J::Number)
            }
            Schema::Double => {
                let b = r.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                serde_json::Number::from_f64(f64::from_le_bytes(a)).map_or(J::Null, J::Number)
            }
            Schema::Bytes => {
                let n = r.len()?;
                J::String(base64_of(r.take(n)?))
            }
            Schema::String => {
                let n = r.len()?;
                let at = r.at;
                let text = std::str::from_utf8(r.take(n)?)
                    .map_err(|_| format!("the string at byte {at} is not UTF-8"))?;
                J::String(text.to_string())
            }
            Schema::Fixed(n) => J::String(base64_of(r.take(*n)?)),
            Schema::Record(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (name, field) in fields {
                    map.insert(name.clone(), self.value(field, r, depth + 1)?);
                }
                J::Object(map)
            }
            Schema::Enum(symbols) => {
                let i = r.long()?;
                let symbol = usize::try_from(i)
                    .ok()
                    .and_then(|i| symbols.get(i))
                    .ok_or_else(|| format!("enum index {i} has no symbol"))?;
                J::String(symbol.clone())
            }
            Schema::Union(branches) => {
                let i = r.long()?;
                let branch = usize::try_from(i)
                    .ok()
                    .and_then(|i| branches.get(i))
                    .ok_or_else(|| format!("union branch {i} does not exist"))?;
                self.value(branch, r, depth + 1)?
            }
            Schema::Array(items) => {
                let mut out = Vec::new();
                while let Some(n) = r.block()? {
                    for _ in 0..n {
                        out.push(self.value(items, r, depth + 1)?);
                    }
                }
                J::Array(out)
            }
            Schema::Map(values) => {
                let mut out = Map::new();
                while let Some(n) = r.block()? {
                    for _ in 0..n {
                        let key = match self.value(&Schema::String, r, depth + 1)? {
                            J::String(k) => k,
                            _ => String::new(),
                        };
                        out.insert(key, self.value(values, r, depth + 1)?);
                    }
                }
                J::Object(out)
            }
            Schema::Ref(name) => {
                let schema = self.resolve(name)?;
                self.value(schema, r, depth + 1)?
            }
        })
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The full name of a named type (`namespace.name`).
fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}.{name}")
    }
}

fn hint_of(object: &Map<String, J>, doc: Option<&str>) -> Hint {
    match object.get("logicalType").and_then(J::as_str) {
        Some("timestamp-millis") => return Hint::DateTime,
        Some("date") => return Hint::Date,
        _ => {}
    }
    match doc {
        Some(d) if d.ends_with(":DateTime") => Hint::DateTime,
        Some(d) if d.ends_with(":Date") => Hint::Date,
        _ => Hint::Number,
    }
}

fn primitive(name: &str, hint: Hint) -> Option<Schema> {
    Some(match name {
        "null" => Schema::Null,
        "boolean" => Schema::Boolean,
        "int" => Schema::Int(hint),
        "long" => Schema::Long(hint),
        "float" => Schema::Float,
        "double" => Schema::Double,
        "bytes" => Schema::Bytes,
        "string" => Schema::String,
        _ => return None,
    })
}

/// Parses a schema; `doc` is the enclosing field's (Salesforce's type hint).
fn parse(
    value: &J,
    namespace: &str,
    doc: Option<&str>,
    named: &mut HashMap<String, Schema>,
    depth: usize,
) -> Result<Schema, String> {
    if depth > MAX_DEPTH {
        return Err(format!("the schema nests deeper than {MAX_DEPTH} levels"));
    }
    let object = match value {
        J::String(name) => {
            return Ok(primitive(name, hint_of(&Map::new(), doc))
                .unwrap_or_else(|| Schema::Ref(full_name(name, namespace))));
        }
        J::Array(branches) => {
            let parsed = branches
                .iter()
                .map(|b| parse(b, namespace, doc, named, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Schema::Union(parsed));
        }
        J::Object(object) => object,
        other => return Err(format!("`{other}` is not an Avro schema")),
    };
    let ty = object
        .get("type")
        .ok_or_else(|| "a schema object has no `type`".to_string())?;
    let ty = match ty {
        J::String(t) => t.as_str(),
        // `{"type": {...}}` or `{"type": [...]}`: the type itself.
        nested => return parse(nested, namespace, doc, named, depth + 1),
    };
    let name = object.get("name").and_then(J::as_str);
    let own_namespace = object
        .get("namespace")
        .and_then(J::as_str)
        .unwrap_or(namespace);
    let register = |named: &mut HashMap<String, Schema>, schema: &Schema| {
        if let Some(name) = name {
            let full = full_name(name, own_namespace);
            let simple = full.rsplit('.').next().unwrap_or(&full).to_string();
            named.insert(simple, schema.clone());
            named.insert(full, schema.clone());
        }
    };
    let schema = match ty {
        "record" | "error" => {
            // Fields may refer to the record itself: register it first.
            if let Some(name) = name {
                let full = full_name(name, own_namespace);
                named.insert(full.clone(), Schema::Ref(full));
            }
            let fields = object
                .get("fields")
                .and_then(J::as_array)
                .ok_or_else(|| format!("record `{}` has no fields", name.unwrap_or("?")))?;
            let mut parsed = Vec::with_capacity(fields.len());
            for f in fields {
                let field_name = f
                    .get("name")
                    .and_then(J::as_str)
                    .ok_or_else(|| "a record field has no name".to_string())?;
                let field_type = f
                    .get("type")
                    .ok_or_else(|| format!("field `{field_name}` has no type"))?;
                let field_doc = f.get("doc").and_then(J::as_str);
                parsed.push((
                    field_name.to_string(),
                    parse(field_type, own_namespace, field_doc, named, depth + 1)?,
                ));
            }
            Schema::Record(parsed)
        }
        "enum" => Schema::Enum(
            object
                .get("symbols")
                .and_then(J::as_array)
                .ok_or_else(|| format!("enum `{}` has no symbols", name.unwrap_or("?")))?
                .iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect(),
        ),
        "array" => Schema::Array(Box::new(parse(
            object.get("items").unwrap_or(&J::Null),
            own_namespace,
            None,
            named,
            depth + 1,
        )?)),
        "map" => Schema::Map(Box::new(parse(
            object.get("values").unwrap_or(&J::Null),
            own_namespace,
            None,
            named,
            depth + 1,
        )?)),
        "fixed" => Schema::Fixed(
            object
                .get("size")
                .and_then(J::as_u64)
                .and_then(|s| usize::try_from(s).ok())
                .ok_or_else(|| format!("fixed `{}` has no size", name.unwrap_or("?")))?,
        ),
        other => primitive(other, hint_of(object, doc))
            .ok_or_else(|| format!("`{other}` is not an Avro type"))?,
    };
    register(named, &schema);
    Ok(schema)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    items: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| format!("the payload ends at byte {}", self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "the payload ends at byte {} inside a {n}-byte value",
                    self.bytes.len()
                )
            })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// A zig-zag varint.
    fn long(&mut self) -> Result<i64, String> {
        let start = self.at;
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
            }
        }
        Err(format!(
            "the number at byte {start} is longer than 10 bytes"
        ))
    }

    /// A length (never negative).
    fn len(&mut self) -> Result<usize, String> {
        let at = self.at;
        let n = self.long()?;
        usize::try_from(n).map_err(|_| format!("negative length {n} at byte {at}"))
    }

    /// The item count of the next block; `None` at the end.
    fn block(&mut self) -> Result<Option<usize>, String> {
        let n = self.long()?;
        if n == 0 {
            return Ok(None);
        }
        if n < 0 {
            // A negative count is followed by the block's size in bytes.
            self.long()?;
        }
        let n = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
        self.items = self.items.saturating_add(n);
        if self.items > MAX_ITEMS {
            return Err(format!("more than {MAX_ITEMS} array or map items"));
        }
        Ok(Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_primitives_unions_and_named_references() {
        let d = Decoder::parse(
            r#"{"type":"record","name":"R","namespace":"n","fields":[
                {"name":"a","type":"long"},
                {"name":"b","type":["null","string"],"default":null},
                {"name":"c","type":{"type":"enum","name":"E","symbols":["X","Y"]}},
                {"name":"d","type":["null","E"]},
                {"name":"e","type":{"type":"array","items":"int"}},
                {"name":"f","type":"double"},
                {"name":"g","type":"long","doc":"Data:DateTime"},
                {"name":"h","type":"boolean"}
            ]}"#,
        )
        .expect("schema");
        // a = -2 (zig-zag 3), b = "hi", c = Y, d = X, e = [1, -1] in one
        // block, f = 1.5, g = 0 ms, h = true
        let mut bytes = vec![3, 2, 4, b'h', b'i', 2, 2, 0, 4, 2, 1, 0];
        bytes.extend_from_slice(&1.5f64.to_le_bytes());
        bytes.extend_from_slice(&[0, 1]);
        assert_eq!(
            d.decode(&bytes).expect("decodes"),
            json!({"a": -2, "b": "hi", "c": "Y", "d": "X", "e": [1, -1], "f": 1.5,
                   "g": "1970-01-01T00:00:00Z", "h": true})
        );
    }

    #[test]
    fn truncated_or_hostile_payloads_are_errors_not_panics() {
        let d = Decoder::parse(r#"{"type":"array","items":"null"}"#).expect("schema");
        assert!(d.decode(&[]).is_err());
        // 2^62 null items: refused by count, not looped over
        let huge = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(d.decode(&huge).unwrap_err().contains("items"));
        let s = Decoder::parse(r#""string""#).expect("schema");
        assert!(s.decode(&[0x0e]).unwrap_err().contains("ends"));
        assert!(
            s.decode(&[0x7f])
                .unwrap_err()
                .contains("negative length -64")
        );
        assert!(s.decode(&[2, 0xff]).unwrap_err().contains("UTF-8"));
        assert!(Decoder::parse(r#"{"type":"wat"}"#).is_err());
        let r =
            Decoder::parse(r#"{"type":"record","name":"L","fields":[{"name":"next","type":"L"}]}"#)
                .expect("recursive schema parses");
        assert!(r.decode(&[]).is_err());
    }

    /// The independent peer: a schema and payload written from Salesforce's
    /// documentation and the Avro specification (tests/fixtures/pubsub),
    /// not by the emulator, decoded as the connector decodes events.
    #[test]
    fn decodes_a_documented_account_change_event() {
        let schema = include_str!("../../tests/fixtures/pubsub/AccountChangeEvent.avsc");
        let hex = include_str!("../../tests/fixtures/pubsub/AccountChangeEvent.update.hex");
        let bytes: Vec<u8> = hex
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default())
            .flat_map(str::split_whitespace)
            .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
            .collect();
        let d = Decoder::parse(schema).expect("the documented schema parses");
        let event = d.decode(&bytes).expect("the documented payload decodes");
        assert_eq!(
            event,
            json!({
                "ChangeEventHeader": {
                    "entityName": "Account",
                    "recordIds": ["001XX000003DGb2AAG"],
                    "changeType": "UPDATE",
                    "changeOrigin": "com/salesforce/api/rest/62.0;client=aqueduct",
                    "transactionKey": "000046c7-a642-11e2-c29b-229c6786473e",
                    "sequenceNumber": 1,
                    "commitTimestamp": 1696444513000i64,
                    "commitNumber": 11657372702432i64,
                    "commitUser": "005XX000001SvAAA",
                    "nulledFields": [],
                    "diffFields": [],
                    "changedFields": ["0x24", "2-0x04"]
                },
                "Name": null,
                "BillingAddress": {
                    "Street": null, "City": "San Francisco", "State": "CA",
                    "PostalCode": null, "Country": null, "Latitude": 37.7936, "Longitude": null
                },
                "ShippingAddress": null,
                "NumberOfEmployees": -3,
                "LastModifiedDate": "2023-10-04T18:35:13Z"
            })
        );
        // One byte short is an error naming where the payload ended.
        assert!(d.decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
