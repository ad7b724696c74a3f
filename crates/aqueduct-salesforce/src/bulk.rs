//! `salesforce.bulk_query(soql)`: a Bulk API 2.0 query job. The job is
//! created, polled with a growing interval (every poll counts against the
//! daily API allocation), and its result read page by page through
//! `Sforce-Locator` (the literal `null` ends it), each CSV page converted to
//! the declared type by column name (`Account.Name` columns for
//! relationship fields; an empty cell is null). One page (≤ 10,000 rows) is
//! held at a time. A row that does not fit the type goes to the dead letter
//! with the reason. Like `query`, a re-run starts a new job.

use crate::client::{Body, Client};
use crate::convert;
use aqueduct_connectors::support::args::req_str;
use aqueduct_connectors::support::{decode_error, stopped};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Ack, ConnectorError, DecodeError, Envelope, OpContext, Source};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use reqwest::Method;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Rows asked for per result page unless configured.
pub(crate) const PAGE_ROWS: usize = 10_000;

/// First wait between polls, growing by half each time up to [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(250);
const POLL_MAX: Duration = Duration::from_secs(10);

/// The bulk query source.
pub(crate) struct BulkQuery {
    client: Arc<Client>,
    soql: String,
    ty: Type,
    schemas: Arc<Schemas>,
    shutdown: watch::Receiver<bool>,
    page_rows: String,
}

/// The rows of one CSV page as records of `ty` (by header name).
pub(crate) fn parse_page(
    csv_text: &[u8],
    ty: &Type,
    schemas: &Schemas,
) -> Result<Vec<Result<Value, DecodeError>>, String> {
    let layout = match ty.required() {
        Type::Record(name) => schemas
            .layout(name)
            .ok_or_else(|| format!("unknown record type `{name}`"))?
            .clone(),
        other => return Err(format!("bulk_query needs a record type, not {other}")),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(csv_text);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("malformed CSV header: {e}"))?
        .iter()
        .map(str::to_string)
        .collect();
    let columns: Vec<Option<usize>> = layout
        .fields
        .iter()
        .map(|f| {
            headers
                .iter()
                .position(|h| h == &f.name)
                .or_else(|| headers.iter().position(|h| h.eq_ignore_ascii_case(&f.name)))
        })
        .collect();
    let mut rows = Vec::new();
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                rows.push(Err(decode_error("", format!("malformed CSV row: {e}"))));
                continue;
            }
        };
        let mut column = columns.iter();
        let record = convert::build(&layout, |field| {
            match column.next().copied().flatten().and_then(|i| row.get(i)) {
                Some(cell) => convert::from_cell(cell, &field.ty, schemas)
                    .map_err(|e| format!("field `{}`: {e}", field.name)),
                None => Ok(Value::Null),
            }
        });
        rows.push(
            record
                .map_err(|reason| decode_error(&row.iter().collect::<Vec<_>>().join(","), reason)),
        );
    }
    Ok(rows)
}

impl BulkQuery {
    pub(crate) fn build(
        cx: &OpContext,
        client: Arc<Client>,
        page_rows: usize,
    ) -> Result<BulkQuery, ConnectorError> {
        Ok(BulkQuery {
            page_rows: page_rows.to_string(),
            client,
            soql: req_str(cx, "soql")?,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Body,
        what: &str,
    ) -> Result<serde_json::Value, ConnectorError> {
        let reply = self.client.send(method, path, &[], &body, false).await?;
        let reply = self.client.check(what, reply)?;
        serde_json::from_slice(&reply.body).map_err(|e| {
            ConnectorError::Permanent(format!(
                "`{}`: {what}: the answer is not JSON: {e}",
                self.client.system
            ))
        })
    }

    /// Creates the job; its id.
    async fn create(&self) -> Result<String, ConnectorError> {
        let body = serde_json::json!({"operation": "query", "query": self.soql}).to_string();
        let job = self
            .json(
                Method::POST,
                &self.client.data_path("/jobs/query"),
                Body::Json(body),
                "bulk query job",
            )
            .await?;
        job.get("id")
            .and_then(|i| i.as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                ConnectorError::Permanent(format!(
                    "`{}`: bulk query job: the answer has no job id",
                    self.client.system
                ))
            })
    }

    /// Polls until the job is complete; `false` when shutdown came first.
    async fn wait(&mut self, id: &str) -> Result<bool, ConnectorError> {
        let path = self.client.data_path(&format!("/jobs/query/{id}"));
        let mut delay = POLL_FIRST;
        loop {
            let job = self
                .json(Method::GET, &path, Body::None, "bulk query job status")
                .await?;
            let state = job.get("state").and_then(|s| s.as_str()).unwrap_or("");
            match state {
                "JobComplete" => return Ok(true),
                "Failed" | "Aborted" => {
                    let reason = job
                        .get("errorMessage")
                        .and_then(|m| m.as_str())
                        .unwrap_or("no reason given");
                    return Err(ConnectorError::Permanent(format!(
                        "`{}`: bulk query job {id} {}: {reason}",
                        self.client.system,
                        state.to_lowercase()
                    )));
                }
                _ => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stopped(&mut self.shutdown) => return Ok(false),
            }
            delay = (delay.mul_f64(1.5)).min(POLL_MAX);
        }
    }

    /// One result page: its body and the next locator (`None` at the end).
    async fn page(
        &self,
        id: &str,
        locator: Option<&str>,
    ) -> Result<(bytes::Bytes, Option<String>), ConnectorError> {
        let path = self.client.data_path(&format!("/jobs/query/{id}/results"));
        let mut query = vec![("maxRecords", self.page_rows.as_str())];
        if let Some(l) = locator {
            query.push(("locator", l));
        }
        let reply = self
            .client
            .send(Method::GET, &path, &query, &Body::None, true)
            .await?;
        let reply = self.client.check("bulk query results", reply)?;
        let next = reply
            .header("sforce-locator")
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "null")
            .map(str::to_string);
        Ok((reply.body, next))
    }
}

impl Source for BulkQuery {
    fn run(
        mut self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let id = self.create().await?;
            tracing::info!(system = %self.client.system, job = %id, "Bulk API 2.0 query job created");
            if !self.wait(&id).await? {
                return Ok(());
            }
            let mut locator: Option<String> = None;
            let mut shutdown = self.shutdown.clone();
            loop {
                let (body, next) = tokio::select! {
                    page = self.page(&id, locator.as_deref()) => page?,
                    _ = stopped(&mut shutdown) => return Ok(()),
                };
                let rows = parse_page(&body, &self.ty, &self.schemas).map_err(|e| {
                    ConnectorError::Permanent(format!(
                        "`{}`: bulk query results: {e}",
                        self.client.system
                    ))
                })?;
                drop(body);
                for record in rows {
                    let envelope = Envelope::new(record, Ack::none());
                    if out.send(envelope).await.is_err() {
                        return Ok(());
                    }
                }
                match next {
                    Some(l) => locator = Some(l),
                    None => return Ok(()),
                }
            }
        })
    }
}
