//! Message metadata in record fields: for `consume`, `key_field:` names a
//! declared field that receives the message key as text, `headers_field:`
//! one that receives the headers as a JSON object of strings; for
//! `publish`, `headers_field:` names the json field whose object of strings
//! becomes the message's headers. The language has no per-message metadata
//! of its own, so a connector that offers it reads and writes fields the
//! flow declared (optional ones, since a payload need not carry them).

use aqueduct_connectors::support::args::{arg_str, label};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{ConnectorError, OpContext};
use aqueduct_runtime::value::Value;
use rdkafka::message::{BorrowedHeaders, Header, Headers, OwnedHeaders};
use std::sync::Arc;

/// Where the key and the headers go.
#[derive(Debug, Clone, Default)]
pub(crate) struct MetaFields {
    key: Option<String>,
    headers: Option<String>,
}

impl MetaFields {
    /// The fields named by `key_field:` and `headers_field:`; each must be
    /// a field of the declared record type.
    pub(crate) fn from_args(cx: &OpContext) -> Result<MetaFields, ConnectorError> {
        Ok(MetaFields {
            key: declared_field(cx, "key_field")?,
            headers: declared_field(cx, "headers_field")?,
        })
    }

    /// True when neither is asked for.
    pub(crate) fn is_empty(&self) -> bool {
        self.key.is_none() && self.headers.is_none()
    }

    /// `record` with the key and headers written into their fields.
    pub(crate) fn fill(
        &self,
        record: Value,
        key: Option<&[u8]>,
        headers: Option<&BorrowedHeaders>,
    ) -> Value {
        let mut values = Vec::with_capacity(2);
        if let Some(field) = &self.key {
            let key = key.map_or(Value::Null, |k| {
                Value::String(Arc::from(String::from_utf8_lossy(k).as_ref()))
            });
            values.push((field.as_str(), key));
        }
        if let Some(field) = &self.headers {
            let mut object = serde_json::Map::new();
            for header in headers.into_iter().flat_map(|h| h.iter()) {
                let value = header.value.map_or(serde_json::Value::Null, |v| {
                    serde_json::Value::String(String::from_utf8_lossy(v).into_owned())
                });
                object.insert(header.key.to_string(), value);
            }
            values.push((
                field.as_str(),
                Value::Json(Arc::new(serde_json::Value::Object(object))),
            ));
        }
        set_fields(record, values)
    }
}

/// The field named by the argument `param`, if given; it must be a field
/// of the declared record type. The checker says so for targets; a
/// source's arguments are checked before its record type is known, so
/// this is where a source learns of a field that is not there.
pub(crate) fn declared_field(
    cx: &OpContext,
    param: &str,
) -> Result<Option<String>, ConnectorError> {
    let field = arg_str(cx, param)?;
    if let Some(field) = &field
        && let Type::Record(name) = cx.record_type.required()
        && let Some(layout) = cx.schemas.layout(name)
        && layout.slot(field).is_none()
    {
        return Err(ConnectorError::Config(format!(
            "`{}`: {param}: the record type `{name}` has no field `{field}`",
            label(cx)
        )));
    }
    Ok(field)
}

/// The headers a record carries in its field `field`, for a message it is
/// published as: `None` when the field is null or absent; an object whose
/// values are strings gives one header per member (a null value gives a
/// header without a value, as `consume` reads one). Anything else is the
/// record's error, in words.
pub(crate) fn outgoing_headers(
    record: &Value,
    field: &str,
) -> Result<Option<OwnedHeaders>, String> {
    let json = match record.field(field) {
        Value::Null => return Ok(None),
        value => value.to_json(),
    };
    let serde_json::Value::Object(object) = json else {
        return Err(format!(
            "`{field}` must hold an object of strings, not {}",
            json_kind(&json)
        ));
    };
    let mut headers = OwnedHeaders::new_with_capacity(object.len());
    for (name, value) in &object {
        let value = match value {
            serde_json::Value::String(text) => Some(text.as_str()),
            serde_json::Value::Null => None,
            other => {
                return Err(format!(
                    "header `{name}` in `{field}` must be a string, not {}",
                    json_kind(other)
                ));
            }
        };
        headers = headers.insert(Header { key: name, value });
    }
    Ok(Some(headers))
}

/// The JSON payload of `record` without its field `field`: the headers
/// travel as headers, so a flow forwarding what it consumed publishes the
/// payload it read. Records keep their field order and exact decimals.
pub(crate) fn json_without(record: &Value, field: &str) -> Vec<u8> {
    match record {
        Value::Record(r) => {
            let mut out = String::from("{");
            for (f, v) in r.layout.fields.iter().zip(&r.slots) {
                if f.name == field {
                    continue;
                }
                if out.len() > 1 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(f.name.to_string()).to_string());
                out.push(':');
                aqueduct_runtime::value::json::write_json(v, &mut out);
            }
            out.push('}');
            out.into_bytes()
        }
        Value::Json(json) if json.get(field).is_some() => {
            let mut json = serde_json::Value::clone(json);
            if let serde_json::Value::Object(object) = &mut json {
                object.remove(field);
            }
            json.to_string().into_bytes()
        }
        other => other.to_json_string().into_bytes(),
    }
}

/// A JSON value's kind with its article, for messages.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn set_fields(record: Value, values: Vec<(&str, Value)>) -> Value {
    match record {
        Value::Record(mut r) => {
            let r_mut = Arc::make_mut(&mut r);
            for (field, value) in values {
                if let Some(slot) = r_mut.layout.slot(field)
                    && let Some(s) = r_mut.slots.get_mut(slot)
                {
                    *s = value;
                }
            }
            Value::Record(r)
        }
        Value::Json(mut json) => {
            if let serde_json::Value::Object(object) = Arc::make_mut(&mut json) {
                for (field, value) in values {
                    object.insert(field.to_string(), value.to_json());
                }
            }
            Value::Json(json)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::{json_without, outgoing_headers};
    use aqueduct_runtime::value::Value;
    use rdkafka::message::Headers;
    use serde_json::json;
    use std::sync::Arc;

    fn record(json: serde_json::Value) -> Value {
        Value::Json(Arc::new(json))
    }

    #[test]
    fn an_object_of_strings_becomes_headers_and_anything_else_is_refused() {
        let headers = outgoing_headers(&record(json!({"h": {"a": "1", "b": null}})), "h")
            .expect("an object of strings")
            .expect("headers");
        let read: Vec<(&str, Option<&[u8]>)> = headers.iter().map(|h| (h.key, h.value)).collect();
        assert_eq!(read, [("a", Some(&b"1"[..])), ("b", None)]);
        assert!(matches!(
            outgoing_headers(&record(json!({"h": null})), "h"),
            Ok(None)
        ));
        assert!(matches!(
            outgoing_headers(&record(json!({})), "h"),
            Ok(None)
        ));
        assert_eq!(
            outgoing_headers(&record(json!({"h": ["a"]})), "h").err(),
            Some("`h` must hold an object of strings, not an array".to_string())
        );
        assert_eq!(
            outgoing_headers(&record(json!({"h": {"a": true}})), "h").err(),
            Some("header `a` in `h` must be a string, not a boolean".to_string())
        );
    }

    #[test]
    fn the_headers_field_is_left_out_of_the_payload() {
        let r = record(json!({"id": 1, "h": {"a": "1"}}));
        assert_eq!(json_without(&r, "h"), br#"{"id":1}"#);
        assert_eq!(json_without(&record(json!({"id": 1})), "h"), br#"{"id":1}"#);
    }
}
