//! `sqlite.insert(table)`, `upsert(table, key)`, `delete(table, key)`.
//!
//! Columns are the fields of the record type. In `sync` and `async` flows
//! each `write` (one record, or a `batch` group) is one transaction, and
//! records an async flow has at hand together are staged into one
//! transaction that `commit` ends (group commit). In
//! `batch` flows a chunk is one transaction: the first write opens it, every
//! write of the chunk runs inside it, and `flush()` (which the executor calls
//! at the end of the chunk, before acknowledging its records) commits it, so
//! readers see whole chunks and a killed run leaves none half-written. A
//! write is whole or not at all either way (a savepoint undoes a group that
//! fails half-way; the record or group fails alone). Every operation on a
//! file shares one connection ([`super::Db`]): another flow writing the same
//! file meanwhile commits the open chunk early, which is safe (its records
//! are acknowledged only after their own flush). `insert` and `upsert` create the table
//! when it is missing (`CREATE TABLE IF NOT EXISTS`, one column per field,
//! `NOT NULL` for required fields, and `PRIMARY KEY (key…)` for `upsert`);
//! an existing table is used as it is, so an upsert key needs a primary key
//! or unique index there. `delete` never creates a table. `upsert` is
//! `INSERT … ON CONFLICT (key) DO UPDATE SET` every other column.

use super::{Db, column_type, quote_ident, sql_error, to_sql};
use crate::formats::layout;
use crate::support::args::{arg_fields, label, req_str};
use aqueduct_graph::ModeKind;
use aqueduct_runtime::connector::{ConnectorError, OpContext, Target};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Writes rows.
pub(crate) struct SqliteTarget {
    db: Arc<Db>,
    sql: Arc<str>,
    /// Field names bound in order.
    columns: Arc<Vec<String>>,
    /// Batch flows: writes join the chunk's transaction, `flush()` commits it.
    chunked: bool,
}

impl SqliteTarget {
    pub(crate) fn build(cx: &OpContext, db: Arc<Db>) -> Result<SqliteTarget, ConnectorError> {
        let config = |m: String| ConnectorError::Config(format!("`{}`: {m}", label(cx)));
        let table = req_str(cx, "table")?;
        let layout = layout(&cx.record_type, &cx.schemas).ok_or_else(|| {
            config(format!(
                "records must have a declared record type, not {}",
                cx.record_type
            ))
        })?;
        let fields: Vec<String> = layout.fields.iter().map(|f| f.name.clone()).collect();
        let key = arg_fields(cx, "key")?;
        let op = cx.op.operation.as_str();
        if matches!(op, "upsert" | "delete") && key.is_empty() {
            return Err(config("argument `key` is required".to_string()));
        }
        if let Some(missing) = key.iter().find(|k| !fields.contains(k)) {
            return Err(config(format!(
                "key field `{missing}` is not a field of `{}`",
                layout.name
            )));
        }
        let t = quote_ident(&table);
        let cols = fields
            .iter()
            .map(|f| quote_ident(f))
            .collect::<Vec<_>>()
            .join(", ");
        let params = (1..=fields.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let (sql, columns) = match op {
            "insert" => (
                format!("INSERT INTO {t} ({cols}) VALUES ({params})"),
                fields.clone(),
            ),
            "upsert" => {
                let updates: Vec<String> = fields
                    .iter()
                    .filter(|f| !key.contains(f))
                    .map(|f| format!("{} = excluded.{}", quote_ident(f), quote_ident(f)))
                    .collect();
                let action = if updates.is_empty() {
                    "NOTHING".to_string()
                } else {
                    format!("UPDATE SET {}", updates.join(", "))
                };
                let keys = key
                    .iter()
                    .map(|k| quote_ident(k))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    format!(
                        "INSERT INTO {t} ({cols}) VALUES ({params}) ON CONFLICT ({keys}) DO {action}"
                    ),
                    fields.clone(),
                )
            }
            "delete" => {
                let cond = key
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!("{} = ?{}", quote_ident(k), i + 1))
                    .collect::<Vec<_>>();
                (
                    format!("DELETE FROM {t} WHERE {}", cond.join(" AND ")),
                    key.clone(),
                )
            }
            other => {
                return Err(ConnectorError::Config(format!(
                    "`sqlite.{other}` cannot be used as a target"
                )));
            }
        };
        if op != "delete" {
            create_table(cx, &db)?;
        }
        let check = sql.clone();
        db.run_sync(move |conn| {
            conn.prepare(&check)
                .map(|_| ())
                .map_err(|e| ConnectorError::Config(format!("sqlite: {e}")))
        })?;
        Ok(SqliteTarget {
            db,
            sql: Arc::from(sql),
            columns: Arc::new(columns),
            chunked: cx.mode == ModeKind::Batch,
        })
    }
}

