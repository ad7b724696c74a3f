//! `mysql.query(sql)` (a bounded source) and `mysql.poll(sql, every,
//! watermark)`.
//!
//! `query` runs its statement once and streams the rows off the socket as
//! the flow takes them (a slow flow leaves them unread on the server side),
//! so the result never sits in memory whole. Without `key` a query has no
//! position: a lost connection fails the run and a re-run reads every row
//! again. With `key` it reads ordered by the key and resumes after the
//! last row read, in the run and across runs ([`crate::resume`]).
//!
//! `poll` runs its statement every `every`. With `watermark: "col"`, each
//! `{watermark}` or `:watermark` in the SQL is bound to that column's value
//! in the last row emitted; before any row it is NULL, so write
//! `where :watermark is null or id > :watermark`. The value is kept in the
//! state store under `mysql:{flow}:watermark` once the rows up to it are
//! acknowledged, so a restart resumes after the last delivered row.

use super::types::{natural, param};
use super::{Db, check_sql, my_error, quote_ident};
use crate::resume::{Pass, Reader, Resume, drive};
use crate::values::convert;
use aqueduct_connectors::support::args::{arg_duration, arg_str, label, req_str};
use aqueduct_connectors::support::commit::Committer;
use aqueduct_connectors::support::{decode_error, stopped};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source, StateStore};
use aqueduct_runtime::value::{Layout, Record, Schemas, Value};
use futures::future::BoxFuture;
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Row};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// A query run once, or polled.
pub(crate) struct MysqlSource {
    db: Db,
    sql: String,
    /// Poll: the interval and the watermark column.
    every: Option<Duration>,
    watermark: Option<String>,
    /// `?` placeholders bound to the watermark.
    wm_params: usize,
    /// Query with `key`: how to resume.
    resume: Option<Arc<Resume>>,
    key: String,
    ty: Type,
    schemas: Arc<Schemas>,
    state: Arc<dyn StateStore>,
    shutdown: watch::Receiver<bool>,
}

/// A row as a record of `ty` (fields by column name), or JSON when untyped.
pub(crate) fn row_record(
    row: &Row,
    columns: &[Column],
    ty: &Type,
    schemas: &Schemas,
) -> Result<Value, String> {
    let read = |i: usize| -> Result<Value, String> {
        match row.as_ref(i) {
            Some(v) => natural(v, &columns[i]),
            None => Ok(Value::Null),
        }
    };
    let layout: Option<Arc<Layout>> = match ty.required() {
        Type::Record(name) => schemas.layout(name).cloned(),
        _ => None,
    };
    let Some(layout) = layout else {
        let mut map = serde_json::Map::new();
        for (i, c) in columns.iter().enumerate() {
            let name = c.name_str().to_string();
            let v = read(i).map_err(|e| format!("column `{name}`: {e}"))?;
            map.insert(name, v.to_json());
        }
        return Ok(Value::Json(Arc::new(serde_json::Value::Object(map))));
    };
    let mut slots = Vec::with_capacity(layout.fields.len());
    for field in &layout.fields {
        let index = columns.iter().position(|c| c.name_str() == field.name);
        let value = match index {
            None => Value::Null,
            Some(i) => read(i)
                .and_then(|v| convert(v, &field.ty, schemas))
                .map_err(|e| format!("column `{}`: {e}", field.name))?,
        };
        if value.is_null() && !field.ty.is_optional() {
            return Err(match index {
                None => format!(
                    "missing required field `{}` (the query has no such column)",
                    field.name
                ),
                Some(_) => format!(
                    "column `{}` is NULL but field `{}` is not optional",
                    field.name, field.name
                ),
            });
        }
        slots.push(value);
    }
    Ok(Value::Record(Arc::new(Record {
        layout: layout.clone(),
        slots,
    })))
}

/// A short text of a row for dead letters.
pub(crate) fn row_text(row: &Row, columns: &[Column]) -> String {
    let mut map = serde_json::Map::new();
    for (i, c) in columns.iter().enumerate() {
        if let Some(Ok(v)) = row.as_ref(i).map(|v| natural(v, c)) {
            map.insert(c.name_str().to_string(), v.to_json());
        }
    }
    serde_json::Value::Object(map).to_string()
}

