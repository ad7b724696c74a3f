//! `sqlite.insert(table)`, `upsert(table, key)`, `delete(table, key)`.
//!
//! Columns are the fields of the record type. Each `write` (one record, or
//! a batch) runs in one transaction. `insert` and `upsert` create the table
//! when it is missing (`CREATE TABLE IF NOT EXISTS`, one column per field,
//! `NOT NULL` for required fields, and `PRIMARY KEY (key…)` for `upsert`);
//! an existing table is used as it is, so an upsert key needs a primary key
//! or unique index there. `delete` never creates a table. `upsert` is
//! `INSERT … ON CONFLICT (key) DO UPDATE SET` every other column.

use super::{Db, column_type, quote_ident, sql_error, to_sql};
use crate::formats::layout;
use crate::support::args::{arg_fields, label, req_str};
use aqueduct_runtime::connector::{ConnectorError, OpContext, Target};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use std::sync::Arc;

/// Writes rows.
pub(crate) struct SqliteTarget {
    db: Arc<Db>,
    sql: Arc<str>,
    /// Field names bound in order.
    columns: Arc<Vec<String>>,
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
            let mut defs: Vec<String> = layout
                .fields
                .iter()
                .map(|f| {
                    let null = if f.ty.is_optional() { "" } else { " NOT NULL" };
                    format!("{} {}{null}", quote_ident(&f.name), column_type(&f.ty))
                })
                .collect();
            if op == "upsert" {
                defs.push(format!(
                    "PRIMARY KEY ({})",
                    key.iter()
                        .map(|k| quote_ident(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let create = format!("CREATE TABLE IF NOT EXISTS {t} ({})", defs.join(", "));
            db.run_sync(move |conn| conn.execute_batch(&create).map_err(sql_error))?;
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
        })
    }
}

impl Target for SqliteTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let rows: Vec<Vec<rusqlite::types::Value>> = records
            .iter()
            .map(|r| self.columns.iter().map(|c| to_sql(&r.field(c))).collect())
            .collect();
        let sql = self.sql.clone();
        Box::pin(self.db.run(move |conn| {
            let tx = conn.transaction().map_err(sql_error)?;
            {
                let mut stmt = tx.prepare_cached(&sql).map_err(sql_error)?;
                for row in &rows {
                    stmt.execute(rusqlite::params_from_iter(row.iter()))
                        .map_err(sql_error)?;
                }
            }
            tx.commit().map_err(sql_error)
        }))
    }
}
