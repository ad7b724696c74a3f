//! Converting a column's value, read in the aqueduct type closest to the
//! column's own type, to the type a field declares: shared by the database
//! kinds. Widening (int to float or decimal, anything to string or json,
//! JSON text to records and lists) is allowed; narrowing only when exact
//! (a decimal with no fraction to int, 0 and 1 to bool).

use aqueduct_graph::Type;
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

/// The layout of a named record type (through `T?`).
pub fn layout(ty: &Type, schemas: &Schemas) -> Option<Arc<Layout>> {
    match ty.required() {
        Type::Record(name) => schemas.layout(name).cloned(),
        _ => None,
    }
}
