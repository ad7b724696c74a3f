//! `sqlite.query(sql)` in `enrich`: a lookup per record.
//!
//! Interpolations in the SQL (`{.id}`) and named parameters (`:id`, `@id`,
//! `$id`, read from the record's field of that name) are bound as
//! parameters, never pasted into the SQL. The answer is the first row as
//! the enrich type, or null when there is none; when the enrich type is a
//! list (`[Row]`), every row.

use super::{Db, row_value, sql_error, to_sql};
use crate::support::args::{Options, label};
use crate::support::template::Template;
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Call, ConnectorError, OpContext};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use std::sync::Arc;

/// Looks rows up.
pub(crate) struct Lookup {
    db: Arc<Db>,
    sql: Template,
    ty: Type,
    schemas: Arc<Schemas>,
}

fn placeholder(n: usize) -> String {
    format!(":__aq{n}")
}

impl Lookup {
    pub(crate) fn build(cx: &OpContext, db: Arc<Db>) -> Result<Lookup, ConnectorError> {
        let expr = cx.op.arg("sql").ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `sql` is required", label(cx)))
        })?;
        let sql = Template::new(expr, &cx.schemas)
            .map_err(|e| ConnectorError::Config(format!("`{}`: {e}", label(cx))))?;
        let check = sql.shape(placeholder);
        let path = Options::of(cx).required("path")?;
        db.run_sync(move |conn| {
            conn.prepare(&check)
                .map(|_| ())
                .map_err(|e| ConnectorError::Config(missing_table(&e.to_string(), &path)))
        })?;
        Ok(Lookup {
            db,
            sql,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
        })
    }
}

/// The error of a lookup whose SQL does not prepare; a missing table names
/// its cause and the fix. Tables that `insert`/`upsert` targets of the same
/// run create exist before any flow starts, so a table still missing is
/// written by no flow of this run (or of this generated service).
fn missing_table(error: &str, path: &str) -> String {
    match error.strip_prefix("no such table: ") {
        Some(table) => format!(
            "table `{table}` does not exist in `{path}`, and no flow started here writes it; \
             the flow that writes it with `insert` or `upsert` creates it when it starts: \
             run that flow first (or in the same run), or create the table"
        ),
        None => format!("sqlite: {error}"),
    }
}

impl Call for Lookup {
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let (sql, values) = self
                .sql
                .with_params(record, placeholder)
                .map_err(ConnectorError::Permanent)?;
            let record = record.clone();
            let ty = self.ty.clone();
            let schemas = self.schemas.clone();
            self.db
                .run(move |conn| {
                    let mut stmt = conn.prepare_cached(&sql).map_err(sql_error)?;
                    for index in 1..=stmt.parameter_count() {
                        let value = match stmt.parameter_name(index) {
                            Some(name) if name.starts_with(":__aq") => {
                                let n: usize = name[5..].parse().unwrap_or(usize::MAX);
                                values.get(n).cloned().unwrap_or(Value::Null)
                            }
                            Some(name) => record.field(&name[1..]),
                            None => {
                                return Err(ConnectorError::Permanent(
                                    "lookup SQL uses `?`; use {.field} or :field parameters"
                                        .to_string(),
                                ));
                            }
                        };
                        stmt.raw_bind_parameter(index, to_sql(&value))
                            .map_err(sql_error)?;
                    }
                    let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
                    let (item_ty, all) = match ty.required() {
                        Type::List(inner) => ((**inner).clone(), true),
                        _ => (ty.clone(), false),
                    };
                    let mut rows = stmt.raw_query();
                    let mut out = Vec::new();
                    while let Some(row) = rows.next().map_err(sql_error)? {
                        out.push(
                            row_value(row, &columns, &item_ty, &schemas)
                                .map_err(|e| ConnectorError::Permanent(format!("lookup: {e}")))?,
                        );
                        if !all {
                            break;
                        }
                    }
                    Ok(if all {
                        Value::List(Arc::new(out))
                    } else {
                        out.into_iter().next().unwrap_or(Value::Null)
                    })
                })
                .await
        })
    }
}
