//! `mysql.query(sql)` in `enrich`: a lookup per record. Interpolations
//! (`{.id}`) and named parameters (`:id`, the record's field of that name)
//! become `?` placeholders bound by value, never pasted into the SQL. The
//! answer is the first row as the enrich type (null when none), or every
//! row for a list type.

use super::query::row_record;
use super::types::param;
use super::{Db, check_sql, my_error};
use aqueduct_connectors::support::args::label;
use aqueduct_connectors::support::template::Template;
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Call, ConnectorError, OpContext};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use mysql_async::prelude::Queryable;
use std::sync::Arc;

/// Marks an interpolation in the template text before named parameters are rewritten.
const MARK: &str = ":__aq";

/// Looks rows up.
pub(crate) struct Lookup {
    db: Db,
    template: Template,
    sql: String,
    /// What each `?` binds: `Ok(n)` the template's n-th value, `Err(name)` a field.
    binds: Vec<Result<usize, String>>,
    item: Type,
    all: bool,
    schemas: Arc<Schemas>,
}

impl Lookup {
    pub(crate) fn build(cx: &OpContext, db: Db) -> Result<Lookup, ConnectorError> {
        let what = label(cx);
        let expr = cx.op.arg("sql").ok_or_else(|| {
            ConnectorError::Config(format!("`{what}`: argument `sql` is required"))
        })?;
        let template = Template::new(expr, &cx.schemas)
            .map_err(|e| ConnectorError::Config(format!("`{what}`: {e}")))?;
        let shape = template.shape(|n| format!("{MARK}{n}"));
        let (sql, names) = crate::sqltext::rewrite_named(&shape, |_| "?".to_string());
        let binds = names
            .into_iter()
            .map(
                |n| match n.strip_prefix(&MARK[1..]).and_then(|i| i.parse().ok()) {
                    Some(i) => Ok(i),
                    None => Err(n),
                },
            )
            .collect();
        check_sql(&db, &what, &sql)?;
        let (item, all) = match cx.record_type.required() {
            Type::List(inner) => ((**inner).clone(), true),
            _ => (cx.record_type.clone(), false),
        };
        Ok(Lookup {
            db,
            template,
            sql,
            binds,
            item,
            all,
            schemas: cx.schemas.clone(),
        })
    }
}

impl Call for Lookup {
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let system = &self.db.system;
            let (_, values) = self
                .template
                .with_params(record, |n| format!("{MARK}{n}"))
                .map_err(ConnectorError::Permanent)?;
            let params: Vec<mysql_async::Value> = self
                .binds
                .iter()
                .map(|b| match b {
                    Ok(i) => param(values.get(*i).unwrap_or(&Value::Null)),
                    Err(name) => param(&record.field(name)),
                })
                .collect();
            let params = if params.is_empty() {
                mysql_async::Params::Empty
            } else {
                mysql_async::Params::Positional(params)
            };
            let mut conn = self
                .db
                .pool
                .get_conn()
                .await
                .map_err(|e| my_error(system, &e))?;
            let mut result = conn
                .exec_iter(self.sql.as_str(), params)
                .await
                .map_err(|e| my_error(system, &e))?;
            let columns = result.columns().unwrap_or_else(|| Arc::from(Vec::new()));
            let mut out = Vec::new();
            while let Some(row) = result.next().await.map_err(|e| my_error(system, &e))? {
                if !self.all && !out.is_empty() {
                    continue; // drain the rest: the connection goes back clean
                }
                out.push(
                    row_record(&row, &columns, &self.item, &self.schemas).map_err(|e| {
                        ConnectorError::Permanent(format!("mysql `{system}`: lookup: {e}"))
                    })?,
                );
            }
            Ok(if self.all {
                Value::List(Arc::new(out))
            } else {
                out.into_iter().next().unwrap_or(Value::Null)
            })
        })
    }
}
