//! `postgres.insert(table)`, `upsert(table, key)`, `delete(table, key)`.
//!
//! Columns are the fields of the record type; the table must exist (it is
//! never created), and at start-up it is compared with the record type
//! ([`super::schema::problems`]): a missing column, a column type that
//! cannot take the field, a NOT NULL column without a default and without
//! a field, or (upsert) no unique index on the key stop `run`.
//!
//! Each value is converted for its column before anything is sent
//! ([`super::types::encode`]): one that does not fit is an error for its
//! record alone (it goes to the dead letter naming the column). In `sync`
//! and `async` flows each `write` (one record, or a `batch` group) is one
//! statement, or one transaction for a group; constraint violations are
//! permanent errors carrying the server's message. In `batch` flows writes
//! are collected and each chunk is loaded in one transaction when the
//! executor flushes it ([`super::chunk`]): binary COPY for `insert` (each
//! record encoded for it as it is written, [`super::copy`]); for `upsert`
//! the same COPY into the table while no key exists yet, else COPY into a
//! temporary staging table plus `INSERT … ON CONFLICT`. A chunk with rows
//! the server refuses (a constraint violation, bad data) is loaded again
//! without them, and they go to the dead letter ([`Target::take_refused`]).

use super::chunk::{Chunk, ChunkPlan, Rows};
use super::copy::CopyRows;
use super::pool::{Pool, connect};
use super::schema::{describe, problems};
use super::sql::quote_ident;
use super::types::{Param, encode, type_label};
use super::{pg_error, startup};
use aqueduct_connectors::support::args::{arg_fields, label, req_str};
use aqueduct_graph::ModeKind;
use aqueduct_runtime::connector::{ConnectorError, OpContext, Refused, Target};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};
use tokio_postgres::types::{ToSql, Type as PgType};

/// Rows of the chunk being written: encoded for COPY (insert, upsert) or
/// kept as values (delete).
enum Open {
    Copy(CopyRows),
    Params(Vec<Vec<Param>>),
}

/// The open chunk: its rows, and the records they came from (kept for
/// the dead letter; a clone of a record is a reference count).
type OpenChunk = Mutex<(Open, Vec<Value>)>;

/// Writes rows.
pub(crate) struct PgTarget {
    pool: Arc<Pool>,
    /// The per-record statement (`$n` in `columns` order).
    sql: String,
    /// Fields bound, in order, and their column types.
    columns: Vec<String>,
    types: Vec<PgType>,
    /// Batch flows: rows of the open chunk, loaded by the flush.
    chunk: Option<(Arc<ChunkPlan>, OpenChunk)>,
    /// Records the chunks' loads refused, until the executor takes them.
    refused: Arc<Mutex<Vec<Refused>>>,
}

