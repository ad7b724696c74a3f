//! `mysql.insert(table)`, `upsert(table, key)`, `delete(table, key)`.
//!
//! The table must exist and is compared with the record type at start-up
//! (the same checks as PostgreSQL's). Each value is checked against its
//! column before anything is sent ([`super::types::encode`]), so a value
//! that does not fit is an error for its record alone. `upsert` is
//! `INSERT … ON DUPLICATE KEY UPDATE` every other column; `delete` is
//! `DELETE … WHERE (key) IN (…)`. In `sync` and `async` flows each `write`
//! is one statement (a `batch` group: one multi-row statement in one
//! transaction). In `batch` flows each chunk is loaded in one transaction
//! when the executor flushes it; lock wait timeouts, deadlocks and lost
//! connections roll it back and it is loaded again (up to 5 tries). An
//! error of one row ([`is_row_error`]: a duplicate key, a foreign key, a
//! NULL, a value too long or out of range, a CHECK constraint) rolls it
//! back too, and the chunk is loaded again isolating the bad rows
//! ([`isolate`]): one transaction, halves under savepoints, a failing half
//! split again down to single rows; the good rows commit together and each
//! bad one is refused with the server's message ([`Target::take_refused`]),
//! for the dead letter. Other errors fail the chunk and the run.
//!
//! How a batch chunk is loaded: `insert` and `upsert` encode each record
//! as a line of `LOAD DATA` text as it is written ([`super::infile`]) and
//! the chunk goes in with `LOAD DATA LOCAL INFILE`, straight into the
//! table (for `upsert` while no key of the chunk exists yet), else into a
//! temporary staging table followed by `INSERT … SELECT … ON DUPLICATE KEY
//! UPDATE` in the order the records came (so a key repeated within the
//! chunk keeps its last record). With `LOCAL` the server turns what would
//! be errors (a duplicate key, a value it had to adjust) into skipped rows
//! and warnings, so a `LOAD DATA` counts: unless every row was taken with
//! no warning it is rolled back, and the chunk is loaded again by
//! multi-row statements, which take it or fail with the server's message
//! (`Duplicate entry …`) as before. `delete`, tables with binary columns,
//! and servers that refuse `LOCAL INFILE` use the multi-row statements.

use super::infile::{self, TextRows};
use super::schema::{describe, problems};
use super::types::{ColumnInfo, encode};
use super::{Db, my_error, quote_ident};
use crate::bisect::Bisection;
use aqueduct_connectors::support::args::{arg_fields, label, req_str};
use aqueduct_graph::ModeKind;
use aqueduct_runtime::connector::{ConnectorError, OpContext, Refused, Target};
use aqueduct_runtime::value::Value;
use bytes::Bytes;
use futures::future::BoxFuture;
use mysql_async::prelude::Queryable;
use mysql_async::{TxOpts, Value as MyValue};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Chunks an upsert loads through the staging table at once after its
/// direct `LOAD DATA` met an existing key (the table is being updated).
const DIRECT_PAUSE: u32 = 16;

/// How rows become statements (fixed at start-up).
#[derive(Debug)]
struct Plan {
    system: String,
    table: String,
    op: String,
    /// Quoted columns, in value order.
    cols: Vec<String>,
    /// `ON DUPLICATE KEY UPDATE …` of the upsert.
    tail: String,
    /// Chunks go in by `LOAD DATA` (insert and upsert of tables without
    /// binary columns, until the server refuses `LOCAL INFILE`).
    infile: AtomicBool,
    /// Upsert chunks left to load through the staging table directly.
    direct_pause: AtomicU32,
}

impl Plan {
    /// One statement for `n` rows.
    fn sql(&self, n: usize) -> String {
        let one = format!("({})", vec!["?"; self.cols.len()].join(", "));
        let rows = vec![one.as_str(); n].join(", ");
        if self.op == "delete" {
            format!(
                "DELETE FROM {} WHERE ({}) IN ({rows})",
                self.table,
                self.cols.join(", ")
            )
        } else {
            format!(
                "INSERT INTO {} ({}) VALUES {rows}{}",
                self.table,
                self.cols.join(", "),
                self.tail
            )
        }
    }

