//! What a table looks like on the server (`information_schema`), and what
//! is wrong with writing a record type to it: shared by every target at
//! start-up and by the preflight.

use super::types::{ColumnInfo, accepts};
use aqueduct_graph::FieldType;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

/// A table's columns and unique keys.
#[derive(Debug, Clone)]
pub struct Table {
    /// Columns in table order.
    pub columns: Vec<ColumnInfo>,
    /// Column sets (sorted) of each unique index and the primary key.
    pub unique: Vec<Vec<String>>,
    /// The primary key's columns in index order (empty without one).
    pub primary: Vec<String>,
}

impl Table {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }
}

type ColumnRow = (
    String,
    String,
    String,
    Option<u64>,
    Option<u64>,
    Option<u64>,
    String,
    Option<String>,
    String,
);

/// Describes `table` (`db.table` or a table of the current database);
/// `None` when it does not exist.
pub async fn describe(conn: &mut Conn, table: &str) -> Result<Option<Table>, mysql_async::Error> {
    let (schema, name) = match table.split_once('.') {
        Some((s, t)) => (Some(s.to_string()), t.to_string()),
        None => (None, table.to_string()),
    };
    let rows: Vec<ColumnRow> = conn
        .exec(
            "SELECT COLUMN_NAME, LOWER(DATA_TYPE), COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH, \
             NUMERIC_PRECISION, NUMERIC_SCALE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA \
             FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (schema.clone(), name.clone()),
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let columns = rows
        .into_iter()
        .map(
            |(
                name,
                data_type,
                column_type,
                max_chars,
                precision,
                scale,
                nullable,
                default,
                extra,
            )| {
                let extra = extra.to_lowercase();
                let labels = match data_type.as_str() {
                    "enum" | "set" => labels(&column_type),
                    _ => Vec::new(),
                };
                ColumnInfo {
                    name,
                    data_type,
                    column_type: column_type.to_lowercase(),
                    labels,
                    max_chars,
                    precision,
                    scale,
                    not_null: nullable == "NO",
                    // MariaDB reports a missing default as the text NULL
                    has_default: default.is_some_and(|d| d != "NULL")
                        || extra.contains("auto_increment")
                        || extra.contains("generated"),
                }
            },
        )
        .collect();
    let keys: Vec<(String, String)> = conn
        .exec(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0 \
             ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (schema, name),
        )
        .await?;
    let primary = keys
        .iter()
        .filter(|(index, _)| index == "PRIMARY")
        .map(|(_, column)| column.clone())
        .collect();
    let mut unique: Vec<(String, Vec<String>)> = Vec::new();
    for (index, column) in keys {
        match unique.iter_mut().find(|(i, _)| *i == index) {
            Some((_, cols)) => cols.push(column),
            None => unique.push((index, vec![column])),
        }
    }
    let unique = unique
        .into_iter()
        .map(|(_, mut cols)| {
            cols.sort();
            cols
        })
        .collect();
    Ok(Some(Table {
        columns,
        unique,
        primary,
    }))
}

/// What stops `op` from writing records with `fields` to `table`; empty
/// when nothing (the same checks as PostgreSQL's).
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
    for field in fields
        .iter()
        .filter(|f| op != "delete" || key.contains(&f.name))
    {
        match table.column(&field.name) {
            None => out.push(format!(
                "table `{table_name}` has no column `{}` (field of `{type_name}`)",
                field.name
            )),
            Some(column) if !accepts(&field.ty, column) => out.push(format!(
                "column `{}` of `{table_name}` is {}, which cannot take field `{}: {}`",
                column.name, column.column_type, field.name, field.ty
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
        let mut want = key.to_vec();
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

/// The members of `enum('a','b')` / `set('a','b')` as `COLUMN_TYPE`
/// spells them: single-quoted, a quote inside doubled (`'it''s'`).
fn labels(column_type: &str) -> Vec<String> {
    let Some(open) = column_type.find('(') else {
        return Vec::new();
    };
    let mut labels = Vec::new();
    let mut chars = column_type[open + 1..].chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                '\'' => break,
                c => label.push(c),
            }
        }
        labels.push(label);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::labels;

    #[test]
    fn enum_and_set_members_keep_their_case_commas_and_quotes() {
        assert_eq!(labels("enum('Small','Big')"), ["Small", "Big"]);
        assert_eq!(labels("enum('a,b','it''s','')"), ["a,b", "it's", ""]);
        assert!(labels("int(11)").is_empty());
    }
}
