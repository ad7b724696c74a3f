//! `sqlite.poll(sql, every, watermark)`: runs a query every `every` and
//! emits its rows.
//!
//! With `watermark: "col"`, `{watermark}` (or `:watermark`) in the SQL is
//! bound to that column's value in the last row emitted (order the query
//! by it); at first it is the smallest 64-bit integer, which SQLite sorts
//! below every integer, real and text value, so `where id > {watermark}`
//! reads everything the first time. The value is kept in the state store
//! under `sqlite:{flow}:watermark` once the rows up to it are acked, so a
//! restart resumes after the last delivered row. Without a watermark, every run
//! emits every row and nothing is stored.

use super::{Db, row_text, row_value, sql_error};
use crate::support::args::{arg_duration, arg_str, label, req_str};
use crate::support::commit::Committer;
use crate::support::{decode_error, stopped};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{
    Ack, ConnectorError, DecodeError, Envelope, OpContext, Source, StateStore,
};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use rusqlite::types::Value as SqlValue;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Polls a query.
pub(crate) struct PollSource {
    db: Arc<Db>,
    sql: String,
    every: Duration,
    watermark: Option<String>,
    key: String,
    ty: Type,
    schemas: Arc<Schemas>,
    state: Arc<dyn StateStore>,
    shutdown: watch::Receiver<bool>,
}

/// A watermark as stored (JSON: a number or a string).
fn wm_to_json(value: &SqlValue) -> serde_json::Value {
    match value {
        SqlValue::Integer(i) => serde_json::Value::from(*i),
        SqlValue::Real(f) => serde_json::Value::from(*f),
        SqlValue::Text(t) => serde_json::Value::String(t.clone()),
        SqlValue::Blob(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
        SqlValue::Null => serde_json::Value::Null,
    }
}

fn wm_from_json(json: &serde_json::Value) -> Option<SqlValue> {
    match json {
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(SqlValue::Integer)
            .or_else(|| n.as_f64().map(SqlValue::Real)),
        serde_json::Value::String(s) => Some(SqlValue::Text(s.clone())),
        _ => None,
    }
}

type Rows = Vec<(Result<Value, DecodeError>, Option<SqlValue>)>;

impl PollSource {
    pub(crate) fn build(cx: &OpContext, db: Arc<Db>) -> Result<PollSource, ConnectorError> {
        let sql = req_str(cx, "sql")?.replace("{watermark}", ":watermark");
        let every = arg_duration(cx, "every")?.ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `every` is required", label(cx)))
        })?;
        let check = sql.clone();
        db.run_sync(move |conn| {
            conn.prepare(&check)
                .map(|_| ())
                .map_err(|e| ConnectorError::Config(format!("poll: {e}")))
        })?;
        Ok(PollSource {
            db,
            sql,
            every: every.max(Duration::from_millis(10)),
            watermark: arg_str(cx, "watermark")?,
            key: format!("sqlite:{}:watermark", cx.flow),
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            state: cx.state.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    async fn fetch(&self, watermark: SqlValue) -> Result<Rows, ConnectorError> {
        let (sql, column, ty, schemas) = (
            self.sql.clone(),
            self.watermark.clone(),
            self.ty.clone(),
            self.schemas.clone(),
        );
        self.db
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(&sql).map_err(sql_error)?;
                if let Some(index) = stmt.parameter_index(":watermark").map_err(sql_error)? {
                    stmt.raw_bind_parameter(index, &watermark)
                        .map_err(sql_error)?;
                }
                let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
                let wm_index = column
                    .as_ref()
                    .and_then(|c| columns.iter().position(|n| n == c));
                let mut out = Vec::new();
                let mut rows = stmt.raw_query();
                while let Some(row) = rows.next().map_err(sql_error)? {
                    let record = row_value(row, &columns, &ty, &schemas)
                        .map_err(|r| decode_error(&row_text(row, &columns), r));
                    let wm = wm_index
                        .and_then(|i| row.get::<_, SqlValue>(i).ok())
                        .filter(|v| *v != SqlValue::Null);
                    out.push((record, wm));
                }
                Ok(out)
            })
            .await
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        if let Some(column) = &self.watermark
            && !self.sql.contains(":watermark")
        {
            tracing::warn!(column = %column, "the poll SQL does not use {{watermark}}: every run reads every row");
        }
        let mut watermark = match self.state.get(&self.key).await? {
            Some(text) => serde_json::from_str(&text)
                .ok()
                .as_ref()
                .and_then(wm_from_json)
                .unwrap_or(SqlValue::Integer(i64::MIN)),
            None => SqlValue::Integer(i64::MIN),
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
            let rows = match self.fetch(watermark.clone()).await {
                Ok(rows) => rows,
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "sqlite poll failed; retrying at the next interval");
                    continue;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            for (record, wm) in rows {
                let (ack, ack_rx) = Ack::new();
                if out.send(Envelope::new(record, ack)).await.is_err() {
                    break 'poll;
                }
                let position = wm.map(|wm| {
                    let text = wm_to_json(&wm).to_string();
                    watermark = wm;
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