    /// Rows per statement: at most 1000, and under MySQL's 65,535 placeholders.
    fn per_statement(&self) -> usize {
        (60_000 / self.cols.len().max(1)).clamp(1, 1000)
    }
}

type Rows = Vec<Vec<MyValue>>;

/// Why loading failed: the connector error, and whether it is an error of
/// one row ([`is_row_error`]), which isolating the bad rows gets past.
struct Failed {
    error: ConnectorError,
    row: bool,
}

impl From<ConnectorError> for Failed {
    fn from(error: ConnectorError) -> Failed {
        Failed { error, row: false }
    }
}

fn fail(system: &str, e: mysql_async::Error) -> Failed {
    Failed {
        row: is_row_error(&e),
        error: my_error(system, &e),
    }
}

/// True for a server error about the row being written, which that row
/// alone will meet again (checked against MariaDB 10.11 in strict mode
/// unless noted): 1062 duplicate entry, 1451/1452 foreign key (parent,
/// child), 1048 column cannot be null, 1406 data too long, 1264 out of
/// range, 1366 incorrect value, 1292 incorrect date/time value, 4025
/// CHECK constraint (MariaDB), 3819 CHECK constraint (MySQL 8), 1216/1217
/// (older servers' foreign key codes), 1364 field without default.
fn is_row_error(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if matches!(
        s.code,
        1048 | 1062 | 1216 | 1217 | 1264 | 1292 | 1364 | 1366 | 1406 | 1451 | 1452 | 3819 | 4025
    ))
}

/// The rows of a batch chunk being written.
enum Open {
    /// As `LOAD DATA` text.
    Text(TextRows),
    /// As values, for multi-row statements.
    Values(Rows),
}

/// Writes rows.
pub(crate) struct MysqlTarget {
    db: Db,
    plan: Arc<Plan>,
    columns: Vec<ColumnInfo>,
    /// Batch flows: the rows of the open chunk, and the records they came
    /// from (kept for the dead letter; a clone of a record is a reference
    /// count).
    chunk: Option<Mutex<(Open, Vec<Value>)>>,
    /// Records the chunks' loads refused, until the executor takes them.
    refused: Arc<Mutex<Vec<Refused>>>,
}

