//! The Avro side of the emulator's Pub/Sub API: the writer schema of each
//! topic, derived from the sObject's fields the way Salesforce shapes its
//! own (namespace `com.sforce.eventbus`, a `ChangeEventHeader` record first
//! in change events, every data field an optional `["null", T]` with a
//! `doc` naming its Salesforce type), and the binary encoding of an event's
//! payload with it.
//!
//! Date-times are `long` milliseconds marked by `doc` (`…:DateTime`), as
//! Salesforce writes them; dates are `int` days with the `date` logical
//! type (unconfirmed for real orgs). In change events `changedFields`,
//! `nulledFields` and `diffFields` are bitmaps as on the Pub/Sub API: one
//! `"0x…"` hex string whose bit i (counting from the least significant)
//! stands for field i of the schema.

use crate::clock::parse_datetime;
use crate::events::{change_schema_id, event_schema_id};
use crate::schema::{FieldType, ObjectDef};
use serde_json::{Value, json};

/// The change types, in the order of the `ChangeType` enum.
const CHANGE_TYPES: [&str; 9] = [
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
];

/// The Avro shape of a data field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    String,
    Boolean,
    Int,
    Double,
    DateTime,
    Date,
}

/// The writer schema of one topic.
#[derive(Debug, Clone)]
pub struct EventSchema {
    /// Its id (the CometD events' `schema`).
    pub id: String,
    /// The schema as JSON text.
    pub json: String,
    /// Whether it is a change event's (header first) rather than a
    /// platform event's (`CreatedDate`, `CreatedById` first).
    pub(super) change: bool,
    /// Data fields after the header (change events) or the audit fields
    /// (platform events).
    pub(super) fields: Vec<(String, Kind)>,
}

fn kind_of(t: FieldType) -> Kind {
    match t {
        FieldType::Boolean => Kind::Boolean,
        FieldType::Int => Kind::Int,
        FieldType::Double | FieldType::Currency | FieldType::Percent => Kind::Double,
        FieldType::Datetime => Kind::DateTime,
        FieldType::Date => Kind::Date,
        _ => Kind::String,
    }
}

fn field_json(name: &str, kind: Kind, sf_type: &str) -> Value {
    let ty = match kind {
        Kind::String => json!("string"),
        Kind::Boolean => json!("boolean"),
        Kind::Int => json!("int"),
        Kind::Double => json!("double"),
        Kind::DateTime => json!("long"),
        Kind::Date => json!({"type": "int", "logicalType": "date"}),
    };
    json!({"name": name, "type": ["null", ty], "doc": format!("Data:{sf_type}"), "default": null})
}

fn sf_type(kind: Kind) -> &'static str {
    match kind {
        Kind::String => "Text",
        Kind::Boolean => "Boolean",
        Kind::Int => "Int",
        Kind::Double => "Double",
        Kind::DateTime => "DateTime",
        Kind::Date => "Date",
    }
}

/// The schema of an object's change events.
pub fn change_schema(def: &ObjectDef) -> EventSchema {
    let strings = json!({"type": "array", "items": "string"});
    let header = json!({
        "name": "ChangeEventHeader",
        "type": {"type": "record", "name": "ChangeEventHeader", "namespace": "com.sforce.eventbus", "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": strings},
            {"name": "changeType", "type": {"type": "enum", "name": "ChangeType", "namespace": "com.sforce.eventbus", "symbols": CHANGE_TYPES}},
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": strings},
            {"name": "diffFields", "type": strings},
            {"name": "changedFields", "type": strings},
        ]},
        "doc": "Data:ChangeEventHeader",
    });
    // Change events never carry these (Salesforce's CDC field rules).
    let fields: Vec<(String, Kind)> = def
        .fields
        .iter()
        .filter(|f| !matches!(f.name.as_str(), "Id" | "IsDeleted" | "SystemModstamp"))
        .map(|f| (f.name.clone(), kind_of(f.ftype)))
        .collect();
    let mut all = vec![header];
    all.extend(fields.iter().map(|(n, k)| field_json(n, *k, sf_type(*k))));
    let name = match def.name.strip_suffix("__c") {
        Some(base) => format!("{base}__ChangeEvent"),
        None => format!("{}ChangeEvent", def.name),
    };
    let schema =
        json!({"type": "record", "name": name, "namespace": "com.sforce.eventbus", "fields": all});
    EventSchema {
        id: change_schema_id(def),
        json: schema.to_string(),
        change: true,
        fields,
    }
}

