//! `enrich` calls: `get(object, id, fields:)` reads one record by id
//! (null when it does not exist), `query(soql)` runs a SOQL query per
//! record with interpolated values as SOQL literals and answers with the
//! first record (null when there is none).

use crate::client::{Body, Client};
use crate::describe::{Use, preflight};
use crate::{convert, query, soql};
use aqueduct_connectors::support::args::{arg_fields, label, req_str};
use aqueduct_connectors::support::template::{Template, encode_path_segment};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Call, ConnectorError, OpContext};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use reqwest::Method;
use std::sync::Arc;

fn template(cx: &OpContext, name: &str) -> Result<Template, ConnectorError> {
    let expr = cx.op.arg(name).ok_or_else(|| {
        ConnectorError::Config(format!("`{}`: argument `{name}` is required", label(cx)))
    })?;
    Template::new(expr, &cx.schemas)
        .map_err(|e| ConnectorError::Config(format!("`{}`: {name}: {e}", label(cx))))
}

fn answer(
    client: &Client,
    json: &serde_json::Value,
    ty: &Type,
    schemas: &Schemas,
) -> Result<Value, ConnectorError> {
    convert::from_json(json, ty, schemas).map_err(|e| {
        ConnectorError::Permanent(format!(
            "`{}`: the answer does not fit the enrich type: {e}",
            client.system
        ))
    })
}

/// `get(object, id, fields:)`.
pub(crate) struct GetCall {
    client: Arc<Client>,
    object: String,
    id: Template,
    fields: Vec<String>,
    ty: Type,
    schemas: Arc<Schemas>,
}

impl GetCall {
    pub(crate) fn build(cx: &OpContext, client: Arc<Client>) -> Result<GetCall, ConnectorError> {
        let object = req_str(cx, "object")?;
        preflight(cx, &client, &object, Use::Read)?;
        Ok(GetCall {
            client,
            object,
            id: template(cx, "id")?,
            fields: arg_fields(cx, "fields")?,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
        })
    }
}

impl Call for GetCall {
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let id = self
                .id
                .render(record, encode_path_segment)
                .map_err(ConnectorError::Permanent)?;
            if id.is_empty() {
                return Ok(Value::Null);
            }
            let path = self.client.data_path(&format!(
                "/sobjects/{}/{id}",
                encode_path_segment(&self.object)
            ));
            let fields = self.fields.join(",");
            let query: Vec<(&str, &str)> = if fields.is_empty() {
                Vec::new()
            } else {
                vec![("fields", fields.as_str())]
            };
            let reply = self
                .client
                .send(Method::GET, &path, &query, &Body::None, false)
                .await?;
            if reply.status == 404 {
                return Ok(Value::Null);
            }
            let what = format!("get {}", self.object);
            let reply = self.client.check(&what, reply)?;
            let json: serde_json::Value = serde_json::from_slice(&reply.body).map_err(|e| {
                ConnectorError::Permanent(format!(
                    "`{}`: {what}: the answer is not JSON: {e}",
                    self.client.system
                ))
            })?;
            answer(&self.client, &json, &self.ty, &self.schemas)
        })
    }
}

/// `query(soql)` as a lookup.
pub(crate) struct QueryCall {
    client: Arc<Client>,
    soql: Template,
    ty: Type,
    schemas: Arc<Schemas>,
}

impl QueryCall {
    pub(crate) fn build(cx: &OpContext, client: Arc<Client>) -> Result<QueryCall, ConnectorError> {
        Ok(QueryCall {
            client,
            soql: template(cx, "soql")?,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
        })
    }
}

impl Call for QueryCall {
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let text = soql::render(&self.soql, record).map_err(ConnectorError::Permanent)?;
            let page = query::fetch(&self.client, Some(&text), None).await?;
            match page.records.first() {
                None => Ok(Value::Null),
                Some(json) => answer(&self.client, json, &self.ty, &self.schemas),
            }
        })
    }
}
