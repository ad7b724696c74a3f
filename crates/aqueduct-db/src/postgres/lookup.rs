//! `postgres.query(sql)` in `enrich`: a lookup per record.
//!
//! Interpolations in the SQL (`{.id}`) and named parameters (`:id`, read
//! from the record's field of that name) become `$n` parameters, bound by
//! value, never pasted into the SQL. Their types come from the server when
//! the statement is prepared at start-up; each call then runs in one round
//! trip. The answer is the first row as the enrich type, or null when there
//! is none; when the enrich type is a list (`[Row]`), every row.

use super::pool::{Pool, connect};
use super::rows::RowShape;
use super::sql::named_params;
use super::types::{Param, encode};
use super::{pg_error, startup};
use aqueduct_connectors::support::args::label;
use aqueduct_connectors::support::template::Template;
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Call, ConnectorError, OpContext};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio_postgres::types::{ToSql, Type as PgType};

/// Looks rows up.
pub(crate) struct Lookup {
    pool: Arc<Pool>,
    template: Template,
    sql: String,
    /// Fields read by name (`:id`), after the template's parameters.
    names: Vec<String>,
    param_types: Vec<PgType>,
    shape: RowShape,
    all: bool,
}

impl Lookup {
    pub(crate) fn build(cx: &OpContext, pool: Arc<Pool>) -> Result<Lookup, ConnectorError> {
        let what = label(cx);
        let expr = cx.op.arg("sql").ok_or_else(|| {
            ConnectorError::Config(format!("`{what}`: argument `sql` is required"))
        })?;
        let template = Template::new(expr, &cx.schemas)
            .map_err(|e| ConnectorError::Config(format!("`{what}`: {e}")))?;
        let count = std::cell::Cell::new(0);
        let shape = template.shape(|n| {
            count.set(count.get().max(n + 1));
            format!("${}", n + 1)
        });
        let (sql, names) = named_params(&shape, count.get());
        let (config, system, check) = (
            pool.config().clone(),
            pool.system().to_string(),
            sql.clone(),
        );
        let (param_types, columns) = startup(move || {
            Box::pin(async move {
                let client = connect(&system, &config)
                    .await
                    .map_err(|e| ConnectorError::Config(e.to_string()))?;
                let stmt = client
                    .prepare(&check)
                    .await
                    .map_err(|e| ConnectorError::Config(pg_error(&system, &e).to_string()))?;
                let columns: Vec<String> = stmt
                    .columns()
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect();
                Ok((stmt.params().to_vec(), columns))
            })
        })?;
        let (item, all) = match cx.record_type.required() {
            Type::List(inner) => ((**inner).clone(), true),
            _ => (cx.record_type.clone(), false),
        };
        Ok(Lookup {
            pool,
            template,
            sql,
            names,
            param_types,
            shape: RowShape::new(columns, &item, &cx.schemas),
            all,
        })
    }
}

impl Call for Lookup {
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let system = self.pool.system();
            let (_, mut values) = self
                .template
                .with_params(record, |n| format!("${}", n + 1))
                .map_err(ConnectorError::Permanent)?;
            values.extend(self.names.iter().map(|n| record.field(n)));
            let params = values
                .iter()
                .zip(&self.param_types)
                .enumerate()
                .map(|(i, (v, ty))| {
                    encode(v, ty).map_err(|e| {
                        ConnectorError::Permanent(format!(
                            "postgres `{system}`: lookup parameter ${}: {e}",
                            i + 1
                        ))
                    })
                })
                .collect::<Result<Vec<Param>, _>>()?;
            let typed: Vec<(&(dyn ToSql + Sync), PgType)> = params
                .iter()
                .zip(&self.param_types)
                .map(|(p, t)| (p as &(dyn ToSql + Sync), t.clone()))
                .collect();
            let conn = self.pool.get().await?;
            let rows = conn
                .query_typed(&self.sql, &typed)
                .await
                .map_err(|e| pg_error(system, &e))?;
            let mut out = Vec::new();
            for row in rows.iter().take(if self.all { usize::MAX } else { 1 }) {
                out.push(self.shape.record(row).map_err(|e| {
                    ConnectorError::Permanent(format!("postgres `{system}`: lookup: {e}"))
                })?);
            }
            Ok(if self.all {
                Value::List(Arc::new(out))
            } else {
                out.into_iter().next().unwrap_or(Value::Null)
            })
        })
    }
}
