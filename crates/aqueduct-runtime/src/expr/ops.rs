//! Operators and conversions on values: checked integer arithmetic, exact
//! decimals, null propagation, comparisons, `in`, indexing.

use super::EvalError;
use crate::native::ops as nops;
use crate::value::compare::{Num, compare, equals};
use crate::value::json::{json_value, parse_date, parse_decimal, parse_timestamp};
use crate::value::{Schemas, Value};
use aqueduct_graph::{BinaryOp, Type, UnaryOp};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use std::cmp::Ordering;
use std::sync::Arc;

/// `base[index]`: null when out of range or not indexable.
pub fn index(base: &Value, index: &Value) -> Value {
    match (base, index) {
        (Value::List(items), Value::Int(i)) => usize::try_from(*i)
            .ok()
            .and_then(|i| items.get(i))
            .cloned()
            .unwrap_or(Value::Null),
        (Value::Json(j), Value::Int(i)) => usize::try_from(*i)
            .ok()
            .and_then(|i| j.get(i))
            .map(json_value)
            .unwrap_or(Value::Null),
        (Value::Json(_) | Value::Record(_), Value::String(name)) => base.field(name),
        _ => Value::Null,
    }
}

/// `-x`, `not x`; null stays null.
pub fn unary(op: UnaryOp, value: Value) -> Result<Value, EvalError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    match (op, &value) {
        (UnaryOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
        (UnaryOp::Neg, _) => match Num::of(&value) {
            Some(Num::Int(i)) => nops::int_neg(i).map(Value::Int),
            Some(Num::Decimal(d)) => Ok(Value::Decimal(-d)),
            Some(Num::Float(f)) => Ok(Value::Float(-f)),
            None => Err(EvalError::new(format!(
                "cannot negate a {}",
                value.kind_name()
            ))),
        },
        _ => Err(EvalError::new(format!(
            "`not` needs a bool, found {}",
            value.kind_name()
        ))),
    }
}

/// A strict (non-short-circuit) binary operator.
pub fn binary(op: BinaryOp, a: Value, b: Value) -> Result<Value, EvalError> {
    match op {
        BinaryOp::Coalesce => Ok(if a.is_null() { b } else { a }),
        _ => binary_ref(op, &a, &b),
    }
}

