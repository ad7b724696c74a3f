//! `salesforce.query(soql)` as a source: one REST query, every result page
//! followed through `nextRecordsUrl`. Pages are fetched one at a time as
//! the flow takes records, so at most one page (≤ 2,000 records) is held,
//! never the whole result. Like `sqlite.query` it has no position: a re-run
//! reads everything again (pair it with `upsert`).

use crate::client::{Body, Client};
use crate::convert;
use aqueduct_connectors::support::args::req_str;
use aqueduct_connectors::support::{decode_error, stopped};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source};
use aqueduct_runtime::value::Schemas;
use futures::future::BoxFuture;
use reqwest::Method;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// One page of a query result.
pub(crate) struct Page {
    pub(crate) records: Vec<serde_json::Value>,
    pub(crate) next: Option<String>,
}

/// Parses a query answer (`{"totalSize","done","nextRecordsUrl"?,"records"}`).
pub(crate) fn parse_page(body: &[u8]) -> Result<Page, String> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the query answer is not JSON: {e}"))?;
    let records = match json.get("records") {
        Some(serde_json::Value::Array(r)) => r.clone(),
        _ => return Err("the query answer has no `records` array".into()),
    };
    let done = json.get("done").and_then(|d| d.as_bool()).unwrap_or(true);
    let next = json
        .get("nextRecordsUrl")
        .and_then(|n| n.as_str())
        .filter(|_| !done)
        .map(str::to_string);
    if !done && next.is_none() {
        return Err("the query answer says `done: false` but has no `nextRecordsUrl`".into());
    }
    Ok(Page { records, next })
}

/// Fetches one page: the first (`soql`) or a `nextRecordsUrl`.
pub(crate) async fn fetch(
    client: &Client,
    soql: Option<&str>,
    next: Option<&str>,
) -> Result<Page, ConnectorError> {
    let reply = match next {
        Some(url) => {
            client
                .send(Method::GET, url, &[], &Body::None, false)
                .await?
        }
        None => {
            client
                .send(
                    Method::GET,
                    &client.data_path("/query"),
                    &[("q", soql.unwrap_or_default())],
                    &Body::None,
                    false,
                )
                .await?
        }
    };
    let reply = client.check("query", reply)?;
    parse_page(&reply.body)
        .map_err(|e| ConnectorError::Permanent(format!("`{}`: query: {e}", client.system)))
}

/// The REST query source.
pub(crate) struct QuerySource {
    client: Arc<Client>,
    soql: String,
    ty: Type,
    schemas: Arc<Schemas>,
    shutdown: watch::Receiver<bool>,
}

impl QuerySource {
    pub(crate) fn build(
        cx: &OpContext,
        client: Arc<Client>,
    ) -> Result<QuerySource, ConnectorError> {
        Ok(QuerySource {
            client,
            soql: req_str(cx, "soql")?,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }
}

impl Source for QuerySource {
    fn run(
        mut self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let mut next: Option<String> = None;
            let mut first = true;
            while first || next.is_some() {
                let page = tokio::select! {
                    page = fetch(&self.client, Some(&self.soql), next.as_deref().filter(|_| !first)) => page?,
                    _ = stopped(&mut self.shutdown) => return Ok(()),
                };
                first = false;
                next = page.next;
                for json in page.records {
                    let record = convert::from_json(&json, &self.ty, &self.schemas)
                        .map_err(|reason| decode_error(&json.to_string(), reason));
                    let envelope = Envelope::new(record, Ack::none());
                    if out.send(envelope).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Ok(())
        })
    }
}
