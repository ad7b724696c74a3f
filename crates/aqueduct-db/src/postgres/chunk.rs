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
//! Lost connections, serialization failures and deadlocks roll a chunk
//! back and it is loaded again (up to [`ATTEMPTS`] times, with backoff).
//! An error of one row (SQLSTATE class 23, integrity constraint violation,
//! or 22, data exception) rolls it back too, and the chunk is loaded again
//! isolating its bad rows ([`Chunk::isolate`]): still one transaction, in
//! halves under savepoints, each half that fails split again down to
//! single rows. The good rows commit together; each bad row is refused
//! with the server's message ([`Target::take_refused`]) and goes to the
//! dead letter. Only a chunk that failed pays for this. Any other error
//! fails the chunk, and with it the run: its records are not acknowledged,
//! so the next run loads the chunk again.
//!
//! [`Target::take_refused`]: aqueduct_runtime::connector::Target::take_refused

use super::copy::Frozen;
use super::pg_error;
use super::pool::Pool;
use super::types::Param;
use crate::bisect::Bisection;
use aqueduct_runtime::connector::{ConnectorError, Refused};
use aqueduct_runtime::value::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
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
    /// The records of the rows, in order (for the dead letter).
    pub records: Vec<Value>,
    /// Where refused records go, for [`Target::take_refused`].
    ///
    /// [`Target::take_refused`]: aqueduct_runtime::connector::Target::take_refused
    pub refused: Arc<Mutex<Vec<Refused>>>,
}

/// Why loading failed: the connector error, and whether it is an error of
/// one row (class 22 or 23), which isolating the bad rows gets past.
struct Failed {
    error: ConnectorError,
    row: bool,
}

impl From<ConnectorError> for Failed {
    fn from(error: ConnectorError) -> Failed {
        Failed { error, row: false }
    }
}

/// True for an error of the row being written: SQLSTATE class 23
/// (integrity constraint violation) or 22 (data exception).
fn is_row_error(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| c.code().starts_with("23") || c.code().starts_with("22"))
}

