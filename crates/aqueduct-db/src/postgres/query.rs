//! `postgres.query(sql)`: a bounded source, one record per row, read
//! through a cursor (a portal fetched [`FETCH`] rows at a time inside a
//! read-only REPEATABLE READ transaction), so the result never sits in
//! memory whole and every row comes from one snapshot. Without `key`, a
//! query has no position to resume from: a lost connection fails the run
//! and a re-run reads every row again (pair it with `upsert` to stay
//! idempotent). With `key` it reads ordered by the key and resumes after
//! the last row read, in the run and across runs ([`crate::resume`]); each
//! read after a resume is a snapshot of its own.

use super::poll::{from_stored, stored_json};
use super::pool::{Pool, connect};
use super::rows::{RowShape, natural};
use super::sql::quote_ident;
use super::types::{Param, encode};
use super::{pg_error, startup};
use crate::resume::{Pass, Reader, Resume, drive};
use aqueduct_connectors::support::args::req_str;
use aqueduct_connectors::support::{decode_error, stopped};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{ConnectorError, Envelope, OpContext, Source};
use aqueduct_runtime::value::Schemas;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio_postgres::IsolationLevel;

/// Rows fetched from the cursor at a time.
pub const FETCH: i32 = 1000;

/// Runs a query once.
pub(crate) struct QuerySource {
    pool: Arc<Pool>,
    sql: String,
    /// With `key`: how to resume.
    resume: Option<Arc<Resume>>,
    ty: Type,
    schemas: Arc<Schemas>,
    shutdown: watch::Receiver<bool>,
}

/// Prepares `sql` on a connection of its own (start-up check).
pub(crate) fn check_sql(cx: &OpContext, pool: &Arc<Pool>, sql: &str) -> Result<(), ConnectorError> {
    let _ = cx;
    let (config, system, sql) = (
        pool.config().clone(),
        pool.system().to_string(),
        sql.to_string(),
    );
    startup(move || {
        Box::pin(async move {
            let client = connect(&system, &config)
                .await
                .map_err(|e| ConnectorError::Config(e.to_string()))?;
            client
                .prepare(&sql)
                .await
                .map_err(|e| ConnectorError::Config(pg_error(&system, &e).to_string()))?;
            Ok(())
        })
    })
}

impl QuerySource {
    pub(crate) fn build(cx: &OpContext, pool: Arc<Pool>) -> Result<QuerySource, ConnectorError> {
        let sql = req_str(cx, "sql")?;
        let resume = Resume::of(cx, "postgres", stored_json, from_stored)?.map(Arc::new);
        match &resume {
            // the resuming form: its key columns must be columns of the result
            Some(r) => check_sql(cx, &pool, &r.sql(&sql, quote_ident, dollar, true))?,
            None => check_sql(cx, &pool, &sql)?,
        }
        Ok(QuerySource {
            pool,
            sql,
            resume,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    async fn read_once(&mut self, pass: &mut Pass<'_>) -> Result<bool, ConnectorError> {
        let system = self.pool.system().to_string();
        let err = |e: tokio_postgres::Error| pg_error(&system, &e);
        let sql = match &self.resume {
            Some(r) => r.sql(&self.sql, quote_ident, dollar, pass.after.is_some()),
            None => self.sql.clone(),
        };
        let mut conn = self.pool.get().await?;
        let client = conn.client_mut()?;
        let tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(IsolationLevel::RepeatableRead)
            .start()
            .await
            .map_err(err)?;
        let stmt = tx.prepare(&sql).await.map_err(err)?;
        let columns: Vec<String> = stmt
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let key = match &self.resume {
            Some(r) => r.indexes(&columns)?,
            None => Vec::new(),
        };
        let mut params: Vec<Param> = Vec::new();
        for (value, ty) in pass.after.iter().flatten().zip(stmt.params()) {
            params.push(encode(value, ty).map_err(|e| {
                ConnectorError::Permanent(format!(
                    "postgres `{system}`: the key to resume after does not fit the query: {e}"
                ))
            })?);
        }
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let shape = RowShape::new(columns, &self.ty, &self.schemas);
        let portal = tx.bind(&stmt, &refs).await.map_err(err)?;
        loop {
            let rows = tokio::select! {
                rows = tx.query_portal(&portal, FETCH) => rows.map_err(err)?,
                _ = stopped(&mut self.shutdown) => return Ok(false),
            };
            let last = rows.len() < FETCH as usize;
            for row in &rows {
                let record = shape
                    .record(row)
                    .map_err(|reason| decode_error(&shape.text(row), reason));
                let key = key
                    .iter()
                    .map(|i| natural(row, *i))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        ConnectorError::Permanent(format!(
                            "postgres `{system}`: a key column cannot be read: {e}"
                        ))
                    })?;
                if !pass.emit(record, key).await? {
                    return Ok(false);
                }
            }
            if last {
                break;
            }
        }
        tx.commit().await.map_err(err)?;
        Ok(true)
    }
}

/// PostgreSQL's parameter `i`.
fn dollar(i: usize) -> String {
    format!("${i}")
}

impl Reader for QuerySource {
    fn read<'a, 'b: 'a>(
        &'a mut self,
        pass: &'a mut Pass<'b>,
    ) -> BoxFuture<'a, Result<bool, ConnectorError>> {
        Box::pin(self.read_once(pass))
    }
}

impl Source for QuerySource {
    fn run(
        mut self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let resume = self.resume.clone();
            let shutdown = self.shutdown.clone();
            drive(&mut *self, resume.as_deref(), out, shutdown).await
        })
    }
}
