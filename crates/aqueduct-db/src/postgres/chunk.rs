//! Loading one batch chunk in one transaction.
//!
//! `insert`: `COPY table (columns) FROM STDIN (FORMAT binary)` of the rows
//! encoded as they were written ([`super::copy`]).
//! `upsert`: first the same COPY straight into the table, inside a
//! savepoint: when no key of the chunk exists yet (a first load) that is
//! the whole upsert. When it meets an existing or repeated key (a unique
//! violation) it is rolled back to the savepoint, and the chunk goes
//! through a temporary staging table (created once per connection,
//! emptied at each commit): COPY into it, then `INSERT INTO table SELECT
//! … FROM staging ON CONFLICT (key) DO UPDATE`; a key repeated within one
//! chunk keeps its last record (the order a row-by-row upsert would
//! leave). After such a fallback the next [`DIRECT_PAUSE`] chunks go to
//! the staging table at once.
//! `delete`: the per-record statement, pipelined, in the transaction.
//!
//! A chunk is all or nothing. Lost connections, serialization failures and
//! deadlocks roll it back and it is loaded again (up to [`ATTEMPTS`] times,
//! with backoff); any other error (a constraint violation) fails the chunk,
//! and with it the run: its records are not acknowledged, so the next run
//! loads the chunk again.

use super::copy::Frozen;
use super::pg_error;
use super::pool::Pool;
use super::types::Param;
use aqueduct_runtime::connector::ConnectorError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type as PgType};

/// Tries of a chunk that failed with a transient error.
pub const ATTEMPTS: u32 = 5;

/// Chunks an upsert sends to the staging table at once after its direct
/// COPY met an existing key (the table is being updated, not filled).
pub const DIRECT_PAUSE: u32 = 16;

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
    /// Upsert chunks left to send to the staging table without trying
    /// the direct COPY first.
    pub direct_pause: AtomicU32,
}

/// The rows of one chunk.
pub(crate) enum Rows {
    /// Encoded for COPY (insert, upsert).
    Copy(Frozen),
    /// Converted values (delete).
    Params(Vec<Vec<Param>>),
}

/// One chunk's rows, ready to load.
pub(crate) struct Chunk {
    pub plan: Arc<ChunkPlan>,
    pub pool: Arc<Pool>,
    pub rows: Rows,
    /// How many rows (nothing to do when 0).
    pub len: usize,
}

impl Chunk {
    /// Loads the chunk in one transaction, retrying transient failures.
    pub async fn load(self) -> Result<(), ConnectorError> {
        if self.len == 0 {
            return Ok(());
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
            let copy_into =
                |table: &str| format!("COPY {table} ({cols}) FROM STDIN (FORMAT binary)");
            match &self.rows {
                Rows::Copy(rows) if plan.op == "insert" => {
                    rows.copy(&tx, &copy_into(&plan.table)).await.map_err(err)?;
                }
                Rows::Copy(rows) => {
                    if !direct_upsert(plan, &tx, rows, &copy_into(&plan.table)).await? {
                        let stage = stage_name(&plan.table);
                        tx.batch_execute(&format!(
                            "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {cols} FROM {} WITH NO DATA",
                            plan.table
                        ))
                        .await
                        .map_err(err)?;
                        rows.last_per_key(&plan.key_index)
                            .copy(&tx, &copy_into(&stage))
                            .await
                            .map_err(err)?;
                        tx.batch_execute(&format!(
                            "INSERT INTO {} ({cols}) SELECT {cols} FROM {stage} {}",
                            plan.table, plan.on_conflict
                        ))
                        .await
                        .map_err(err)?;
                    }
                }
                Rows::Params(rows) => {
                    let stmt = tx
                        .prepare_typed(&plan.row_sql, &plan.types)
                        .await
                        .map_err(err)?;
                    for group in rows.chunks(256) {
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

/// An upsert's first try: the rows COPied straight into the table inside
/// a savepoint. True when that loaded them; false when a key already
/// existed or repeated (rolled back to the savepoint: the staging table
/// takes the chunk), or when the direct COPY is paused.
async fn direct_upsert(
    plan: &ChunkPlan,
    tx: &tokio_postgres::Transaction<'_>,
    rows: &Frozen,
    sql: &str,
) -> Result<bool, ConnectorError> {
    let err = |e: tokio_postgres::Error| pg_error(&plan.system, &e);
    let paused = plan
        .direct_pause
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok();
    if paused {
        return Ok(false);
    }
    tx.batch_execute("SAVEPOINT aq_direct").await.map_err(err)?;
    match rows.copy(tx, sql).await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT aq_direct")
                .await
                .map_err(err)?;
            plan.direct_pause.store(DIRECT_PAUSE, Ordering::Relaxed);
            Ok(false)
        }
        Err(e) => Err(err(e)),
    }
}

/// The staging table of `table` (one per target table and connection).
fn stage_name(table: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    table.hash(&mut h);
    format!("aq_stage_{:016x}", h.finish())
}
