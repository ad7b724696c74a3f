//! `graphql`: GraphQL over HTTP (options `url`, `auth`, `timeout`).
//!
//! `mutate(document)` (target) and `query(document)` (call) post
//! `{"query": document, "variables": {…}}` as JSON, one request per record.
//! The variables are the record's fields the document names (`$id` takes
//! field `id`), sent as JSON values, never spliced into the document; a
//! variable naming no field of the record type stops `run` at start-up. An
//! answer with `errors` is a failure carrying their messages (permanent,
//! unless the status is one the `http` policy retries); a call answers with
//! `data` read into the declared type. With `operation: "Name"` the body
//! also carries `"operationName"`, which picks one operation of a document
//! defining several; a name the document does not define stops `run` at
//! start-up.

mod answer;
mod variables;

use crate::group::send_each;
use aqueduct_connectors::http::client::{Client, Payload};
use aqueduct_connectors::support::args::{arg_str, label, req_str};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{
    Call, ConnectorError, ConnectorFactory, OpContext, Rejected, Target,
};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderValue};
use std::sync::Arc;

/// The `graphql` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct GraphqlConnector;

impl ConnectorFactory for GraphqlConnector {
    fn kind(&self) -> &'static str {
        "graphql"
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        match cx.op.operation.as_str() {
            "mutate" => Ok(Arc::new(GraphqlOp::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`graphql.{other}` cannot be used as a target"
            ))),
        }
    }

    fn call(&self, cx: &OpContext) -> Result<Arc<dyn Call>, ConnectorError> {
        match cx.op.operation.as_str() {
            "query" => Ok(Arc::new(GraphqlOp::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`graphql.{other}` cannot be used in `enrich`"
            ))),
        }
    }
}

/// The path of an URL (`/graphql`), without scheme, host or query.
fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("/").to_string()
}

/// A document run against an endpoint, as a target or a call.
struct GraphqlOp {
    client: Arc<Client>,
    url: String,
    document: String,
    /// `operationName`, when the flow names one.
    operation: Option<String>,
    /// The variables the document uses, each a field of the record.
    variables: Vec<String>,
    /// The path of `url`, for messages (the runtime adds `system.op: `;
    /// the whole URL may carry a key).
    what: String,
    ty: Type,
    schemas: Arc<Schemas>,
}

impl GraphqlOp {
    fn build(cx: &OpContext) -> Result<GraphqlOp, ConnectorError> {
        let client = Client::build_for(cx, "url")?;
        let document = req_str(cx, "document")?;
        let variables = variables::names(&document);
        let operation = arg_str(cx, "operation")?;
        if let Some(name) = &operation {
            let defined = variables::operations(&document);
            if !defined.contains(name) {
                let known = if defined.is_empty() {
                    "it defines no named operation".to_string()
                } else {
                    format!("it defines {}", defined.join(", "))
                };
                return Err(ConnectorError::Config(format!(
                    "`{}`: operation `{name}` is not in the document ({known})",
                    label(cx)
                )));
            }
        }
        // A call's record is the flow's record, not the answer's type: the
        // variables are checked against the input where it is known.
        let input = if cx.op.operation == "mutate" {
            Some(&cx.record_type)
        } else {
            None
        };
        if let Some(Type::Record(name)) = input.map(Type::required)
            && let Some(layout) = cx.schemas.layout(name)
            && let Some(missing) = variables.iter().find(|v| layout.slot(v).is_none())
        {
            return Err(ConnectorError::Config(format!(
                "`{}`: the document uses ${missing}, but `{name}` has no field `{missing}`",
                label(cx)
            )));
        }
        Ok(GraphqlOp {
            url: client.base().to_string(),
            what: url_path(client.base()),
            client,
            document,
            operation,
            variables,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
        })
    }

    /// Posts the document with the variables of `record`; the answer's `data`.
    async fn send(&self, record: &Value) -> Result<serde_json::Value, ConnectorError> {
        let mut vars = serde_json::Map::new();
        for name in &self.variables {
            vars.insert(name.clone(), record.field(name).to_json());
        }
        let mut body = serde_json::json!({ "query": self.document, "variables": vars });
        if let Some(name) = &self.operation {
            body["operationName"] = serde_json::json!(name);
        }
        let payload = Payload {
            content_type: "application/json",
            body: body.to_string(),
            headers: vec![(
                ACCEPT,
                HeaderValue::from_static("application/graphql-response+json, application/json"),
            )],
        };
        let reply = self
            .client
            .send_payload(Method::POST, &self.url, &self.what, Some(payload))
            .await?;
        answer::data(&self.what, &reply)
    }
}

impl Target for GraphqlOp {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            for record in records {
                self.send(record).await?;
            }
            Ok(())
        })
    }

    fn write_partial<'a>(
        &'a self,
        records: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<Rejected>, ConnectorError>> {
        Box::pin(send_each(records, move |record| async move {
            self.send(record).await.map(|_| ())
        }))
    }
}

impl Call for GraphqlOp {
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let data = self.send(record).await?;
            if data.is_null() && self.ty.is_optional() {
                return Ok(Value::Null);
            }
            Value::from_json(&data, &self.ty, &self.schemas).map_err(|e| {
                ConnectorError::Permanent(format!(
                    "the data does not fit {}: {e}",
                    self.ty.required()
                ))
            })
        })
    }
}
