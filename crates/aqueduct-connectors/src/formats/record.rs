//! Building records from text (csv cells, XML text, SQLite columns) and
//! reading their fields back, shared by the formats and other connectors.

use aqueduct_graph::{FieldType, Type};
use aqueduct_runtime::value::{Layout, Record, Schemas, Value};
use std::sync::Arc;

/// The layout of a named record type (through `T?`).
pub(crate) fn layout(ty: &Type, schemas: &Schemas) -> Option<Arc<Layout>> {
    match ty.required() {
        Type::Record(name) => schemas.layout(name).cloned(),
        _ => None,
    }
}

/// Builds a record of `layout`, one value per field from `get`; a null in a
/// required field is an error naming it.
pub(crate) fn build_record(
    layout: &Arc<Layout>,
    mut get: impl FnMut(&FieldType) -> Result<Value, String>,
) -> Result<Value, String> {
    let mut slots = Vec::with_capacity(layout.fields.len());
    for field in &layout.fields {
        let value = get(field)?;
        if value.is_null() && !field.ty.is_optional() {
            return Err(format!("missing required field `{}`", field.name));
        }
        slots.push(value);
    }
    Ok(Value::Record(Arc::new(Record {
        layout: layout.clone(),
        slots,
    })))
}

/// The fields of a record value as `(name, value)` pairs (records in slot
/// order, JSON objects in key order); other values have none.
pub(crate) fn fields_of(value: &Value) -> Vec<(String, Value)> {
    match value {
        Value::Record(r) => r
            .layout
            .fields
            .iter()
            .map(|f| f.name.clone())
            .zip(r.slots.iter().cloned())
            .collect(),
        Value::Json(j) => match j.as_object() {
            Some(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), Value::Json(Arc::new(v.clone()))))
                .collect(),
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// A scalar as text for a csv cell or an XML text node; lists, records and
/// JSON objects as compact JSON.
pub(crate) fn cell_text(value: &Value) -> String {
    match value {
        Value::List(_) | Value::Record(_) => value.to_json_string(),
        Value::Json(j) => match j.as_ref() {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        },
        other => other.to_text(),
    }
}

/// Parses a text cell into a value of `ty` (optional: empty is null;
/// required: empty is an error); lists and records are read as JSON text.
pub(crate) fn parse_cell(
    text: &str,
    field: &FieldType,
    schemas: &Schemas,
) -> Result<Value, String> {
    if text.is_empty() {
        return if field.ty.is_optional() {
            Ok(Value::Null)
        } else {
            Err(format!("field `{}` is required but empty", field.name))
        };
    }
    match field.ty.required() {
        Type::List(_) | Type::Record(_) => {
            let json: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| format!("field `{}`: not JSON: {e}", field.name))?;
            Value::from_json(&json, &field.ty, schemas)
                .map_err(|e| format!("field `{}`: {e}", field.name))
        }
        _ => Value::parse_text(text, &field.ty, schemas)
            .map_err(|e| format!("field `{}`: {e}", field.name)),
    }
}