impl MysqlSource {
    pub(crate) fn build(cx: &OpContext, db: Db) -> Result<MysqlSource, ConnectorError> {
        let poll = cx.op.operation == "poll";
        let raw = req_str(cx, "sql")?;
        let (sql, wm_params) = if poll {
            let marked = raw.replace("{watermark}", ":watermark");
            let (sql, names) = crate::sqltext::rewrite_named(&marked, |_| "?".to_string());
            if let Some(other) = names.iter().find(|n| *n != "watermark") {
                return Err(ConnectorError::Config(format!(
                    "`{}`: `:{other}` in the SQL: only {{watermark}} is bound in a poll",
                    label(cx)
                )));
            }
            (sql, names.len())
        } else {
            (raw, 0)
        };
        let every = if poll {
            Some(arg_duration(cx, "every")?.ok_or_else(|| {
                ConnectorError::Config(format!("`{}`: argument `every` is required", label(cx)))
            })?)
        } else {
            None
        };
        let resume = if poll {
            None
        } else {
            Resume::of(cx, "mysql", stored_json, from_stored)?.map(Arc::new)
        };
        match &resume {
            // the resuming form: its key columns must be columns of the result
            Some(r) => check_sql(&db, &label(cx), &r.sql(&sql, quote_ident, question, true))?,
            None => check_sql(&db, &label(cx), &sql)?,
        };
        Ok(MysqlSource {
            db,
            sql,
            every: every.map(|e| e.max(Duration::from_millis(10))),
            watermark: arg_str(cx, "watermark")?,
            wm_params,
            resume,
            key: format!("mysql:{}:watermark", cx.flow),
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            state: cx.state.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    /// Runs the statement once, sending each row; the watermark of the last
    /// row sent is left in `watermark`. False when the flow stopped taking records.
    async fn once(
        &mut self,
        out: &mpsc::Sender<Envelope>,
        watermark: &mut Option<Value>,
        committer: Option<&Committer>,
    ) -> Result<bool, ConnectorError> {
        let system = self.db.system.clone();
        let err = |e: mysql_async::Error| my_error(&system, &e);
        let mut conn = self.db.pool.get_conn().await.map_err(err)?;
        let params: Vec<mysql_async::Value> =
            vec![param(watermark.as_ref().unwrap_or(&Value::Null)); self.wm_params];
        let params = if params.is_empty() {
            mysql_async::Params::Empty
        } else {
            mysql_async::Params::Positional(params)
        };
        let mut result = conn
            .exec_iter(self.sql.as_str(), params)
            .await
            .map_err(err)?;
        let columns: Arc<[Column]> = result.columns().unwrap_or_else(|| Arc::from(Vec::new()));
        let wm_index = self
            .watermark
            .as_ref()
            .and_then(|w| columns.iter().position(|c| c.name_str() == *w));
        loop {
            let row = tokio::select! {
                row = result.next() => row.map_err(err)?,
                _ = stopped(&mut self.shutdown) => return Ok(false),
            };
            let Some(row) = row else { break };
            let record = row_record(&row, &columns, &self.ty, &self.schemas)
                .map_err(|reason| decode_error(&row_text(&row, &columns), reason));
            let (ack, ack_rx) = Ack::new_if(committer.is_some());
            if out.send(Envelope::new(record, ack)).await.is_err() {
                return Ok(false);
            }
            let wm = wm_index
                .and_then(|i| row.as_ref(i).and_then(|v| natural(v, &columns[i]).ok()))
                .filter(|v| !v.is_null());
            let position = wm.map(|wm| {
                let text = match &wm {
                    Value::Decimal(d) => serde_json::Value::String(d.to_string()).to_string(),
                    other => other.to_json().to_string(),
                };
                *watermark = Some(wm);
                text
            });
            if let (Some(c), Some(rx)) = (committer, ack_rx) {
                c.push(rx, position);
            }
        }
        Ok(true)
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let Some(every) = self.every else {
            let resume = self.resume.clone();
            let shutdown = self.shutdown.clone();
            return drive(&mut self, resume.as_deref(), out, shutdown).await;
        };
        let mut watermark: Option<Value> = match self.state.get(&self.key).await? {
            Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Number(n)) => n.as_i64().map(Value::Int),
                Ok(serde_json::Value::String(s)) => {
                    Some(match chrono::DateTime::parse_from_rfc3339(&s) {
                        Ok(t) => Value::Timestamp(t.with_timezone(&chrono::Utc)),
                        Err(_) => match s.parse::<rust_decimal::Decimal>() {
                            Ok(d) => Value::Decimal(d),
                            Err(_) => Value::String(Arc::from(s.as_str())),
                        },
                    })
                }
                _ => None,
            },
            None => None,
        };
        let committer = self
            .watermark
            .is_some()
            .then(|| Committer::start(self.state.clone(), self.key.clone()));
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut result = Ok(());
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = stopped(&mut self.shutdown) => break,
            }
            match self.once(&out, &mut watermark, committer.as_ref()).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "mysql poll failed; retrying at the next interval");
                }
                Err(e) => {
                    result = Err(e);
                    break;
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

impl MysqlSource {
    /// `query`: runs the statement (after `pass.after` with a key), each
    /// row into the flow through `pass`.
    async fn read_query(&mut self, pass: &mut Pass<'_>) -> Result<bool, ConnectorError> {
        let system = self.db.system.clone();
        let err = |e: mysql_async::Error| my_error(&system, &e);
        let (sql, params) = match (&self.resume, &pass.after) {
            (Some(r), after) => (
                r.sql(&self.sql, quote_ident, question, after.is_some()),
                after.iter().flatten().map(param).collect(),
            ),
            (None, _) => (self.sql.clone(), Vec::new()),
        };
        let params = if params.is_empty() {
            mysql_async::Params::Empty
        } else {
            mysql_async::Params::Positional(params)
        };
        let mut conn = self.db.pool.get_conn().await.map_err(err)?;
        let mut result = conn.exec_iter(sql.as_str(), params).await.map_err(err)?;
        let columns: Arc<[Column]> = result.columns().unwrap_or_else(|| Arc::from(Vec::new()));
        let key = match &self.resume {
            Some(r) => r.indexes(&columns.iter().map(|c| c.name_str()).collect::<Vec<_>>())?,
            None => Vec::new(),
        };
        loop {
            let row = tokio::select! {
                row = result.next() => row.map_err(err)?,
                _ = stopped(&mut self.shutdown) => return Ok(false),
            };
            let Some(row) = row else { break };
            let record = row_record(&row, &columns, &self.ty, &self.schemas)
                .map_err(|reason| decode_error(&row_text(&row, &columns), reason));
            let key = key
                .iter()
                .map(|i| match row.as_ref(*i) {
                    Some(v) => natural(v, &columns[*i]),
                    None => Ok(Value::Null),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    ConnectorError::Permanent(format!(
                        "mysql `{system}`: a key column cannot be read: {e}"
                    ))
                })?;
            if !pass.emit(record, key).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// MySQL's parameter (any position).
fn question(_: usize) -> String {
    "?".to_string()
}

/// A key value as stored: decimals as strings (exact), timestamps in the
/// form MySQL compares with a `DATETIME` or `TIMESTAMP` column.
fn stored_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Decimal(d) => serde_json::Value::String(d.to_string()),
        Value::Timestamp(t) => {
            serde_json::Value::String(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
        }
        other => other.to_json(),
    }
}

/// A stored key value back: bound as it was stored, the server converts
/// text to the column's type.
fn from_stored(json: &serde_json::Value) -> Option<Value> {
    match json {
        serde_json::Value::Number(n) => Some(match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Decimal(n.to_string().parse().ok()?),
        }),
        serde_json::Value::String(s) => Some(Value::String(Arc::from(s.as_str()))),
        _ => None,
    }
}

impl Reader for MysqlSource {
    fn read<'a, 'b: 'a>(
        &'a mut self,
        pass: &'a mut Pass<'b>,
    ) -> BoxFuture<'a, Result<bool, ConnectorError>> {
        Box::pin(self.read_query(pass))
    }
}

impl Source for MysqlSource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(self.run_inner(out))
    }
}
