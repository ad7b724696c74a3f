//! Converting a column's value, read in the aqueduct type closest to the
//! column's own type, to the type a field declares: shared by the database
//! kinds. Widening (int to float or decimal, anything to string or json,
//! JSON text to records and lists) is allowed; narrowing only when exact
//! (a decimal with no fraction to int, 0 and 1 to bool).

use aqueduct_graph::{FieldType, Type};
use aqueduct_runtime::value::{Layout, Schemas, Value};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::sync::Arc;

/// Converts a column's natural value to the field's type `ty`; the error
/// says why not (the caller names the column).
pub fn convert(natural: Value, ty: &Type, schemas: &Schemas) -> Result<Value, String> {
    let want = ty.required();
    let bad = |v: &Value| format!("cannot read {} as {ty}", v.kind_name());
    Ok(match (natural, want) {
        (Value::Null, _) => Value::Null,
        (v @ Value::Bool(_), Type::Bool)
        | (v @ Value::Int(_), Type::Int)
        | (v @ Value::Float(_), Type::Float)
        | (v @ Value::Decimal(_), Type::Decimal)
        | (v @ Value::String(_), Type::String)
        | (v @ Value::Date(_), Type::Date)
        | (v @ Value::Timestamp(_), Type::Timestamp)
        | (v @ Value::Bytes(_), Type::Bytes)
        | (v @ Value::Json(_), Type::Json) => v,
        (Value::Int(i @ (0 | 1)), Type::Bool) => Value::Bool(i == 1),
        (Value::Int(i), Type::Float) => Value::Float(i as f64),
        (Value::Int(i), Type::Decimal) => Value::Decimal(Decimal::from(i)),
        (Value::Decimal(d), Type::Int) if d.fract().is_zero() => Value::Int(
            d.to_i64()
                .ok_or_else(|| format!("{d} is out of range for int"))?,
        ),
        (Value::Decimal(d), Type::Float) => {
            Value::Float(d.to_f64().ok_or_else(|| format!("{d} is out of range"))?)
        }
        (Value::Float(f), Type::Decimal) => {
            Value::Decimal(Decimal::try_from(f).map_err(|_| format!("{f} is not a decimal"))?)
        }
        (Value::Json(j), Type::List(_) | Type::Record(_)) => Value::from_json(&j, ty, schemas)?,
        (Value::String(s), Type::List(_) | Type::Record(_) | Type::Json) => {
            let json: serde_json::Value =
                serde_json::from_str(&s).map_err(|_| format!("cannot read text as {ty}"))?;
            if want == &Type::Json {
                Value::Json(Arc::new(json))
            } else {
                Value::from_json(&json, ty, schemas)?
            }
        }
        (v, Type::Json) => Value::Json(Arc::new(v.to_json())),
        (
            v @ (Value::Bool(_)
            | Value::Int(_)
            | Value::Float(_)
            | Value::Decimal(_)
            | Value::Date(_)
            | Value::Timestamp(_)),
            Type::String,
        ) => Value::String(Arc::from(v.to_text())),
        (v, _) => return Err(bad(&v)),
    })
}

/// The kind of value a column is read as before [`convert`] (its natural
/// aqueduct type): what the start-up preflight of a source that reads a
/// table by name (`changes`) knows of a column without reading a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Natural {
    /// `Value::Bool`.
    Bool,
    /// `Value::Int`.
    Int,
    /// `Value::Float`.
    Float,
    /// `Value::Decimal`.
    Decimal,
    /// `Value::String`.
    String,
    /// `Value::Date`.
    Date,
    /// `Value::Timestamp`.
    Timestamp,
    /// `Value::Bytes`.
    Bytes,
    /// `Value::Json`.
    Json,
}

/// True when [`convert`] takes some value of kind `natural` to the field
/// type `ty`; false when it refuses every one (text into `int` or `bool`,
/// a float into `int`, `json` or bytes into `string`, a timestamp into
/// `date`). A conversion that depends on the value (0 and 1 into `bool`,
/// a whole decimal into `int`, JSON text into a record) is readable: the
/// record that does not fit goes to the dead letter. Kept equal to
/// [`convert`] by a test over sample values of every kind.
pub fn readable(natural: Natural, ty: &Type) -> bool {
    use Natural as N;
    matches!(
        (natural, ty.required()),
        (N::Bool, Type::Bool)
            | (N::Int, Type::Int | Type::Bool | Type::Float | Type::Decimal)
            | (N::Float, Type::Float | Type::Decimal)
            | (N::Decimal, Type::Decimal | Type::Int | Type::Float)
            | (N::Date, Type::Date)
            | (N::Timestamp, Type::Timestamp)
            | (N::Bytes, Type::Bytes)
            | (N::Json, Type::List(_) | Type::Record(_))
            | (N::String, Type::String | Type::List(_) | Type::Record(_))
            | (
                N::Bool | N::Int | N::Float | N::Decimal | N::Date | N::Timestamp,
                Type::String
            )
            | (_, Type::Json)
    )
}

/// One column as a source that reads a table by name sees it at start-up.
#[derive(Debug, Clone)]
pub struct ReadColumn {
    /// Its SQL type as the server spells it, for messages.
    pub sql_type: String,
    /// What the source's decoder reads from it; `None` when it reads
    /// nothing (every value is an error, or the column is never sent).
    pub kind: Option<Natural>,
}