impl SqliteTarget {
    /// Writes `records` as one unit; `commit` ends the transaction after it.
    fn write_then<'a>(
        &'a self,
        records: &'a [Value],
        commit: bool,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let rows: Vec<Vec<SqlValue>> = records
            .iter()
            .map(|r| self.columns.iter().map(|c| to_sql(&r.field(c))).collect())
            .collect();
        let sql = self.sql.clone();
        let db = self.db.clone();
        Box::pin(
            self.db
                .run(move |conn| write_rows(conn, &db, &sql, &rows, commit)),
        )
    }
}

impl Target for SqliteTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        self.write_then(records, !self.chunked)
    }

    fn group_commits(&self) -> bool {
        // batch flows already commit once per chunk
        !self.chunked
    }

    fn stage<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        // joins (or opens) the transaction that `commit` ends
        self.write_then(records, false)
    }

    fn commit(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let db = self.db.clone();
        Box::pin(self.db.run(move |conn| commit_open(conn, &db)))
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        match self.start_flush() {
            Some(commit) => commit,
            None => Box::pin(async { Ok(()) }),
        }
    }

    fn start_flush(&self) -> Option<BoxFuture<'static, Result<(), ConnectorError>>> {
        // queued now: it commits exactly the writes queued before it
        let db = self.db.clone();
        self.chunked.then(|| {
            Box::pin(self.db.queue(move |conn| commit_open(conn, &db))) as BoxFuture<'static, _>
        })
    }
}

/// Creates the table of an `insert`/`upsert` target when it is missing:
/// one column per field of the record type (typed by [`column_type`]),
/// `NOT NULL` for required fields, `PRIMARY KEY (key…)` for `upsert`.
/// Called before any flow starts ([`super::SqliteConnector`]'s `prepare`)
/// and again when the target is built; `delete` creates nothing.
pub(crate) fn create_table(cx: &OpContext, db: &Db) -> Result<(), ConnectorError> {
    let op = cx.op.operation.as_str();
    if !matches!(op, "insert" | "upsert") {
        return Ok(());
    }
    let table = req_str(cx, "table")?;
    let Some(layout) = layout(&cx.record_type, &cx.schemas) else {
        // the target's own build names this problem
        return Ok(());
    };
    let mut defs: Vec<String> = layout
        .fields
        .iter()
        .map(|f| {
            let null = if f.ty.is_optional() { "" } else { " NOT NULL" };
            format!("{} {}{null}", quote_ident(&f.name), column_type(&f.ty))
        })
        .collect();
    if op == "upsert" {
        let key = arg_fields(cx, "key")?;
        if key.is_empty() {
            return Ok(());
        }
        defs.push(format!(
            "PRIMARY KEY ({})",
            key.iter()
                .map(|k| quote_ident(k))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let create = format!(
        "CREATE TABLE IF NOT EXISTS {} ({})",
        quote_ident(&table),
        defs.join(", ")
    );
    db.run_sync(move |conn| conn.execute_batch(&create).map_err(sql_error))
}

/// Runs `rows` through `sql` as one unit: inside the open transaction (a
/// batch chunk's), or a new one; `commit` ends the transaction afterwards.
fn write_rows(
    conn: &mut Connection,
    db: &Db,
    sql: &str,
    rows: &[Vec<SqlValue>],
    commit: bool,
) -> Result<(), ConnectorError> {
    let began = conn.is_autocommit();
    if began {
        conn.execute_batch("BEGIN").map_err(sql_error)?;
    }
    let written = conn
        .execute_batch("SAVEPOINT aq_write")
        .and_then(|()| {
            let mut stmt = conn.prepare_cached(sql)?;
            for row in rows {
                stmt.execute(rusqlite::params_from_iter(row.iter()))?;
            }
            Ok(())
        })
        .and_then(|()| conn.execute_batch("RELEASE aq_write"));
    if let Err(e) = written {
        // undo this write only; the rest of an open chunk stays
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (a severe error)
            if !began {
                db.chunk_lost.store(true, Ordering::SeqCst);
            }
        } else if began && commit {
            let _ = conn.execute_batch("ROLLBACK");
        } else {
            let _ = conn.execute_batch("ROLLBACK TO aq_write; RELEASE aq_write");
        }
        return Err(sql_error(e));
    }
    if commit && let Err(e) = conn.execute_batch("COMMIT") {
        if began && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        } else if !began && conn.is_autocommit() {
            db.chunk_lost.store(true, Ordering::SeqCst);
        }
        return Err(sql_error(e));
    }
    Ok(())
}

/// Commits the open transaction, if any (a batch chunk's).
fn commit_open(conn: &mut Connection, db: &Db) -> Result<(), ConnectorError> {
    if db.chunk_lost.swap(false, Ordering::SeqCst) {
        return Err(ConnectorError::Transient(
            "sqlite rolled back the chunk's transaction after an error; its records are written again on the next run".to_string(),
        ));
    }
    if conn.is_autocommit() {
        return Ok(());
    }
    conn.execute_batch("COMMIT").map_err(sql_error)
}
