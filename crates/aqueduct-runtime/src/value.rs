//! The run-time value model: records are slot vectors typed by the checker.

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
            .map(|t| (t.name.clone(), Arc::new(Layout { name: t.name.clone(), fields: t.fields.clone() })))
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
    pub fn from_json(json: &serde_json::Value, ty: &aqueduct_graph::Type, schemas: &Schemas) -> Result<Value, String> {
        let _ = (json, ty, schemas);
        Err("not implemented yet".to_string())
    }

    /// Parses one text field (a CSV cell, an XML text node) as type `ty`;
    /// an empty string is null for an optional type.
    pub fn parse_text(text: &str, ty: &aqueduct_graph::Type, schemas: &Schemas) -> Result<Value, String> {
        let _ = (text, ty, schemas);
        Err("not implemented yet".to_string())
    }

    /// The value as JSON (records as objects in field order, decimals as
    /// numbers without loss, timestamps as RFC 3339 strings).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}