impl PgTarget {
    pub(crate) fn build(cx: &OpContext, pool: Arc<Pool>) -> Result<PgTarget, ConnectorError> {
        let what = label(cx);
        let config = |m: String| ConnectorError::Config(format!("`{what}`: {m}"));
        let table = req_str(cx, "table")?;
        let layout = super::rows::layout(&cx.record_type, &cx.schemas).ok_or_else(|| {
            config(format!(
                "records must have a declared record type, not {}",
                cx.record_type
            ))
        })?;
        let fields: Vec<String> = layout.fields.iter().map(|f| f.name.clone()).collect();
        let key = arg_fields(cx, "key")?;
        let op = cx.op.operation.clone();
        if !matches!(op.as_str(), "insert" | "upsert" | "delete") {
            return Err(config(format!(
                "`postgres.{op}` cannot be used as a target"
            )));
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
        let (cfg, system, name, op2, type_name, field_types, key2) = (
            pool.config().clone(),
            pool.system().to_string(),
            table.clone(),
            op.clone(),
            layout.name.clone(),
            layout.fields.clone(),
            key.clone(),
        );
        let table_info = startup(move || {
            Box::pin(async move {
                let client = connect(&system, &cfg)
                    .await
                    .map_err(|e| ConnectorError::Config(e.to_string()))?;
                let table = describe(&client, &name)
                    .await
                    .map_err(|e| ConnectorError::Config(pg_error(&system, &e).to_string()))?;
                let found = problems(&name, table.as_ref(), &op2, &type_name, &field_types, &key2);
                if !found.is_empty() {
                    return Err(ConnectorError::Config(format!(
                        "postgres `{system}`: {}",
                        found.join("; ")
                    )));
                }
                Ok(table)
            })
        })?
        .ok_or_else(|| config(format!("table `{table}` does not exist")))?;
        let columns = if op == "delete" {
            key.clone()
        } else {
            fields.clone()
        };
        let types = columns
            .iter()
            .map(|c| {
                table_info
                    .column(c)
                    .map(|col| col.ty.clone())
                    .ok_or_else(|| config(format!("table `{table}` has no column `{c}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let t = quote_ident(&table);
        let cols = columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>();
        let params = (1..=columns.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = match op.as_str() {
            "insert" => format!("INSERT INTO {t} ({}) VALUES ({params})", cols.join(", ")),
            "upsert" => format!(
                "INSERT INTO {t} ({}) VALUES ({params}) {}",
                cols.join(", "),
                on_conflict(&columns, &key)
            ),
            _ => format!(
                "DELETE FROM {t} WHERE {}",
                cols.iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c} = ${}", i + 1))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            ),
        };
        let chunk = (cx.mode == ModeKind::Batch).then(|| {
            let plan = ChunkPlan {
                system: pool.system().to_string(),
                table: t.clone(),
                op: op.clone(),
                columns: cols.clone(),
                types: types.clone(),
                key_index: key
                    .iter()
                    .filter_map(|k| columns.iter().position(|c| c == k))
                    .collect(),
                row_sql: sql.clone(),
                on_conflict: on_conflict(&columns, &key),
                direct_pause: Default::default(),
            };
            let open = if op == "delete" {
                Open::Params(Vec::new())
            } else {
                Open::Copy(CopyRows::default())
            };
            (Arc::new(plan), Mutex::new((open, Vec::new())))
        });
        Ok(PgTarget {
            pool,
            sql,
            columns,
            types,
            chunk,
            refused: Arc::default(),
        })
    }

    /// The record's values converted for their columns.
    fn params(&self, record: &Value) -> Result<Vec<Param>, ConnectorError> {
        self.columns
            .iter()
            .zip(&self.types)
            .map(|(c, ty)| {
                encode(&record.field(c), ty).map_err(|e| {
                    ConnectorError::Permanent(format!(
                        "postgres `{}`: column `{c}` ({}): {e}",
                        self.pool.system(),
                        type_label(ty)
                    ))
                })
            })
            .collect()
    }
}

/// `ON CONFLICT (key) DO UPDATE SET` every other column (`DO NOTHING` when
/// every column is part of the key).
fn on_conflict(columns: &[String], key: &[String]) -> String {
    let keys = key.iter().map(|k| quote_ident(k)).collect::<Vec<_>>();
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !key.contains(c))
        .map(|c| format!("{q} = EXCLUDED.{q}", q = quote_ident(c)))
        .collect();
    if updates.is_empty() {
        format!("ON CONFLICT ({}) DO NOTHING", keys.join(", "))
    } else {
        format!(
            "ON CONFLICT ({}) DO UPDATE SET {}",
            keys.join(", "),
            updates.join(", ")
        )
    }
}

impl Target for PgTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let rows = records
                .iter()
                .map(|r| self.params(r))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some((_, open)) = &self.chunk {
                let mut open = open
                    .lock()
                    .map_err(|_| ConnectorError::Permanent("chunk buffer poisoned".to_string()))?;
                let (open, kept_records) = &mut *open;
                match open {
                    Open::Params(kept) => kept.extend(rows),
                    Open::Copy(copy) => {
                        // all of the group or none of it
                        let mark = copy.len();
                        for row in &rows {
                            if let Err(e) = copy.push(row, &self.types) {
                                copy.truncate(mark);
                                return Err(ConnectorError::Permanent(format!(
                                    "postgres `{}`: {e}",
                                    self.pool.system()
                                )));
                            }
                        }
                    }
                }
                kept_records.extend_from_slice(records);
                return Ok(());
            }
            let system = self.pool.system();
            let err = |e: tokio_postgres::Error| pg_error(system, &e);
            let mut conn = self.pool.get().await?;
            if rows.len() == 1 {
                let typed = typed(&rows[0], &self.types);
                conn.execute_typed(&self.sql, &typed).await.map_err(err)?;
                return Ok(());
            }
            let tx = conn.client_mut()?.transaction().await.map_err(err)?;
            let stmt = tx
                .prepare_typed(&self.sql, &self.types)
                .await
                .map_err(err)?;
            for row in &rows {
                let refs: Vec<&(dyn ToSql + Sync)> =
                    row.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                tx.execute(&stmt, &refs).await.map_err(err)?;
            }
            tx.commit().await.map_err(err)
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        match self.start_flush() {
            Some(commit) => commit,
            None => Box::pin(async { Ok(()) }),
        }
    }

    fn start_flush(&self) -> Option<BoxFuture<'static, Result<(), ConnectorError>>> {
        let (plan, open) = self.chunk.as_ref()?;
        // taken now: the flush loads exactly the rows written before it
        let (rows, len, records) = match open.lock() {
            Ok(mut open) => {
                let (open, records) = &mut *open;
                let records = std::mem::take(records);
                match open {
                    Open::Copy(copy) => {
                        let len = copy.len();
                        (Rows::Copy(std::mem::take(copy).freeze()), len, records)
                    }
                    Open::Params(kept) => {
                        let len = kept.len();
                        (Rows::Params(std::mem::take(kept)), len, records)
                    }
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
        let chunk = Chunk {
            plan: plan.clone(),
            pool: self.pool.clone(),
            rows,
            len,
            records,
            refused: self.refused.clone(),
        };
        Some(Box::pin(chunk.load()))
    }

    fn take_refused(&self) -> Vec<Refused> {
        self.refused
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

/// Parameters with their types, for one-round-trip statements.
fn typed<'a>(row: &'a [Param], types: &[PgType]) -> Vec<(&'a (dyn ToSql + Sync), PgType)> {
    row.iter()
        .zip(types)
        .map(|(p, t)| (p as &(dyn ToSql + Sync), t.clone()))
        .collect()
}
