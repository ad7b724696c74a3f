//! Stream entries and records, field by field: a record field is one entry
//! field holding its value as text (strings as they are, numbers, booleans,
//! decimals and timestamps as their text, lists, records and JSON as JSON
//! text; a null field is left out). Reading parses each entry field by the
//! declared field type; a missing optional field is null.

use aqueduct_connectors::support::decode_error;
use aqueduct_graph::Type;
use aqueduct_runtime::connector::DecodeError;
use aqueduct_runtime::value::{Record, Schemas, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The entry fields of a record, in field order (nulls left out).
pub(crate) fn fields(record: &Value) -> Vec<(String, String)> {
    fn text(value: &Value) -> String {
        match value {
            Value::List(_) | Value::Record(_) => value.to_json_string(),
            Value::Json(j) => match j.as_ref() {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            other => other.to_text(),
        }
    }
    match record {
        Value::Record(r) => r
            .layout
            .fields
            .iter()
            .zip(r.slots.iter())
            .filter(|(_, v)| !v.is_null())
            .map(|(f, v)| (f.name.clone(), text(v)))
            .collect(),
        Value::Json(j) => match j.as_object() {
            Some(map) => map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), text(&Value::Json(Arc::new(v.clone())))))
                .collect(),
            None => vec![("value".to_string(), j.to_string())],
        },
        other => vec![("value".to_string(), text(other))],
    }
}

/// The record an entry holds, or why it does not fit the declared type
/// (the raw text is the entry's fields as a JSON object).
pub(crate) fn decode(
    map: &HashMap<String, redis::Value>,
    ty: &Type,
    schemas: &Schemas,
) -> Result<Value, DecodeError> {
    let mut texts: Vec<(&String, String)> = Vec::with_capacity(map.len());
    for (name, value) in map {
        let text = match value {
            redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            redis::Value::SimpleString(s) => s.clone(),
            redis::Value::Int(i) => i.to_string(),
            other => format!("{other:?}"),
        };
        texts.push((name, text));
    }
    texts.sort();
    let raw = || {
        let object: serde_json::Map<String, serde_json::Value> = texts
            .iter()
            .map(|(k, v)| ((*k).clone(), serde_json::Value::String(v.clone())))
            .collect();
        serde_json::Value::Object(object).to_string()
    };
    let layout = match ty.required() {
        Type::Record(name) => schemas.layout(name).cloned(),
        _ => None,
    };
    let Some(layout) = layout else {
        let object: serde_json::Map<String, serde_json::Value> = texts
            .iter()
            .map(|(k, v)| ((*k).clone(), serde_json::Value::String(v.clone())))
            .collect();
        return Ok(Value::Json(Arc::new(serde_json::Value::Object(object))));
    };
    let mut slots = Vec::with_capacity(layout.fields.len());
    for field in &layout.fields {
        let text = texts
            .iter()
            .find(|(k, _)| **k == field.name)
            .map(|(_, v)| v);
        let value = match text {
            None => Value::Null,
            Some(text) => match field.ty.required() {
                Type::String => Value::String(Arc::from(text.as_str())),
                Type::List(_) | Type::Record(_) | Type::Json => {
                    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                        decode_error(&raw(), format!("field `{}`: not JSON: {e}", field.name))
                    })?;
                    Value::from_json(&json, &field.ty, schemas)
                        .map_err(|e| decode_error(&raw(), format!("field `{}`: {e}", field.name)))?
                }
                _ => Value::parse_text(text, &field.ty, schemas)
                    .map_err(|e| decode_error(&raw(), format!("field `{}`: {e}", field.name)))?,
            },
        };
        if value.is_null() && !field.ty.is_optional() {
            return Err(decode_error(
                &raw(),
                format!("missing required field `{}`", field.name),
            ));
        }
        slots.push(value);
    }
    Ok(Value::Record(Arc::new(Record { layout, slots })))
}
