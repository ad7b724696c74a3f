//! Rows into records: each field takes the column of the same name,
//! converted to the field's type; a missing column or a NULL is null (an
//! error for a required field). Records without a declared type become a
//! JSON object of every column.

use super::types::{Cell, convert};
use aqueduct_graph::Type;
use aqueduct_runtime::value::{Layout, Record, Schemas, Value};
use std::sync::Arc;
use tokio_postgres::Row;

/// The layout of a named record type (through `T?`).
pub fn layout(ty: &Type, schemas: &Schemas) -> Option<Arc<Layout>> {
    match ty.required() {
        Type::Record(name) => schemas.layout(name).cloned(),
        _ => None,
    }
}

/// How the columns of a statement's rows fill the fields of a record type.
#[derive(Debug, Clone)]
pub struct RowShape {
    layout: Option<Arc<Layout>>,
    /// Column index of each field (`None`: no such column).
    index: Vec<Option<usize>>,
    columns: Vec<String>,
    schemas: Arc<Schemas>,
}

impl RowShape {
    /// The shape for rows with `columns` read as `ty`.
    pub fn new(columns: Vec<String>, ty: &Type, schemas: &Arc<Schemas>) -> RowShape {
        let layout = layout(ty, schemas);
        let index = layout
            .as_ref()
            .map(|l| {
                l.fields
                    .iter()
                    .map(|f| columns.iter().position(|c| *c == f.name))
                    .collect()
            })
            .unwrap_or_default();
        RowShape {
            layout,
            index,
            columns,
            schemas: schemas.clone(),
        }
    }

    /// The record for `row`; the error names the column and the reason.
    pub fn record(&self, row: &Row) -> Result<Value, String> {
        let Some(layout) = &self.layout else {
            let mut map = serde_json::Map::new();
            for (i, name) in self.columns.iter().enumerate() {
                let value = natural(row, i).map_err(|e| format!("column `{name}`: {e}"))?;
                map.insert(name.clone(), value.to_json());
            }
            return Ok(Value::Json(Arc::new(serde_json::Value::Object(map))));
        };
        let mut slots = Vec::with_capacity(layout.fields.len());
        for (field, index) in layout.fields.iter().zip(&self.index) {
            let value = match index {
                None => Value::Null,
                Some(i) => natural(row, *i)
                    .and_then(|v| convert(v, &field.ty, &self.schemas))
                    .map_err(|e| format!("column `{}`: {e}", field.name))?,
            };
            if value.is_null() && !field.ty.is_optional() {
                return Err(match index {
                    None => format!(
                        "missing required field `{}` (the query has no such column)",
                        field.name
                    ),
                    Some(_) => format!(
                        "column `{}` is NULL but field `{}` is not optional",
                        field.name, field.name
                    ),
                });
            }
            slots.push(value);
        }
        Ok(Value::Record(Arc::new(Record {
            layout: layout.clone(),
            slots,
        })))
    }

    /// A short text of a row for dead letters (JSON of what could be read).
    pub fn text(&self, row: &Row) -> String {
        let mut map = serde_json::Map::new();
        for (i, name) in self.columns.iter().enumerate() {
            if let Ok(value) = natural(row, i) {
                map.insert(name.clone(), value.to_json());
            }
        }
        serde_json::Value::Object(map).to_string()
    }
}

/// Column `i` of `row` in its natural aqueduct type.
pub fn natural(row: &Row, i: usize) -> Result<Value, String> {
    row.try_get::<_, Cell<'_>>(i)
        .map_err(|e| e.to_string())?
        .natural()
}
