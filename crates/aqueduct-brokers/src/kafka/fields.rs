//! Message metadata in record fields: `key_field:` names a declared field
//! that receives the message key as text, `headers_field:` one that
//! receives the headers as a JSON object of strings. The language has no
//! per-message metadata of its own, so a source that offers it writes it
//! into fields the flow declared (optional ones, since the payload does not
//! carry them).

use aqueduct_connectors::support::args::{arg_str, label};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{ConnectorError, OpContext};
use aqueduct_runtime::value::Value;
use rdkafka::message::{BorrowedHeaders, Headers};
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
        let fields = MetaFields {
            key: arg_str(cx, "key_field")?,
            headers: arg_str(cx, "headers_field")?,
        };
        if let Type::Record(name) = cx.record_type.required()
            && let Some(layout) = cx.schemas.layout(name)
        {
            for (param, field) in [
                ("key_field", &fields.key),
                ("headers_field", &fields.headers),
            ] {
                if let Some(field) = field
                    && layout.slot(field).is_none()
                {
                    return Err(ConnectorError::Config(format!(
                        "`{}`: {param}: the record type `{name}` has no field `{field}`",
                        label(cx)
                    )));
                }
            }
        }
        Ok(fields)
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
