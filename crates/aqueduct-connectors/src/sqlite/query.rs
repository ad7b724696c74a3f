//! `sqlite.query(sql)`: a bounded source, one record per row (fields by
//! column name). It reads through its own connection on its own thread, so
//! a flow may write to the same database while reading it. A query has no
//! stable position to resume from: a re-run reads every row again (pair it
//! with `upsert` to stay idempotent).

use super::{connect, row_text, row_value, sql_error};
use crate::support::args::req_str;
use crate::support::{decode_error, stopped};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Ack, ConnectorError, DecodeError, Envelope, OpContext, Source};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// Runs a query once.
pub(crate) struct QuerySource {
    path: PathBuf,
    sql: String,
    ty: Type,
    schemas: Arc<Schemas>,
    shutdown: watch::Receiver<bool>,
}

type Row = Result<Result<Value, DecodeError>, ConnectorError>;

impl QuerySource {
    pub(crate) fn build(cx: &OpContext, path: PathBuf) -> Result<QuerySource, ConnectorError> {
        let sql = req_str(cx, "sql")?;
        // Checks the SQL at start-up.
        connect(&path)?
            .prepare(&sql)
            .map_err(|e| ConnectorError::Config(format!("`{}.query`: {e}", cx.op.system)))?;
        Ok(QuerySource {
            path,
            sql,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    fn read(
        path: PathBuf,
        sql: String,
        ty: Type,
        schemas: Arc<Schemas>,
        tx: mpsc::Sender<Row>,
    ) -> Result<(), ConnectorError> {
        let conn = connect(&path)?;
        let mut stmt = conn.prepare(&sql).map_err(sql_error)?;
        let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
        let mut rows = stmt.query([]).map_err(sql_error)?;
        while let Some(row) = rows.next().map_err(sql_error)? {
            let record = row_value(row, &columns, &ty, &schemas)
                .map_err(|reason| decode_error(&row_text(row, &columns), reason));
            if tx.blocking_send(Ok(record)).is_err() {
                break;
            }
        }
        Ok(())
    }
}

impl Source for QuerySource {
    fn run(
        mut self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let (tx, mut rx) = mpsc::channel::<Row>(256);
            let (path, sql, ty, schemas) = (
                self.path.clone(),
                self.sql.clone(),
                self.ty.clone(),
                self.schemas.clone(),
            );
            std::thread::Builder::new()
                .name("aqueduct-sqlite-query".to_string())
                .spawn(move || {
                    if let Err(e) = QuerySource::read(path, sql, ty, schemas, tx.clone()) {
                        let _ = tx.blocking_send(Err(e));
                    }
                })
                .map_err(|e| {
                    ConnectorError::Transient(format!("cannot start the query thread: {e}"))
                })?;
            loop {
                let item = tokio::select! {
                    item = rx.recv() => item,
                    _ = stopped(&mut self.shutdown) => None,
                };
                match item {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(record)) => {
                        if out.send(Envelope::new(record, Ack::none())).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        })
    }
}
