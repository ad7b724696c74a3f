//! The run-time value model: records are slot vectors typed by the checker.
//!
//! Conversions live in submodules: [`json`] (JSON ↔ value by type), `text`
//! (CSV cells, `to_string`) and [`compare`] (equality and ordering across
//! numeric kinds).

pub mod compare;
pub mod json;
mod text;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::sync::Arc;

/// A value at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Absent.
    Null,
    /// Boolean.
    Bool(bool),
    /// 64-bit integer.
    Int(i64),
    /// 64-bit float.
    Float(f64),
    /// Exact decimal.
    Decimal(Decimal),
    /// Text.
    String(Arc<str>),
    /// Instant in UTC.
    Timestamp(DateTime<Utc>),
    /// Calendar date.
    Date(NaiveDate),
    /// Raw bytes.
    Bytes(Arc<[u8]>),
    /// A list.
    List(Arc<Vec<Value>>),
    /// A typed record.
    Record(Arc<Record>),
    /// Untyped JSON (the `json` type, objects without a declared type).
    Json(Arc<serde_json::Value>),
}

/// A record: its layout and one value per field slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record type.
    pub layout: Arc<Layout>,
    /// One value per field, in slot order.
    pub slots: Vec<Value>,
}

/// The layout of a record type: field names and types by slot.
#[derive(Debug, PartialEq)]
pub struct Layout {
    /// Type name.
    pub name: String,
    /// Fields in slot order.
    pub fields: Vec<aqueduct_graph::FieldType>,
}

/// The record layouts of a project, by type name.
#[derive(Debug, Default)]
pub struct Schemas {
    /// Layouts by type name.
    pub layouts: std::collections::BTreeMap<String, Arc<Layout>>,
}

impl Schemas {
    /// Layouts for every record type of `graph`.
    pub fn new(graph: &aqueduct_graph::Graph) -> Schemas {
        let layouts = graph
            .types
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    Arc::new(Layout {
                        name: t.name.clone(),
                        fields: t.fields.clone(),
                    }),
                )
            })
            .collect();
        Schemas { layouts }
    }

    /// The layout of record type `name`.
    pub fn layout(&self, name: &str) -> Option<&Arc<Layout>> {
        self.layouts.get(name)
    }
}

impl Value {
    /// Converts decoded JSON into a value of type `ty` (records by field
    /// name into slots; RFC 3339 strings into timestamps; numbers into
    /// decimals exactly). Errors name the offending field path.
    pub fn from_json(
        json: &serde_json::Value,
        ty: &aqueduct_graph::Type,
        schemas: &Schemas,
    ) -> Result<Value, String> {
        json::from_json(json, ty, schemas).map_err(|e| e.to_string())
    }

    /// Parses one text field (a CSV cell, an XML text node) as type `ty`;
    /// an empty string is null for an optional type.
    pub fn parse_text(
        text: &str,
        ty: &aqueduct_graph::Type,
        schemas: &Schemas,
    ) -> Result<Value, String> {
        text::parse_text(text, ty, schemas)
    }

    /// The value as JSON (records as objects, decimals as numbers when an
    /// `f64` holds them exactly and as strings otherwise, timestamps as RFC
    /// 3339 strings, bytes as base64). `serde_json` objects sort their keys:
    /// use [`Value::to_json_string`] to keep field order and decimal scale.
    pub fn to_json(&self) -> serde_json::Value {
        json::to_json(self)
    }

    /// The value as compact JSON text, records in field order and decimals
    /// written exactly (`12.50` stays `12.50`). What file and HTTP targets write.
    pub fn to_json_string(&self) -> String {
        let mut out = String::new();
        json::write_json(self, &mut out);
        out
    }

    /// Converts a constant of the graph (a literal, a test record, a stub
    /// answer) into a run-time value of type `ty`.
    pub fn from_constant(
        value: &aqueduct_graph::Value,
        ty: &aqueduct_graph::Type,
        schemas: &Schemas,
    ) -> Result<Value, String> {
        json::from_constant(value, ty, schemas)
    }

    /// True for [`Value::Null`] and JSON `null`.
    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Json(j) => j.is_null(),
            _ => false,
        }
    }

    /// The text, when this is a string (or a JSON string).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::Json(j) => j.as_str(),
            _ => None,
        }
    }

    /// A string value.
    pub fn string(s: impl Into<Arc<str>>) -> Value {
        Value::String(s.into())
    }

    /// The name of the value's kind, for error messages (`string`, `int`, a record type name).
    pub fn kind_name(&self) -> &str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Decimal(_) => "decimal",
            Value::String(_) => "string",
            Value::Timestamp(_) => "timestamp",
            Value::Date(_) => "date",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Record(r) => &r.layout.name,
            Value::Json(_) => "json",
        }
    }

    /// Reads field `name` of a record or JSON object; null when absent.
    pub fn field(&self, name: &str) -> Value {
        match self {
            Value::Record(r) => r.get(name).cloned().unwrap_or(Value::Null),
            Value::Json(j) => j.get(name).map(json::json_value).unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// The value as text, the way `to_string` and interpolation render it
    /// (null is empty; records and lists as JSON).
    pub fn to_text(&self) -> String {
        text::to_text(self)
    }
}

impl Record {
    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.layout.slot(name).and_then(|i| self.slots.get(i))
    }
}

impl Layout {
    /// The slot of field `name`.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}