/// The schema of a platform event.
pub fn event_schema(def: &ObjectDef) -> EventSchema {
    let fields: Vec<(String, Kind)> = def
        .fields
        .iter()
        .filter(|f| !f.system && !matches!(f.name.as_str(), "EventUuid" | "ReplayId"))
        .map(|f| (f.name.clone(), kind_of(f.ftype)))
        .collect();
    let mut all = vec![
        json!({"name": "CreatedDate", "type": "long", "doc": "CreatedDate:DateTime"}),
        json!({"name": "CreatedById", "type": "string", "doc": "CreatedBy:EntityId"}),
    ];
    all.extend(fields.iter().map(|(n, k)| field_json(n, *k, sf_type(*k))));
    let schema = json!({"type": "record", "name": def.name, "namespace": "com.sforce.eventbus", "fields": all});
    EventSchema {
        id: event_schema_id(def),
        json: schema.to_string(),
        change: false,
        fields,
    }
}

/// Zig-zag varint.
pub(super) fn long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    long(out, s.len() as i64);
    out.extend_from_slice(s.as_bytes());
}

fn strings(out: &mut Vec<u8>, items: &[String]) {
    if !items.is_empty() {
        long(out, items.len() as i64);
        for s in items {
            string(out, s);
        }
    }
    long(out, 0);
}

fn millis(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| {
            v.as_str()
                .and_then(parse_datetime)
                .map(|t| t.timestamp_millis())
        })
        .unwrap_or(0)
}

/// `["null", T]` with `v`.
fn optional(out: &mut Vec<u8>, kind: Kind, v: &Value) {
    let present = match (kind, v) {
        (_, Value::Null) => None,
        (Kind::String, v) => Some(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        _ => Some(String::new()),
    };
    let Some(text) = present else {
        long(out, 0);
        return;
    };
    long(out, 1);
    match kind {
        Kind::String => string(out, &text),
        Kind::Boolean => out.push(u8::from(v.as_bool().unwrap_or(false))),
        Kind::Int => long(out, v.as_i64().unwrap_or(0)),
        Kind::Double => out.extend_from_slice(&v.as_f64().unwrap_or(0.0).to_le_bytes()),
        Kind::DateTime => long(out, millis(v)),
        Kind::Date => {
            let days = v
                .as_str()
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .map(|d| {
                    d.signed_duration_since(chrono::NaiveDate::default())
                        .num_days()
                })
                .unwrap_or(0);
            long(out, days);
        }
    }
}

impl EventSchema {
    /// The bitmap of named fields (bit i = field i of the schema, the header being 0).
    fn bitmap(&self, names: &[String]) -> Vec<String> {
        let mut bits: Vec<u8> = Vec::new();
        for name in names {
            let Some(i) = self.fields.iter().position(|(n, _)| n == name) else {
                continue;
            };
            let bit = i + 1;
            if bits.len() <= bit / 8 {
                bits.resize(bit / 8 + 1, 0);
            }
            bits[bit / 8] |= 1 << (bit % 8);
        }
        if bits.is_empty() {
            return Vec::new();
        }
        let hex: String = bits.iter().rev().map(|b| format!("{b:02X}")).collect();
        vec![format!("0x{hex}")]
    }

    /// The Avro binary of a payload in the CometD shape.
    pub fn encode(&self, payload: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        if self.change {
            let h = &payload["ChangeEventHeader"];
            let text = |k: &str| h[k].as_str().unwrap_or_default().to_string();
            let list = |k: &str| -> Vec<String> {
                h[k].as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            };
            string(&mut out, &text("entityName"));
            strings(&mut out, &list("recordIds"));
            let change = text("changeType");
            let index = CHANGE_TYPES.iter().position(|c| *c == change).unwrap_or(0);
            long(&mut out, index as i64);
            string(&mut out, &text("changeOrigin"));
            string(&mut out, &text("transactionKey"));
            long(&mut out, h["sequenceNumber"].as_i64().unwrap_or(0));
            long(&mut out, h["commitTimestamp"].as_i64().unwrap_or(0));
            long(&mut out, h["commitNumber"].as_i64().unwrap_or(0));
            string(&mut out, &text("commitUser"));
            strings(&mut out, &self.bitmap(&list("nulledFields")));
            strings(&mut out, &self.bitmap(&list("diffFields")));
            strings(&mut out, &self.bitmap(&list("changedFields")));
        } else {
            long(&mut out, millis(&payload["CreatedDate"]));
            string(
                &mut out,
                payload["CreatedById"].as_str().unwrap_or_default(),
            );
        }
        for (name, kind) in &self.fields {
            optional(&mut out, *kind, payload.get(name).unwrap_or(&Value::Null));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zig_zag_varints_match_the_specification() {
        // Avro 1.11 specification, "Binary Encoding": 0→00, -1→01, 1→02,
        // -2→03, 2→04, -64→7f, 64→80 01.
        for (n, bytes) in [
            (0, vec![0x00]),
            (-1, vec![0x01]),
            (1, vec![0x02]),
            (-2, vec![0x03]),
            (2, vec![0x04]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
        ] {
            let mut out = Vec::new();
            long(&mut out, n);
            assert_eq!(out, bytes, "{n}");
        }
    }
}