impl Chunk {
    /// Loads the chunk in one transaction, retrying transient failures;
    /// after an error of one row, loads it again isolating the bad rows.
    pub async fn load(self) -> Result<(), ConnectorError> {
        if self.len == 0 {
            return Ok(());
        }
        let mut wait = Duration::from_millis(200);
        let mut attempt = 1;
        let mut isolating = false;
        loop {
            let result = if isolating {
                self.isolate().await
            } else {
                self.try_load().await.map(|()| Vec::new())
            };
            match result {
                Ok(refused) => {
                    self.refuse(refused);
                    return Ok(());
                }
                Err(f) if f.row && !isolating => {
                    tracing::warn!(system = %self.plan.system, error = %f.error, "A chunk has a row the server refuses; loading it again to set that row aside.");
                    isolating = true;
                }
                Err(f) if f.error.is_retryable() && attempt < ATTEMPTS => {
                    tracing::warn!(system = %self.plan.system, error = %f.error, attempt, "Loading a chunk failed; trying again.");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    /// Hands the refused rows' records over for the dead letter.
    fn refuse(&self, refused: Vec<(usize, ConnectorError)>) {
        if refused.is_empty() {
            return;
        }
        if let Ok(mut out) = self.refused.lock() {
            out.extend(refused.into_iter().map(|(i, error)| Refused {
                record: self.records.get(i).cloned().unwrap_or(Value::Null),
                error,
            }));
        }
    }

    fn fail(&self, e: tokio_postgres::Error) -> Failed {
        Failed {
            row: is_row_error(&e),
            error: pg_error(&self.plan.system, &e),
        }
    }

    async fn try_load(&self) -> Result<(), Failed> {
        let plan = &self.plan;
        let err = |e: tokio_postgres::Error| self.fail(e);
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
                    if !direct_upsert(plan, &tx, rows, &copy_into(&plan.table))
                        .await
                        .map_err(err)?
                    {
                        create_stage(plan, &tx).await.map_err(err)?;
                        upsert_staged(plan, &tx, rows).await.map_err(err)?;
                    }
                }
                Rows::Params(rows) => delete_rows(plan, &tx, rows).await.map_err(err)?,
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

    /// Loads the chunk in one transaction, setting aside the rows the
    /// server refuses (see [`Bisection`]). The refused rows by position,
    /// each with its error.
    async fn isolate(&self) -> Result<Vec<(usize, ConnectorError)>, Failed> {
        let plan = &self.plan;
        let err = |e: tokio_postgres::Error| self.fail(e);
        let mut conn = self.pool.get().await?;
        let result = async {
            let tx = conn.client_mut()?.transaction().await.map_err(err)?;
            if plan.op == "upsert" {
                create_stage(plan, &tx).await.map_err(err)?;
            }
            let mut bisection = Bisection::new(self.len);
            while let Some(range) = bisection.next_range() {
                tx.batch_execute("SAVEPOINT aq_rows").await.map_err(err)?;
                match self.load_range(&tx, range.start, range.end).await {
                    Ok(()) => tx
                        .batch_execute("RELEASE SAVEPOINT aq_rows")
                        .await
                        .map_err(err)?,
                    Err(e) if is_row_error(&e) => {
                        tx.batch_execute("ROLLBACK TO SAVEPOINT aq_rows")
                            .await
                            .map_err(err)?;
                        bisection.refused(range, || pg_error(&plan.system, &e));
                    }
                    Err(e) => return Err(err(e)),
                }
            }
            tx.commit().await.map_err(err)?;
            Ok::<_, Failed>(bisection.into_refused())
        }
        .await;
        if result.is_err() {
            conn.discard();
        }
        result
    }

    /// Loads rows `from..to` as the chunk's operation does.
    async fn load_range(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        from: usize,
        to: usize,
    ) -> Result<(), tokio_postgres::Error> {
        let plan = &self.plan;
        match &self.rows {
            Rows::Copy(rows) if plan.op == "insert" => {
                let cols = plan.columns.join(", ");
                let sql = format!("COPY {} ({cols}) FROM STDIN (FORMAT binary)", plan.table);
                rows.range(from, to).copy(tx, &sql).await.map(|_| ())
            }
            Rows::Copy(rows) => {
                tx.batch_execute(&format!("DELETE FROM {}", stage_name(&plan.table)))
                    .await?;
                upsert_staged(plan, tx, &rows.range(from, to)).await
            }
            Rows::Params(rows) => delete_rows(plan, tx, &rows[from..to]).await,
        }
    }
}

/// The upsert's staging table, created once per connection (emptied at
/// each commit).
async fn create_stage(
    plan: &ChunkPlan,
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<(), tokio_postgres::Error> {
    let cols = plan.columns.join(", ");
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DELETE ROWS AS SELECT {cols} FROM {} WITH NO DATA",
        stage_name(&plan.table),
        plan.table
    ))
    .await
}

/// `rows` (each key's last) COPied into the empty staging table, then
/// upserted from it into the table.
async fn upsert_staged(
    plan: &ChunkPlan,
    tx: &tokio_postgres::Transaction<'_>,
    rows: &Frozen,
) -> Result<(), tokio_postgres::Error> {
    let cols = plan.columns.join(", ");
    let stage = stage_name(&plan.table);
    rows.last_per_key(&plan.key_index)
        .copy(
            tx,
            &format!("COPY {stage} ({cols}) FROM STDIN (FORMAT binary)"),
        )
        .await?;
    tx.batch_execute(&format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM {stage} {}",
        plan.table, plan.on_conflict
    ))
    .await
}

/// The per-record delete statement for each row, pipelined.
async fn delete_rows(
    plan: &ChunkPlan,
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[Vec<Param>],
) -> Result<(), tokio_postgres::Error> {
    let stmt = tx.prepare_typed(&plan.row_sql, &plan.types).await?;
    for group in rows.chunks(256) {
        let runs = group.iter().map(|row| {
            let refs: Vec<&(dyn ToSql + Sync)> =
                row.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
            let stmt = &stmt;
            async move { tx.execute(stmt, &refs).await }
        });
        futures::future::try_join_all(runs).await?;
    }
    Ok(())
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
) -> Result<bool, tokio_postgres::Error> {
    let paused = plan
        .direct_pause
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok();
    if paused {
        return Ok(false);
    }
    tx.batch_execute("SAVEPOINT aq_direct").await?;
    match rows.copy(tx, sql).await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT aq_direct").await?;
            plan.direct_pause.store(DIRECT_PAUSE, Ordering::Relaxed);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The staging table of `table` (one per target table and connection).
fn stage_name(table: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    table.hash(&mut h);
    format!("aq_stage_{:016x}", h.finish())
}
