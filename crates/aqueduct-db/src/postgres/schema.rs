//! What a table looks like on the server, and what is wrong with writing a
//! record type to it: the checks shared by every target at start-up and by
//! the preflight (`aqueduct check --connect`).

use super::catalog::resolve;
use super::sql::quote_ident;
use super::types::{accepts, type_label};
use aqueduct_graph::FieldType;
use tokio_postgres::Client;
use tokio_postgres::types::{Kind, Type as PgType};

/// One column of a table.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type (enums resolved by the client; a domain as
    /// `Kind::Domain(base)`, which every conversion reads as its base).
    pub ty: PgType,
    /// `NOT NULL`.
    pub not_null: bool,
    /// Has a default (or is an identity or generated column).
    pub has_default: bool,
}

/// A table's columns and unique keys.
#[derive(Debug, Clone)]
pub struct Table {
    /// Columns in table order.
    pub columns: Vec<Column>,
    /// The column sets of each unique index and the primary key (non-partial).
    pub unique: Vec<Vec<String>>,
}

impl Table {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Describes `table` (optionally schema-qualified); `None` when it does not exist.
pub async fn describe(
    client: &Client,
    table: &str,
) -> Result<Option<Table>, tokio_postgres::Error> {
    let quoted = quote_ident(table);
    let exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quoted])
        .await?
        .get::<_, bool>(0);
    if !exists {
        return Ok(None);
    }
    // the client resolves every column type (enums) through the statement;
    // a result column of a domain is described by its base type, so the
    // domain itself comes from `atttypid`
    let stmt = client
        .prepare(&format!("SELECT * FROM {quoted} LIMIT 0"))
        .await?;
    let flags = client
        .query(
            "SELECT a.attname::text, a.attnotnull, a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', a.atttypid \
             FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&quoted],
        )
        .await?;
    let declared: Vec<u32> = flags.iter().map(|r| r.get(3)).collect();
    let domains = resolve(client, &declared).await?;
    let columns = stmt
        .columns()
        .iter()
        .map(|c| {
            let row = flags.iter().find(|r| r.get::<_, String>(0) == c.name());
            let domain = row
                .and_then(|r| domains.get(&r.get::<_, u32>(3)))
                .filter(|d| matches!(d.ty.kind(), Kind::Domain(_)));
            Column {
                name: c.name().to_string(),
                ty: match domain {
                    Some(d) => PgType::new(
                        d.ty.name().to_string(),
                        d.ty.oid(),
                        Kind::Domain(c.type_().clone()),
                        d.ty.schema().to_string(),
                    ),
                    None => c.type_().clone(),
                },
                not_null: row.is_some_and(|r| r.get::<_, bool>(1)),
                has_default: row.is_some_and(|r| r.get::<_, bool>(2)),
            }
        })
        .collect();
    let unique = client
        .query(
            "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL \
             GROUP BY i.indexrelid",
            &[&quoted],
        )
        .await?
        .iter()
        .map(|r| r.get::<_, Vec<String>>(0))
        .collect();
    Ok(Some(Table { columns, unique }))
}

/// What stops `op` (`insert`, `upsert`, `delete`) from writing records with
/// `fields` to `table` (`key` for upsert and delete); empty when nothing.
pub fn problems(
    table_name: &str,
    table: Option<&Table>,
    op: &str,
    type_name: &str,
    fields: &[FieldType],
    key: &[String],
) -> Vec<String> {
    let Some(table) = table else {
        return vec![format!("table `{table_name}` does not exist")];
    };
    let mut out = Vec::new();
    let written: Vec<&FieldType> = if op == "delete" {
        fields.iter().filter(|f| key.contains(&f.name)).collect()
    } else {
        fields.iter().collect()
    };
    for field in &written {
        match table.column(&field.name) {
            None => out.push(format!(
                "table `{table_name}` has no column `{}` (field of `{type_name}`)",
                field.name
            )),
            Some(column) if !accepts(&field.ty, &column.ty) => out.push(format!(
                "column `{}` of `{table_name}` is {}, which cannot take field `{}: {}`",
                column.name,
                type_label(&column.ty),
                field.name,
                field.ty
            )),
            Some(_) => {}
        }
    }
    if op != "delete" {
        for column in &table.columns {
            if column.not_null
                && !column.has_default
                && !fields.iter().any(|f| f.name == column.name)
            {
                out.push(format!(
                    "column `{}` of `{table_name}` is NOT NULL without a default, and `{type_name}` has no field for it",
                    column.name
                ));
            }
        }
    }
    if op == "upsert" {
        let mut want: Vec<String> = key.to_vec();
        want.sort();
        if !table.unique.contains(&want) {
            out.push(format!(
                "`{table_name}` has no primary key or unique index on ({}), which upsert needs",
                key.join(", ")
            ));
        }
    }
    out
}
