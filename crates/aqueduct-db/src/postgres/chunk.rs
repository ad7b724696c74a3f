//! Loading one batch chunk in one transaction.
//!
//! `insert`: `COPY table (columns) FROM STDIN (FORMAT binary)`.
//! `upsert`: COPY into a temporary staging table (created once per
//! connection, emptied at each commit), then `INSERT INTO table SELECT …
//! FROM staging ON CONFLICT (key) DO UPDATE`; a key repeated within one
//! chunk keeps its last record (the order a row-by-row upsert would leave).
//! `delete`: the per-record statement, pipelined, in the transaction.
//!
//! A chunk is all or nothing. Lost connections, serialization failures and
//! deadlocks roll it back and it is loaded again (up to [`ATTEMPTS`] times,
//! with backoff); any other error (a constraint violation) fails the chunk,
//! and with it the run: its records are not acknowledged, so the next run
//! loads the chunk again.

use super::pg_error;
use super::pool::Pool;
use super::types::Param;
use aqueduct_runtime::connector::ConnectorError;
use bytes::BytesMut;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type as PgType};

/// Tries of a chunk that failed with a transient error.
pub const ATTEMPTS: u32 = 5;

/// How a target loads its chunks (fixed at start-up).
#[derive(Debug)]
pub(crate) struct ChunkPlan {
    pub system: String,
    /// The quoted table.
    pub table: String,
    pub op: String,
    /// Quoted columns, in parameter order.
    pub columns: Vec<String>,
    pub types: Vec<PgType>,
    /// Positions of the key columns (upsert).
    pub key_index: Vec<usize>,
    /// The per-record statement (delete).
    pub row_sql: String,
    /// `ON CONFLICT …` of the upsert.
    pub on_conflict: String,
}

/// One chunk's rows, ready to load.
pub(crate) struct Chunk {
    pub plan: Arc<ChunkPlan>,
    pub pool: Arc<Pool>,
    pub rows: Vec<Vec<Param>>,
}

impl Chunk {
    /// Loads the chunk in one transaction, retrying transient failures.
    pub async fn load(mut self) -> Result<(), ConnectorError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        if self.plan.op == "upsert" {
            self.rows = last_per_key(std::mem::take(&mut self.rows), &self.plan);
        }
        let mut wait = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match self.try_load().await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                    tracing::warn!(system = %self.plan.system, error = %e, attempt, "Loading a chunk failed; trying again.");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_load(&self) -> Result<(), ConnectorError> {
        let plan = &self.plan;
        let err = |e: tokio_postgres::Error| pg_error(&plan.system, &e);
        let mut conn = self.pool.get().await?;
        let result = async {
            let tx = conn.client_mut()?.transaction().await.map_err(err)?;
            let cols = plan.columns.join(", ");
            match plan.op.as_str() {
                "insert" => {
                    copy(&tx, &plan.table, &cols, &plan.types, &self.rows)
                        .await
                        .map_err(err)?;
                }
                "upsert" => {
                    let stage = stage_name(&plan.table);
                    tx.batch_execute(&format!(
                        "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {cols} FROM {} WITH NO DATA",
                        plan.table
                    ))
                    .await
                    .map_err(err)?;
                    copy(&tx, &stage, &cols, &plan.types, &self.rows)
                        .await
                        .map_err(err)?;
                    tx.batch_execute(&format!(
                        "INSERT INTO {} ({cols}) SELECT {cols} FROM {stage} {}",
                        plan.table, plan.on_conflict
                    ))
                    .await
                    .map_err(err)?;
                }
                _ => {
                    let stmt = tx
                        .prepare_typed(&plan.row_sql, &plan.types)
                        .await
                        .map_err(err)?;
                    for group in self.rows.chunks(256) {
                        let runs = group.iter().map(|row| {
                            let refs: Vec<&(dyn ToSql + Sync)> =
                                row.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                            let (tx, stmt) = (&tx, &stmt);
                            async move { tx.execute(stmt, &refs).await }
                        });
                        futures::future::try_join_all(runs).await.map_err(err)?;
                    }
                }
            }
            tx.commit().await.map_err(err)
        }
        .await;
        if result.is_err() {
            // a failed COPY may leave the connection mid-protocol: never reuse it
            conn.discard();
        }
        result
    }
}

/// COPY `rows` into `table` in PostgreSQL's binary format.
async fn copy(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    cols: &str,
    types: &[PgType],
    rows: &[Vec<Param>],
) -> Result<u64, tokio_postgres::Error> {
    let sink = tx
        .copy_in(&format!("COPY {table} ({cols}) FROM STDIN (FORMAT binary)"))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, types);
    futures::pin_mut!(writer);
    for row in rows {
        let refs: Vec<&(dyn ToSql + Sync)> = row.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        writer.as_mut().write(&refs).await?;
    }
    writer.finish().await
}

/// The staging table of `table` (one per target table and connection).
fn stage_name(table: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    table.hash(&mut h);
    format!("aq_stage_{:016x}", h.finish())
}

/// The rows with each key's last occurrence only, in first-seen order.
fn last_per_key(rows: Vec<Vec<Param>>, plan: &ChunkPlan) -> Vec<Vec<Param>> {
    let mut slot: HashMap<Vec<u8>, usize> = HashMap::with_capacity(rows.len());
    let mut out: Vec<Vec<Param>> = Vec::with_capacity(rows.len());
    let mut buf = BytesMut::new();
    for row in rows {
        let mut key = Vec::new();
        for &i in &plan.key_index {
            buf.clear();
            let null = match row.get(i) {
                Some(p) => matches!(
                    p.to_sql(&plan.types[i], &mut buf),
                    Ok(tokio_postgres::types::IsNull::Yes) | Err(_)
                ),
                None => true,
            };
            key.push(u8::from(null));
            key.extend_from_slice(&(buf.len() as u32).to_be_bytes());
            key.extend_from_slice(&buf);
        }
        match slot.get(&key) {
            Some(&at) => out[at] = row,
            None => {
                slot.insert(key, out.len());
                out.push(row);
            }
        }
    }
    out
}