/// What stops a source reading `table` by name (`changes`) from filling
/// the fields of `type_name`, compared before any record moves: a
/// required field the table has no column for, and a column whose values
/// cannot be read into its field ([`readable`]). `column(name)` describes
/// the table's column of that name. `_op` and `_commit_time` are filled by
/// the source, not from columns. An optional field without a column is
/// not a problem: it reads as null, as for `query` and `poll`. Empty when
/// nothing stops it.
pub fn read_problems(
    table: &str,
    type_name: &str,
    fields: &[FieldType],
    column: impl Fn(&str) -> Option<ReadColumn>,
) -> Vec<String> {
    let mut out = Vec::new();
    for field in fields {
        if matches!(field.name.as_str(), "_op" | "_commit_time") {
            continue;
        }
        match column(&field.name) {
            None if field.ty.is_optional() => {}
            None => out.push(format!(
                "table `{table}` has no column `{}` (required field of `{type_name}`)",
                field.name
            )),
            Some(c) if !c.kind.is_some_and(|k| readable(k, &field.ty)) => out.push(format!(
                "column `{}` of `{table}` is {}, which cannot be read into field `{}: {}`",
                field.name, c.sql_type, field.name, field.ty
            )),
            Some(_) => {}
        }
    }
    out
}

/// The layout of a named record type (through `T?`).
pub fn layout(ty: &Type, schemas: &Schemas) -> Option<Arc<Layout>> {
    match ty.required() {
        Type::Record(name) => schemas.layout(name).cloned(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};

    fn samples(kind: Natural) -> Vec<Value> {
        let text = |s: &str| Value::String(Arc::from(s));
        match kind {
            Natural::Bool => vec![Value::Bool(true), Value::Bool(false)],
            Natural::Int => vec![Value::Int(0), Value::Int(1), Value::Int(-7), Value::Int(42)],
            Natural::Float => vec![Value::Float(0.0), Value::Float(1.0), Value::Float(2.5)],
            Natural::Decimal => vec![
                Value::Decimal(Decimal::new(1, 0)),
                Value::Decimal(Decimal::new(125, 2)),
            ],
            Natural::String => ["", "x", "1", "true", "2024-02-29", "{\"n\": 1}", "[1, 2]"]
                .iter()
                .map(|s| text(s))
                .collect(),
            Natural::Date => vec![Value::Date(
                NaiveDate::from_ymd_opt(2024, 2, 29).expect("a date"),
            )],
            Natural::Timestamp => vec![Value::Timestamp(
                Utc.with_ymd_and_hms(2024, 2, 29, 12, 0, 0)
                    .single()
                    .expect("a time"),
            )],
            Natural::Bytes => vec![Value::Bytes(Arc::from(&b"ab"[..]))],
            Natural::Json => [
                serde_json::json!({"n": 1}),
                serde_json::json!([1, 2]),
                serde_json::json!("text"),
                serde_json::json!(1),
                serde_json::json!(true),
            ]
            .into_iter()
            .map(|j| Value::Json(Arc::new(j)))
            .collect(),
        }
    }

    #[test]
    fn readable_says_what_convert_takes_for_every_kind_and_field_type() {
        let mut schemas = Schemas::default();
        schemas.layouts.insert(
            "R".into(),
            Arc::new(Layout {
                name: "R".into(),
                fields: vec![FieldType {
                    name: "n".into(),
                    ty: Type::Int.optional(),
                    doc: Vec::new(),
                }],
            }),
        );
        let kinds = [
            Natural::Bool,
            Natural::Int,
            Natural::Float,
            Natural::Decimal,
            Natural::String,
            Natural::Date,
            Natural::Timestamp,
            Natural::Bytes,
            Natural::Json,
        ];
        let types = [
            Type::String,
            Type::Int,
            Type::Float,
            Type::Decimal,
            Type::Bool,
            Type::Timestamp,
            Type::Date,
            Type::Bytes,
            Type::Json,
            Type::List(Box::new(Type::Int)),
            Type::Record("R".into()),
        ];
        for kind in kinds {
            for ty in &types {
                for ty in [ty.clone(), ty.clone().optional()] {
                    let converts = samples(kind)
                        .into_iter()
                        .any(|v| convert(v, &ty, &schemas).is_ok());
                    assert_eq!(
                        readable(kind, &ty),
                        converts,
                        "{kind:?} into {ty}: readable must say what convert does"
                    );
                }
            }
        }
        // the cases the preflight is there for
        assert!(!readable(Natural::String, &Type::Int));
        assert!(!readable(Natural::String, &Type::Bool));
        assert!(readable(Natural::Int, &Type::String));
        assert!(!readable(Natural::Json, &Type::String));
    }

    #[test]
    fn read_problems_name_a_required_field_without_a_column_and_an_unreadable_column() {
        let field = |name: &str, ty: Type| FieldType {
            name: name.into(),
            ty,
            doc: Vec::new(),
        };
        let fields = [
            field("id", Type::Int),
            field("qty", Type::Int.optional()),
            field("note", Type::String),
            field("extra", Type::String.optional()),
            field("n", Type::String),
            field("_op", Type::String),
            field("_commit_time", Type::Timestamp),
        ];
        let column = |name: &str| {
            let (sql_type, kind) = match name {
                "id" => ("bigint", Natural::Int),
                "qty" => ("text", Natural::String),
                "n" => ("integer", Natural::Int),
                _ => return None,
            };
            Some(ReadColumn {
                sql_type: sql_type.into(),
                kind: Some(kind),
            })
        };
        assert_eq!(
            read_problems("t", "Change", &fields, column),
            [
                "column `qty` of `t` is text, which cannot be read into field `qty: int?`",
                "table `t` has no column `note` (required field of `Change`)",
            ]
        );
    }
}
