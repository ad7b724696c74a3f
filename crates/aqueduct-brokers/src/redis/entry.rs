//! Stream entries and records, field by field: a record field is one entry
//! field holding its value as text (strings as they are, numbers, booleans,
//! decimals and timestamps as their text, lists, records and JSON as JSON
//! text; a null field is left out), a `bytes` field its bytes as they are
//! (entry values are binary-safe). Reading parses each entry field by the
//! declared field type; a missing optional field is null. A value that is
//! not UTF-8 is never changed into text: a `bytes` field takes it as is,
//! any other field makes the entry a decode error carrying that value's
//! bytes in base64.

use aqueduct_connectors::support::decode_error;
use aqueduct_graph::Type;
use aqueduct_runtime::connector::DecodeError;
use aqueduct_runtime::value::{Record, Schemas, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The entry fields of a record, in field order (nulls left out).
pub(crate) fn fields(record: &Value) -> Vec<(String, Vec<u8>)> {
    fn text(value: &Value) -> Vec<u8> {
        match value {
            // as text, bytes that are not UTF-8 would change
            Value::Bytes(b) => b.to_vec(),
            Value::List(_) | Value::Record(_) => value.to_json_string().into_bytes(),
            Value::Json(j) => match j.as_ref() {
                serde_json::Value::String(s) => s.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            },
            other => other.to_text().into_bytes(),
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
            None => vec![("value".to_string(), j.to_string().into_bytes())],
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
    // values Redis did not answer as bytes, as text
    let mut others = Vec::new();
    let mut values: Vec<(&String, &[u8])> = Vec::with_capacity(map.len());
    for (name, value) in map {
        match value {
            redis::Value::BulkString(b) => values.push((name, b)),
            redis::Value::SimpleString(s) => values.push((name, s.as_bytes())),
            redis::Value::Int(i) => others.push((name, i.to_string().into_bytes())),
            other => others.push((name, format!("{other:?}").into_bytes())),
        }
    }
    values.extend(others.iter().map(|(name, v)| (*name, v.as_slice())));
    values.sort();
    // the raw entry of a dead letter (a value that is not UTF-8 shown lossily)
    let raw = || {
        let object: serde_json::Map<String, serde_json::Value> = values
            .iter()
            .map(|(k, v)| {
                let text = String::from_utf8_lossy(v).into_owned();
                ((*k).clone(), serde_json::Value::String(text))
            })
            .collect();
        serde_json::Value::Object(object).to_string()
    };
    let layout = match ty.required() {
        Type::Record(name) => schemas.layout(name).cloned(),
        _ => None,
    };
    let Some(layout) = layout else {
        let mut object = serde_json::Map::with_capacity(values.len());
        for (name, v) in &values {
            let text = utf8(name, v)?;
            object.insert((*name).clone(), serde_json::Value::String(text.to_string()));
        }
        return Ok(Value::Json(Arc::new(serde_json::Value::Object(object))));
    };
    let mut slots = Vec::with_capacity(layout.fields.len());
    for field in &layout.fields {
        let bytes = values
            .iter()
            .find(|(k, _)| **k == field.name)
            .map(|(_, v)| *v);
        let text = match bytes {
            None => None,
            Some(b) if field.ty.required() == &Type::Bytes => {
                slots.push(Value::Bytes(Arc::from(b)));
                continue;
            }
            Some(b) => Some(utf8(&field.name, b)?),
        };
        let value = match text {
            None => Value::Null,
            Some(text) => match field.ty.required() {
                Type::String => Value::String(Arc::from(text)),
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

/// The text of the entry field `name`, or a decode error carrying its bytes.
fn utf8<'a>(name: &str, value: &'a [u8]) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(value).map_err(|_| {
        DecodeError::bytes(
            &value[..value.len().min(aqueduct_connectors::support::RAW_LIMIT)],
            format!("field `{name}`: the value is not UTF-8 text; its bytes are in raw_base64"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqueduct_graph::FieldType;
    use aqueduct_runtime::value::Layout;

    fn schemas() -> Schemas {
        let mut schemas = Schemas::default();
        let fields = [("text", Type::String), ("blob", Type::Bytes)]
            .into_iter()
            .map(|(name, ty)| FieldType {
                name: name.to_string(),
                ty,
                doc: Vec::new(),
            })
            .collect();
        schemas.layouts.insert(
            "E".to_string(),
            Arc::new(Layout {
                name: "E".to_string(),
                fields,
            }),
        );
        schemas
    }

    fn entry(text: &[u8], blob: &[u8]) -> HashMap<String, redis::Value> {
        HashMap::from([
            ("text".to_string(), redis::Value::BulkString(text.to_vec())),
            ("blob".to_string(), redis::Value::BulkString(blob.to_vec())),
        ])
    }

    #[test]
    fn bytes_fields_keep_their_bytes_both_ways() {
        let schemas = schemas();
        let ty = Type::Record("E".into());
        let record = decode(&entry(b"hi", &[0xff, 0, 0x80]), &ty, &schemas).expect("decodes");
        assert_eq!(
            record.field("blob"),
            Value::Bytes(Arc::from(&[0xff, 0, 0x80][..]))
        );
        assert_eq!(
            fields(&record),
            vec![
                ("text".to_string(), b"hi".to_vec()),
                ("blob".to_string(), vec![0xff, 0, 0x80])
            ]
        );
        let empty = decode(&entry(b"", b""), &ty, &schemas).expect("an empty value is empty bytes");
        assert_eq!(empty.field("blob"), Value::Bytes(Arc::from(&b""[..])));
    }

    #[test]
    fn a_text_field_that_is_not_utf8_is_a_decode_error_with_its_bytes() {
        let err = decode(
            &entry(&[0xff, 0xfe], b""),
            &Type::Record("E".into()),
            &schemas(),
        )
        .expect_err("not UTF-8");
        assert!(err.raw_base64);
        assert_eq!(err.raw, "//4=");
        assert_eq!(
            err.reason,
            "field `text`: the value is not UTF-8 text; its bytes are in raw_base64"
        );
    }
}
