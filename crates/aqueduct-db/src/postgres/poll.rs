//! `postgres.poll(sql, every, watermark)`: runs a query every `every` and
//! emits its rows.
//!
//! With `watermark: "col"`, `{watermark}` (or `:watermark`) in the SQL is
//! bound (as a parameter, typed by the server) to that column's value in
//! the last row emitted; order the query by it. Before any row it is the
//! lowest value of the parameter's type (`-infinity` for dates and
//! timestamps, the minimum for integers, `''` for text), so
//! `where id > {watermark}` reads everything the first time. The value is
//! kept in the state store under `postgres:{flow}:watermark` once the rows
//! up to it are acknowledged, so a restart resumes after the last delivered
//! row. Without a watermark, every run emits every row and nothing is stored.

use super::pg_error;
use super::pool::Pool;
use super::query::check_sql;
use super::rows::{RowShape, natural};
use super::types::{Param, encode};
use aqueduct_connectors::support::args::{arg_duration, arg_str, label, req_str};
use aqueduct_connectors::support::commit::Committer;
use aqueduct_connectors::support::{decode_error, stopped};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{
    Ack, ConnectorError, DecodeError, Envelope, OpContext, Source, StateStore,
};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Polls a query.
pub(crate) struct PollSource {
    pool: Arc<Pool>,
    sql: String,
    every: Duration,
    watermark: Option<String>,
    key: String,
    ty: Type,
    schemas: Arc<Schemas>,
    state: Arc<dyn StateStore>,
    shutdown: watch::Receiver<bool>,
}

/// A stored watermark (JSON) back as a value.
pub(crate) fn from_stored(json: &serde_json::Value) -> Option<Value> {
    match json {
        serde_json::Value::Number(n) => Some(match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Decimal(n.to_string().parse().ok()?),
        }),
        serde_json::Value::String(s) => Some(Value::String(Arc::from(s.as_str()))),
        _ => None,
    }
}

/// A value as stored: decimals as strings, so they stay exact.
fn to_stored(value: &Value) -> String {
    stored_json(value).to_string()
}

/// A value as stored, as JSON (a `query` key value too).
pub(crate) fn stored_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Decimal(d) => serde_json::Value::String(d.to_string()),
        other => other.to_json(),
    }
}

type Rows = Vec<(Result<Value, DecodeError>, Option<Value>)>;

impl PollSource {
    pub(crate) fn build(cx: &OpContext, pool: Arc<Pool>) -> Result<PollSource, ConnectorError> {
        let sql = req_str(cx, "sql")?
            .replace("{watermark}", "$1")
            .replace(":watermark", "$1");
        let every = arg_duration(cx, "every")?.ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `every` is required", label(cx)))
        })?;
        check_sql(cx, &pool, &sql)?;
        Ok(PollSource {
            pool,
            sql,
            every: every.max(Duration::from_millis(10)),
            watermark: arg_str(cx, "watermark")?,
            key: format!("postgres:{}:watermark", cx.flow),
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            state: cx.state.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    async fn fetch(&self, watermark: &Option<Value>) -> Result<Rows, ConnectorError> {
        let system = self.pool.system().to_string();
        let err = |e: tokio_postgres::Error| pg_error(&system, &e);
        let conn = self.pool.get().await?;
        let stmt = conn.prepare(&self.sql).await.map_err(err)?;
        let mut params: Vec<Param> = Vec::new();
        if let Some(ty) = stmt.params().first() {
            params.push(match watermark {
                None => Param::Lowest,
                Some(v) => encode(v, ty).map_err(|e| {
                    ConnectorError::Permanent(format!(
                        "postgres `{system}`: the stored watermark does not fit the query: {e}"
                    ))
                })?,
            });
        }
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let rows = conn.query(&stmt, &refs).await.map_err(err)?;
        let columns: Vec<String> = stmt
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let wm_index = self
            .watermark
            .as_ref()
            .and_then(|c| columns.iter().position(|n| n == c));
        let shape = RowShape::new(columns, &self.ty, &self.schemas);
        Ok(rows
            .iter()
            .map(|row| {
                let record = shape
                    .record(row)
                    .map_err(|r| decode_error(&shape.text(row), r));
                let wm = wm_index
                    .and_then(|i| natural(row, i).ok())
                    .filter(|v| !v.is_null());
                (record, wm)
            })
            .collect())
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        if let Some(column) = &self.watermark
            && !self.sql.contains("$1")
        {
            tracing::warn!(column = %column, "the poll SQL does not use {{watermark}}: every run reads every row");
        }
        let mut watermark: Option<Value> = match self.state.get(&self.key).await? {
            Some(text) => serde_json::from_str(&text)
                .ok()
                .as_ref()
                .and_then(from_stored),
            None => None,
        };
        let committer = self
            .watermark
            .is_some()
            .then(|| Committer::start(self.state.clone(), self.key.clone()));
        let mut interval = tokio::time::interval(self.every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut result = Ok(());
        'poll: loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = stopped(&mut self.shutdown) => break,
            }
            let rows = match self.fetch(&watermark).await {
                Ok(rows) => rows,
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "postgres poll failed; retrying at the next interval");
                    continue;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            for (record, wm) in rows {
                let (ack, ack_rx) = Ack::new();
                let envelope = Envelope::new(record, ack);
                if out.send(envelope).await.is_err() {
                    break 'poll;
                }
                let position = wm.map(|wm| {
                    let text = to_stored(&wm);
                    watermark = Some(wm);
                    text
                });
                if let Some(committer) = &committer {
                    committer.push(ack_rx, position);
                }
            }
        }
        drop(out);
        if let Some(committer) = committer {
            committer.finish().await?;
        }
        result
    }
}

impl Source for PollSource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(self.run_inner(out))
    }
}