impl MysqlTarget {
    pub(crate) fn build(cx: &OpContext, db: Db) -> Result<MysqlTarget, ConnectorError> {
        let what = label(cx);
        let config = |m: String| ConnectorError::Config(format!("`{what}`: {m}"));
        let table = req_str(cx, "table")?;
        let layout = crate::values::layout(&cx.record_type, &cx.schemas).ok_or_else(|| {
            config(format!(
                "records must have a declared record type, not {}",
                cx.record_type
            ))
        })?;
        let fields: Vec<String> = layout.fields.iter().map(|f| f.name.clone()).collect();
        let key = arg_fields(cx, "key")?;
        let op = cx.op.operation.clone();
        if !matches!(op.as_str(), "insert" | "upsert" | "delete") {
            return Err(config(format!("`mysql.{op}` cannot be used as a target")));
        }
        if matches!(op.as_str(), "upsert" | "delete") && key.is_empty() {
            return Err(config("argument `key` is required".to_string()));
        }
        if let Some(missing) = key.iter().find(|k| !fields.contains(k)) {
            return Err(config(format!(
                "key field `{missing}` is not a field of `{}`",
                layout.name
            )));
        }
        let (opts, system, name, op2, type_name, field_types, key2) = (
            db.opts.clone(),
            db.system.clone(),
            table.clone(),
            op.clone(),
            layout.name.clone(),
            layout.fields.clone(),
            key.clone(),
        );
        let info = crate::startup::startup(move || {
            Box::pin(async move {
                let mut conn = mysql_async::Conn::new(opts)
                    .await
                    .map_err(|e| ConnectorError::Config(my_error(&system, &e).to_string()))?;
                let table = describe(&mut conn, &name)
                    .await
                    .map_err(|e| ConnectorError::Config(my_error(&system, &e).to_string()))?;
                let _ = conn.disconnect().await;
                let found = problems(&name, table.as_ref(), &op2, &type_name, &field_types, &key2);
                if !found.is_empty() {
                    return Err(ConnectorError::Config(format!(
                        "mysql `{system}`: {}",
                        found.join("; ")
                    )));
                }
                Ok(table)
            })
        })?
        .ok_or_else(|| config(format!("table `{table}` does not exist")))?;
        let names = if op == "delete" { key.clone() } else { fields };
        let columns = names
            .iter()
            .map(|c| {
                info.column(c)
                    .cloned()
                    .ok_or_else(|| config(format!("table `{table}` has no column `{c}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cols: Vec<String> = names.iter().map(|c| quote_ident(c)).collect();
        let updates: Vec<String> = names
            .iter()
            .filter(|c| !key.contains(c))
            .map(|c| format!("{q} = VALUES({q})", q = quote_ident(c)))
            .collect();
        let tail = match op.as_str() {
            "upsert" if updates.is_empty() => {
                let k = quote_ident(&key[0]);
                format!(" ON DUPLICATE KEY UPDATE {k} = {k}")
            }
            "upsert" => format!(" ON DUPLICATE KEY UPDATE {}", updates.join(", ")),
            _ => String::new(),
        };
        let text = op != "delete" && infile::suits(&columns);
        Ok(MysqlTarget {
            plan: Arc::new(Plan {
                system: db.system.clone(),
                table: quote_ident(&table),
                op,
                cols,
                tail,
                infile: AtomicBool::new(text),
                direct_pause: AtomicU32::new(0),
            }),
            db,
            columns,
            chunk: (cx.mode == ModeKind::Batch).then(|| {
                let open = if text {
                    Open::Text(TextRows::default())
                } else {
                    Open::Values(Vec::new())
                };
                Mutex::new((open, Vec::new()))
            }),
            refused: Arc::default(),
        })
    }

    fn values(&self, record: &Value) -> Result<Vec<MyValue>, ConnectorError> {
        self.columns
            .iter()
            .map(|c| {
                encode(&record.field(&c.name), c).map_err(|e| {
                    ConnectorError::Permanent(format!(
                        "mysql `{}`: column `{}` ({}): {e}",
                        self.db.system, c.name, c.column_type
                    ))
                })
            })
            .collect()
    }
}

/// Writes `rows` in one transaction of multi-row statements.
async fn load(db: &Db, plan: &Plan, rows: &Rows) -> Result<(), Failed> {
    let err = |e: mysql_async::Error| fail(&plan.system, e);
    let mut conn = db.pool.get_conn().await.map_err(err)?;
    let mut tx = conn
        .start_transaction(TxOpts::default())
        .await
        .map_err(err)?;
    for group in rows.chunks(plan.per_statement()) {
        let params: Vec<MyValue> = group.iter().flatten().cloned().collect();
        tx.exec_drop(plan.sql(group.len()), params)
            .await
            .map_err(err)?;
    }
    tx.commit().await.map_err(err)
}

/// Loads `rows` in one transaction, setting aside the rows the server
/// refuses (see [`Bisection`]). The refused rows by position, each with its
/// error. A failed statement alone is rolled back by the server too, but a
/// range of several statements needs the savepoint.
async fn isolate(
    db: &Db,
    plan: &Plan,
    rows: &Rows,
) -> Result<Vec<(usize, ConnectorError)>, Failed> {
    let err = |e: mysql_async::Error| fail(&plan.system, e);
    let mut conn = db.pool.get_conn().await.map_err(err)?;
    let mut tx = conn
        .start_transaction(TxOpts::default())
        .await
        .map_err(err)?;
    let mut bisection = Bisection::new(rows.len());
    while let Some(range) = bisection.next_range() {
        tx.query_drop("SAVEPOINT aq_rows").await.map_err(err)?;
        let mut result = Ok(());
        for group in rows[range.clone()].chunks(plan.per_statement()) {
            let params: Vec<MyValue> = group.iter().flatten().cloned().collect();
            result = tx.exec_drop(plan.sql(group.len()), params).await;
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(()) => tx
                .query_drop("RELEASE SAVEPOINT aq_rows")
                .await
                .map_err(err)?,
            Err(e) if is_row_error(&e) => {
                tx.query_drop("ROLLBACK TO SAVEPOINT aq_rows")
                    .await
                    .map_err(err)?;
                bisection.refused(range, || my_error(&plan.system, &e));
            }
            Err(e) => return Err(err(e)),
        }
    }
    tx.commit().await.map_err(err)?;
    Ok(bisection.into_refused())
}

/// A chunk taken for loading.
enum Chunk {
    /// `LOAD DATA` text and its number of rows.
    Text((Bytes, usize)),
    Values(Rows),
}

impl Chunk {
    fn is_empty(&self) -> bool {
        match self {
            Chunk::Text((_, n)) => *n == 0,
            Chunk::Values(rows) => rows.is_empty(),
        }
    }
}

/// What one `LOAD DATA` did.
enum Loaded {
    /// Every row, without a warning.
    All,
    /// Fewer rows, or warnings: rolled back.
    Short,
}

/// Loads a chunk of `LOAD DATA` text in one transaction: straight into
/// the table (insert; upsert unless paused), else (upsert) through the
/// staging table; when a `LOAD DATA` does not take every row cleanly,
/// by multi-row statements instead ([`load`]).
async fn load_text(db: &Db, plan: &Plan, text: &Bytes, n: usize) -> Result<(), Failed> {
    let err = |e: mysql_async::Error| fail(&plan.system, e);
    let mut conn = db.pool.get_conn().await.map_err(err)?;
    let cols = plan.cols.join(", ");
    let paused = plan.op == "upsert"
        && plan
            .direct_pause
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| k.checked_sub(1))
            .is_ok();
    if !paused {
        let direct = infile::statement(&plan.table, &cols);
        match load_once(&mut conn, plan, text, n, &[], &direct, &[]).await? {
            Loaded::All => return Ok(()),
            Loaded::Short if plan.op == "insert" => {
                // names the row the server refused
                drop(conn);
                return load(db, plan, &infile::parse(text)).await;
            }
            Loaded::Short => plan.direct_pause.store(DIRECT_PAUSE, Ordering::Relaxed),
        }
    }
    // one per target table and connection (a temporary table lives in its session)
    let stage = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        plan.table.hash(&mut h);
        format!("`aq_stage_{:016x}`", h.finish())
    };
    let before = [
        format!(
            "CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (aq_seq BIGINT AUTO_INCREMENT PRIMARY KEY) SELECT {cols} FROM {} LIMIT 0",
            plan.table
        ),
        format!("DELETE FROM {stage}"),
    ];
    let after = [format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM {stage} ORDER BY aq_seq{}",
        plan.table, plan.tail
    )];
    let load_stage = infile::statement(&stage, &cols);
    match load_once(&mut conn, plan, text, n, &before, &load_stage, &after).await? {
        Loaded::All => Ok(()),
        Loaded::Short => {
            drop(conn);
            load(db, plan, &infile::parse(text)).await
        }
    }
}

/// One transaction: `before`, the `LOAD DATA` of `text`, `after`. Rolled
/// back (`Short`) when the `LOAD DATA` did not take all `n` rows without a
/// warning, or failed with a permanent error (a server that refuses
/// `LOCAL INFILE` is not asked again).
async fn load_once(
    conn: &mut mysql_async::Conn,
    plan: &Plan,
    text: &Bytes,
    n: usize,
    before: &[String],
    load_sql: &str,
    after: &[String],
) -> Result<Loaded, Failed> {
    use futures::StreamExt;
    let err = |e: mysql_async::Error| fail(&plan.system, e);
    let pieces = infile::pieces(text);
    conn.set_infile_handler(async move {
        Ok(futures::stream::iter(pieces.into_iter().map(Ok)).boxed())
    });
    let mut tx = conn
        .start_transaction(TxOpts::default())
        .await
        .map_err(err)?;
    for sql in before {
        tx.query_drop(sql).await.map_err(err)?;
    }
    if let Err(e) = tx.query_drop(load_sql).await {
        // 1148 (MySQL 5.x, MariaDB), 3948 (MySQL 8): LOCAL INFILE is off
        if let mysql_async::Error::Server(s) = &e
            && matches!(s.code, 1148 | 3948)
        {
            plan.infile.store(false, Ordering::Relaxed);
            tracing::warn!(system = %plan.system, "The server refuses LOAD DATA LOCAL INFILE; loading chunks by multi-row statements.");
        }
        let e = err(e);
        if e.error.is_retryable() {
            return Err(e);
        }
        let _ = tx.rollback().await;
        return Ok(Loaded::Short);
    }
    if tx.affected_rows() != n as u64 || tx.get_warnings() != 0 {
        tx.rollback().await.map_err(err)?;
        return Ok(Loaded::Short);
    }
    for sql in after {
        tx.query_drop(sql).await.map_err(err)?;
    }
    tx.commit().await.map_err(err)?;
    Ok(Loaded::All)
}

impl Target for MysqlTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let rows = records
                .iter()
                .map(|r| self.values(r))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(open) = &self.chunk {
                let mut open = open
                    .lock()
                    .map_err(|_| ConnectorError::Permanent("chunk buffer poisoned".to_string()))?;
                let (open, kept_records) = &mut *open;
                match open {
                    Open::Text(text) => rows.iter().for_each(|r| text.push(r)),
                    Open::Values(kept) => kept.extend(rows),
                }
                kept_records.extend_from_slice(records);
                return Ok(());
            }
            if rows.len() == 1 {
                let mut conn = self
                    .db
                    .pool
                    .get_conn()
                    .await
                    .map_err(|e| my_error(&self.plan.system, &e))?;
                let params: Vec<MyValue> = rows.into_iter().flatten().collect();
                return conn
                    .exec_drop(self.plan.sql(1), params)
                    .await
                    .map_err(|e| my_error(&self.plan.system, &e));
            }
            load(&self.db, &self.plan, &rows).await.map_err(|f| f.error)
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        match self.start_flush() {
            Some(commit) => commit,
            None => Box::pin(async { Ok(()) }),
        }
    }

