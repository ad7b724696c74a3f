//! `postgres.query(sql)`: a bounded source, one record per row, read
//! through a cursor (a portal fetched [`FETCH`] rows at a time inside a
//! read-only REPEATABLE READ transaction), so the result never sits in
//! memory whole and every row comes from one snapshot. A query has no
//! position to resume from: a re-run reads every row again (pair it with
//! `upsert` to stay idempotent).

use super::pool::{Pool, connect};
use super::rows::RowShape;
use super::{pg_error, startup};
use aqueduct_connectors::support::args::req_str;
use aqueduct_connectors::support::{decode_error, stopped};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source};
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
        check_sql(cx, &pool, &sql)?;
        Ok(QuerySource {
            pool,
            sql,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let system = self.pool.system().to_string();
        let err = |e: tokio_postgres::Error| pg_error(&system, &e);
        let mut conn = self.pool.get().await?;
        let client = conn.client_mut()?;
        let tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(IsolationLevel::RepeatableRead)
            .start()
            .await
            .map_err(err)?;
        let stmt = tx.prepare(&self.sql).await.map_err(err)?;
        let columns = stmt
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let shape = RowShape::new(columns, &self.ty, &self.schemas);
        let portal = tx
            .bind(&stmt, &[] as &[&(dyn tokio_postgres::types::ToSql + Sync)])
            .await
            .map_err(err)?;
        loop {
            let rows = tokio::select! {
                rows = tx.query_portal(&portal, FETCH) => rows.map_err(err)?,
                _ = stopped(&mut self.shutdown) => return Ok(()),
            };
            let last = rows.len() < FETCH as usize;
            for row in &rows {
                let record = shape
                    .record(row)
                    .map_err(|reason| decode_error(&shape.text(row), reason));
                let envelope = Envelope {
                    record,
                    ack: Ack::none(),
                    reply: None,
                };
                if out.send(envelope).await.is_err() {
                    return Ok(());
                }
            }
            if last {
                break;
            }
        }
        tx.commit().await.map_err(err)?;
        Ok(())
    }
}

impl Source for QuerySource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(self.run_inner(out))
    }
}