/// [`binary`] on borrowed operands (fields read in place, literals).
pub fn binary_ref(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, EvalError> {
    match op {
        BinaryOp::Eq => Ok(Value::Bool(equals(a, b))),
        BinaryOp::Ne => Ok(Value::Bool(!equals(a, b))),
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            if a.is_null() || b.is_null() {
                return Ok(Value::Bool(false));
            }
            let ord = compare(a, b).ok_or_else(|| {
                EvalError::new(format!(
                    "cannot compare {} with {}",
                    a.kind_name(),
                    b.kind_name()
                ))
            })?;
            Ok(Value::Bool(match op {
                BinaryOp::Lt => ord == Ordering::Less,
                BinaryOp::Le => ord != Ordering::Greater,
                BinaryOp::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        BinaryOp::In => Ok(Value::Bool(contains(b, a))),
        BinaryOp::And => Ok(Value::Bool(
            matches!(a, Value::Bool(true)) && matches!(b, Value::Bool(true)),
        )),
        BinaryOp::Or => Ok(Value::Bool(
            matches!(a, Value::Bool(true)) || matches!(b, Value::Bool(true)),
        )),
        BinaryOp::Coalesce => Ok(if a.is_null() { b.clone() } else { a.clone() }),
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
            arith(op, a, b)
        }
    }
}

/// `needle in haystack`: element of a list, substring of a string.
pub fn contains(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::List(items) => items.iter().any(|v| equals(v, needle)),
        Value::Json(j) => match &**j {
            serde_json::Value::Array(items) => items.iter().any(|v| equals(&json_value(v), needle)),
            serde_json::Value::Object(map) => needle
                .as_str()
                .map(|k| map.contains_key(k))
                .unwrap_or(false),
            serde_json::Value::String(s) => needle.as_str().map(|n| s.contains(n)).unwrap_or(false),
            _ => false,
        },
        Value::String(s) => needle.as_str().map(|n| s.contains(n)).unwrap_or(false),
        _ => false,
    }
}

/// `+ - * / %` with null propagation, checked ints and exact decimals.
pub fn arith(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, EvalError> {
    if a.is_null() || b.is_null() {
        return Ok(Value::Null);
    }
    if op == BinaryOp::Add {
        match (a, b) {
            (Value::String(x), Value::String(y)) => {
                return Ok(Value::String(format!("{x}{y}").into()));
            }
            (Value::List(x), Value::List(y)) => {
                return Ok(Value::List(Arc::new(
                    x.iter().chain(y.iter()).cloned().collect(),
                )));
            }
            _ => {}
        }
    }
    let (x, y) = match (Num::of(a), Num::of(b)) {
        (Some(x), Some(y)) => (x, y),
        _ => {
            return Err(EvalError::new(format!(
                "cannot apply `{}` to {} and {}",
                op_symbol(op),
                a.kind_name(),
                b.kind_name()
            )));
        }
    };
    match (x, y) {
        (Num::Int(x), Num::Int(y)) => match op {
            BinaryOp::Add => nops::int_add(x, y),
            BinaryOp::Sub => nops::int_sub(x, y),
            BinaryOp::Mul => nops::int_mul(x, y),
            BinaryOp::Div => nops::int_div(x, y),
            _ => nops::int_rem(x, y),
        }
        .map(Value::Int),
        (Num::Float(_), _) | (_, Num::Float(_)) => {
            let (x, y) = (x.to_f64(), y.to_f64());
            Ok(Value::Float(match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div => nops::float_div(x, y)?,
                _ => nops::float_rem(x, y)?,
            }))
        }
        (x, y) => {
            let (Some(x), Some(y)) = (x.to_decimal(), y.to_decimal()) else {
                return Err(EvalError::new("number out of decimal range"));
            };
            match op {
                BinaryOp::Add => nops::dec_add(x, y),
                BinaryOp::Sub => nops::dec_sub(x, y),
                BinaryOp::Mul => nops::dec_mul(x, y),
                BinaryOp::Div => nops::dec_div(x, y),
                _ => nops::dec_rem(x, y),
            }
            .map(Value::Decimal)
        }
    }
}

fn op_symbol(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        _ => "%",
    }
}

/// A conversion the checker inserted (widening, literal parsing, to json).
pub fn convert(value: Value, to: &Type, schemas: &Schemas) -> Result<Value, EvalError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let target = to.required();
    let bad = |v: &Value| EvalError::new(format!("cannot convert {} to {target}", v.kind_name()));
    Ok(match (target, &value) {
        (Type::Json, Value::Json(_)) => value,
        (Type::Json, _) => Value::Json(Arc::new(value.to_json())),
        (_, Value::Json(j)) => Value::from_json(j, target, schemas).map_err(EvalError::new)?,
        (Type::Decimal, Value::Int(i)) => Value::Decimal(Decimal::from(*i)),
        (Type::Decimal, Value::Float(f)) => {
            Value::Decimal(Decimal::from_f64(*f).ok_or_else(|| bad(&value))?)
        }
        (Type::Decimal, Value::String(s)) => {
            Value::Decimal(parse_decimal(s).map_err(EvalError::new)?)
        }
        (Type::Float, _) if !matches!(value, Value::String(_)) => {
            Value::Float(Num::of(&value).ok_or_else(|| bad(&value))?.to_f64())
        }
        (Type::Float, Value::String(s)) => Value::Float(s.trim().parse().map_err(|_| bad(&value))?),
        (Type::Timestamp, Value::String(s)) => {
            Value::Timestamp(parse_timestamp(s).map_err(EvalError::new)?)
        }
        (Type::Timestamp, Value::Date(d)) => {
            Value::Timestamp(d.and_hms_opt(0, 0, 0).ok_or_else(|| bad(&value))?.and_utc())
        }
        (Type::Date, Value::String(s)) => Value::Date(parse_date(s).map_err(EvalError::new)?),
        (Type::Date, Value::Timestamp(t)) => Value::Date(t.date_naive()),
        (Type::String, Value::String(_)) => value,
        (Type::String, _) => Value::String(value.to_text().into()),
        (Type::List(elem), Value::List(items)) => Value::List(Arc::new(
            items
                .iter()
                .map(|v| convert(v.clone(), elem, schemas))
                .collect::<Result<_, _>>()?,
        )),
        _ => value,
    })
}
