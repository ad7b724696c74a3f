//! Salesforce records to and from the declared record types.
//!
//! Reading: a REST record is JSON with an `attributes` entry (ignored) and
//! relationship fields nested (`"Account": {"Name": "Acme"}`); a declared
//! field named with dots (`"Account.Name"`) reads through the nesting, so
//! one record type serves both REST and Bulk results (where the column is
//! literally `Account.Name`). Datetimes come as `2024-01-02T17:38:59.000+0000`,
//! which is normalised to RFC 3339. Writing: records become JSON objects of
//! their non-null fields (null fields are left out, i.e. left unchanged).

use aqueduct_graph::Type;
use aqueduct_runtime::value::{Layout, Record, Schemas, Value};
use std::sync::Arc;

/// A field of a JSON record, following dots through nested objects when
/// the name itself is not a key.
fn lookup<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    if let Some(v) = map.get(name) {
        return Some(v);
    }
    let (head, rest) = name.split_once('.')?;
    match map.get(head)? {
        serde_json::Value::Object(inner) => lookup(inner, rest),
        serde_json::Value::Null => Some(&serde_json::Value::Null),
        _ => None,
    }
}

/// `+0000` → `+00:00` at the end of a datetime, so RFC 3339 parsers take it.
pub(crate) fn normalize_datetime(text: &str) -> String {
    let b = text.as_bytes();
    let n = b.len();
    if n > 5
        && (b[n - 5] == b'+' || b[n - 5] == b'-')
        && b[n - 4..].iter().all(u8::is_ascii_digit)
        && text.contains('T')
    {
        format!("{}:{}", &text[..n - 2], &text[n - 2..])
    } else {
        text.to_string()
    }
}

/// A JSON value of Salesforce as a value of `ty`; errors name the field.
pub(crate) fn from_json(
    json: &serde_json::Value,
    ty: &Type,
    schemas: &Schemas,
) -> Result<Value, String> {
    if let Type::Optional(inner) = ty {
        return if json.is_null() {
            Ok(Value::Null)
        } else {
            from_json(json, inner, schemas)
        };
    }
    match (ty, json) {
        (Type::Timestamp, serde_json::Value::String(s)) => Value::from_json(
            &serde_json::Value::String(normalize_datetime(s)),
            ty,
            schemas,
        ),
        (Type::Record(name), serde_json::Value::Object(map)) => {
            let layout = schemas
                .layout(name)
                .ok_or_else(|| format!("unknown record type `{name}`"))?;
            build(layout, |field| match lookup(map, &field.name) {
                Some(v) => from_json(v, &field.ty, schemas)
                    .map_err(|e| format!("field `{}`: {e}", field.name)),
                None => Ok(Value::Null),
            })
        }
        (Type::List(elem), serde_json::Value::Array(items)) => {
            let values = items
                .iter()
                .map(|i| from_json(i, elem, schemas))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::List(Arc::new(values)))
        }
        // A child subquery answers {"totalSize","done","records"}: a list
        // field takes its records.
        (Type::List(_), serde_json::Value::Object(map)) if map.contains_key("records") => {
            from_json(&map["records"], ty, schemas)
        }
        _ => Value::from_json(json, ty, schemas),
    }
}

/// Builds a record of `layout`; a null in a required field is an error.
pub(crate) fn build(
    layout: &Arc<Layout>,
    mut get: impl FnMut(&aqueduct_graph::FieldType) -> Result<Value, String>,
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

/// A CSV cell of a Bulk result as a value of `ty` (empty is null).
pub(crate) fn from_cell(text: &str, ty: &Type, schemas: &Schemas) -> Result<Value, String> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    match ty.required() {
        Type::Timestamp => Value::parse_text(&normalize_datetime(text), ty, schemas),
        Type::String => Ok(Value::string(text)),
        _ => Value::parse_text(text, ty, schemas),
    }
}

/// A record to write, as a JSON object of its non-null fields.
pub(crate) fn to_object(value: &Value) -> serde_json::Map<String, serde_json::Value> {
    match value.to_json() {
        serde_json::Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_salesforce_datetimes() {
        assert_eq!(
            normalize_datetime("2024-01-02T17:38:59.000+0000"),
            "2024-01-02T17:38:59.000+00:00"
        );
        assert_eq!(
            normalize_datetime("2024-01-02T17:38:59Z"),
            "2024-01-02T17:38:59Z"
        );
        assert_eq!(normalize_datetime("A-1000"), "A-1000");
    }
}
