//! Message payloads: one message is one record, in `json` (the declared
//! fields), `text` (`{ text: string }`) or `bytes` (`{ bytes: bytes }`).
//!
//! A payload that does not decode is a [`DecodeError`] carrying the raw
//! payload (base64 when it is not UTF-8) and the reason; the executor sends
//! it to the dead letter and acknowledges it, so it never loops.

use aqueduct_connectors::support::{args, decode_error};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{ConnectorError, DecodeError, OpContext};
use aqueduct_runtime::value::{Record, Schemas, Value};
use std::sync::Arc;

/// The payload format of a broker operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON object holding the declared fields.
    Json,
    /// The payload as text: `{ text: string }`.
    Text,
    /// The payload as is: `{ bytes: bytes }`.
    Bytes,
}

/// Decodes payloads into records of one type and encodes records back.
#[derive(Clone)]
pub struct Payload {
    /// The format.
    pub format: Format,
    ty: Type,
    schemas: Arc<Schemas>,
}

impl Payload {
    /// The payload codec of an operation's `format` argument (default json).
    pub fn from_args(cx: &OpContext) -> Result<Payload, ConnectorError> {
        let format = match args::arg_str(cx, "format")?.as_deref() {
            None | Some("json") => Format::Json,
            Some("text") => Format::Text,
            Some("bytes") => Format::Bytes,
            Some(other) => {
                return Err(ConnectorError::Config(format!(
                    "`{}`: unknown payload format `{other}` (json, text or bytes)",
                    args::label(cx)
                )));
            }
        };
        Ok(Payload::new(
            format,
            cx.record_type.clone(),
            cx.schemas.clone(),
        ))
    }

    /// A codec for `format` and records of `ty`.
    pub fn new(format: Format, ty: Type, schemas: Arc<Schemas>) -> Payload {
        Payload {
            format,
            ty,
            schemas,
        }
    }

    /// The record a message payload holds, or why it does not decode.
    pub fn decode(&self, data: &[u8]) -> Result<Value, DecodeError> {
        match self.format {
            Format::Json => {
                let Ok(text) = std::str::from_utf8(data) else {
                    return Err(DecodeError::bytes(
                        &data[..data.len().min(aqueduct_connectors::support::RAW_LIMIT)],
                        "the payload is not UTF-8 text, so not JSON",
                    ));
                };
                if let Some(value) =
                    aqueduct_runtime::value::json::from_json_str(text, &self.ty, &self.schemas)
                {
                    return Ok(value);
                }
                let json: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| decode_error(text, format!("malformed JSON: {e}")))?;
                Value::from_json(&json, &self.ty, &self.schemas)
                    .map_err(|reason| decode_error(text, reason))
            }
            Format::Text => match std::str::from_utf8(data) {
                Ok(text) => self
                    .single_field("text", Value::String(Arc::from(text)))
                    .map_err(|reason| decode_error(text, reason)),
                Err(_) => Err(DecodeError::bytes(
                    &data[..data.len().min(aqueduct_connectors::support::RAW_LIMIT)],
                    "the payload is not UTF-8 text",
                )),
            },
            Format::Bytes => self
                .single_field("bytes", Value::Bytes(Arc::from(data)))
                .map_err(|reason| {
                    DecodeError::bytes(
                        &data[..data.len().min(aqueduct_connectors::support::RAW_LIMIT)],
                        reason,
                    )
                }),
        }
    }

    /// A record whose field `name` is `value` and every other field null.
    fn single_field(&self, name: &str, value: Value) -> Result<Value, String> {
        let layout = match self.ty.required() {
            Type::Record(type_name) => self.schemas.layout(type_name).cloned(),
            _ => None,
        };
        let Some(layout) = layout else {
            let json = serde_json::json!({ name: value.to_json() });
            return Ok(Value::Json(Arc::new(json)));
        };
        if layout.slot(name).is_none() {
            return Err(format!(
                "the record type `{}` has no `{name}` field",
                layout.name
            ));
        }
        let mut slots = Vec::with_capacity(layout.fields.len());
        for field in &layout.fields {
            if field.name == name {
                slots.push(value.clone());
            } else if field.ty.is_optional() {
                slots.push(Value::Null);
            } else {
                return Err(format!("missing required field `{}`", field.name));
            }
        }
        Ok(Value::Record(Arc::new(Record { layout, slots })))
    }

    /// The payload of a record.
    pub fn encode(&self, record: &Value) -> Result<Vec<u8>, ConnectorError> {
        match (self.format, record) {
            (Format::Json, _) => Ok(record.to_json_string().into_bytes()),
            (Format::Text, Value::String(s)) => Ok(s.as_bytes().to_vec()),
            (Format::Text, _) => match record.field("text") {
                Value::Null => Err(ConnectorError::Permanent(
                    "format text needs records with a `text` field".to_string(),
                )),
                v => Ok(v.to_text().into_bytes()),
            },
            (Format::Bytes, _) => match record.field("bytes") {
                Value::Bytes(b) => Ok(b.to_vec()),
                Value::Null => Err(ConnectorError::Permanent(
                    "format bytes needs records with a `bytes` field".to_string(),
                )),
                other => Ok(other.to_text().into_bytes()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqueduct_graph::{FieldType, Type};
    use aqueduct_runtime::value::Layout;

    fn schemas() -> Arc<Schemas> {
        let mut schemas = Schemas::default();
        for (name, field, ty) in [("T", "text", Type::String), ("B", "bytes", Type::Bytes)] {
            schemas.layouts.insert(
                name.to_string(),
                Arc::new(Layout {
                    name: name.to_string(),
                    fields: vec![FieldType {
                        name: field.to_string(),
                        ty,
                        doc: Vec::new(),
                    }],
                }),
            );
        }
        Arc::new(schemas)
    }

    #[test]
    fn text_and_bytes_round_trip() {
        let text = Payload::new(Format::Text, Type::Record("T".into()), schemas());
        let value = text.decode(b"hello").expect("decodes");
        assert_eq!(value.field("text"), Value::string("hello"));
        assert_eq!(text.encode(&value).expect("encodes"), b"hello");
        let bytes = Payload::new(Format::Bytes, Type::Record("B".into()), schemas());
        let value = bytes.decode(&[0, 255, 7]).expect("decodes");
        assert_eq!(bytes.encode(&value).expect("encodes"), vec![0, 255, 7]);
    }

    #[test]
    fn undecodable_payloads_keep_their_raw_bytes() {
        let text = Payload::new(Format::Text, Type::Record("T".into()), schemas());
        let err = text.decode(&[0xff, 0xfe]).expect_err("not UTF-8");
        assert!(err.raw_base64);
        assert_eq!(err.raw, "//4=");
        let json = Payload::new(Format::Json, Type::Record("T".into()), schemas());
        let err = json.decode(b"{nope").expect_err("not JSON");
        assert_eq!(err.raw, "{nope");
        assert!(err.reason.contains("malformed JSON"), "{}", err.reason);
    }
}