    fn start_flush(&self) -> Option<BoxFuture<'static, Result<(), ConnectorError>>> {
        let open = self.chunk.as_ref()?;
        // taken now: the flush loads exactly the rows written before it
        let (rows, records) = match open.lock() {
            Ok(mut open) => {
                let (open, records) = &mut *open;
                let records = std::mem::take(records);
                match open {
                    Open::Text(text) => (Chunk::Text(std::mem::take(text).freeze()), records),
                    Open::Values(kept) => (Chunk::Values(std::mem::take(kept)), records),
                }
            }
            Err(_) => {
                return Some(Box::pin(async {
                    Err(ConnectorError::Permanent(
                        "chunk buffer poisoned".to_string(),
                    ))
                }));
            }
        };
        let (db, plan, out) = (self.db.clone(), self.plan.clone(), self.refused.clone());
        Some(Box::pin(async move {
            if rows.is_empty() {
                return Ok(());
            }
            let mut isolating = false;
            let attempt_load = |isolating: bool| {
                let (db, plan, rows) = (&db, &plan, &rows);
                async move {
                    if isolating {
                        return match rows {
                            Chunk::Text((text, _)) => isolate(db, plan, &infile::parse(text)).await,
                            Chunk::Values(values) => isolate(db, plan, values).await,
                        };
                    }
                    let loaded = match rows {
                        Chunk::Text((text, n)) if plan.infile.load(Ordering::Relaxed) => {
                            load_text(db, plan, text, *n).await
                        }
                        Chunk::Text((text, _)) => load(db, plan, &infile::parse(text)).await,
                        Chunk::Values(values) => load(db, plan, values).await,
                    };
                    loaded.map(|()| Vec::new())
                }
            };
            let mut wait = Duration::from_millis(200);
            let mut attempt = 1;
            loop {
                match attempt_load(isolating).await {
                    Ok(refused) => {
                        if !refused.is_empty()
                            && let Ok(mut out) = out.lock()
                        {
                            out.extend(refused.into_iter().map(|(i, error)| Refused {
                                record: records.get(i).cloned().unwrap_or(Value::Null),
                                error,
                            }));
                        }
                        return Ok(());
                    }
                    Err(f) if f.row && !isolating => {
                        tracing::warn!(system = %plan.system, error = %f.error, "A chunk has a row the server refuses; loading it again to set that row aside.");
                        isolating = true;
                    }
                    Err(f) if f.error.is_retryable() && attempt < 5 => {
                        tracing::warn!(system = %plan.system, error = %f.error, attempt, "Loading a chunk failed; trying again.");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                        attempt += 1;
                    }
                    Err(f) => return Err(f.error),
                }
            }
        }))
    }

    fn take_refused(&self) -> Vec<Refused> {
        self.refused
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}
