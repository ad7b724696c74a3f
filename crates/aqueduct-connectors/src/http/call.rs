//! `http.get(path)` and `http.post(path)` calls (`enrich`).

use super::client::Client;
use crate::support::args::label;
use crate::support::template::{Template, encode_path_segment};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Call, ConnectorError, OpContext};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use reqwest::{Method, StatusCode};
use std::sync::Arc;

/// Calls an API per record.
pub(crate) struct HttpCall {
    client: Arc<Client>,
    method: Method,
    path: Template,
    ty: Type,
    schemas: Arc<Schemas>,
}

impl HttpCall {
    pub(crate) fn build(
        cx: &OpContext,
        client: Arc<Client>,
        method: Method,
    ) -> Result<HttpCall, ConnectorError> {
        let expr = cx.op.arg("path").ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `path` is required", label(cx)))
        })?;
        let path = Template::new(expr, &cx.schemas)
            .map_err(|e| ConnectorError::Config(format!("`{}`: path: {e}", label(cx))))?;
        Ok(HttpCall {
            client,
            method,
            path,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
        })
    }
}

impl Call for HttpCall {
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let path = self
                .path
                .render(record, encode_path_segment)
                .map_err(ConnectorError::Permanent)?;
            let body = (self.method == Method::POST).then(|| record.to_json_string());
            let reply = self.client.send(self.method.clone(), &path, body).await?;
            let is_get = self.method == Method::GET;
            Client::check(&self.method, &path, &reply, is_get)?;
            if (is_get && reply.status == StatusCode::NOT_FOUND)
                || reply.body.iter().all(u8::is_ascii_whitespace)
            {
                return Ok(Value::Null);
            }
            // straight into the type (decimals exact); the slow path words the errors
            if let Ok(text) = std::str::from_utf8(&reply.body)
                && let Some(value) =
                    aqueduct_runtime::value::json::from_json_str(text, &self.ty, &self.schemas)
            {
                return Ok(value);
            }
            let json: serde_json::Value = serde_json::from_slice(&reply.body).map_err(|e| {
                ConnectorError::Permanent(format!(
                    "{} {path}: the answer is not JSON: {e}",
                    self.method
                ))
            })?;
            Value::from_json(&json, &self.ty, &self.schemas).map_err(|e| {
                ConnectorError::Permanent(format!(
                    "{} {path}: the answer does not fit {}: {e}",
                    self.method, self.ty
                ))
            })
        })
    }
}
