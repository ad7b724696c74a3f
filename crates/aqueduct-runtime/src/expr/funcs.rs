//! The built-in functions ([`Func`]). Strings count characters, not bytes;
//! `round` rounds half away from zero; fallible conversions (`to_int`,
//! `parse_json`, `parse_timestamp`, …) give null instead of failing; a null
//! argument gives null except for `to_string` (""), `to_json` ("null") and
//! `concat` (skipped).

use super::{Clock, EvalCx, EvalError, Fun, ops};
use crate::native::funcs as nf;
use crate::value::compare::{Num, compare};
use crate::value::json::{json_value, parse_decimal};
use crate::value::{Schemas, Value};
use aqueduct_graph::{Func, Type};
use chrono::Utc;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::sync::Arc;

/// Compiles a call: arguments are evaluated in order, then the function applied.
pub(super) fn compile(
    func: Func,
    args: Vec<Fun>,
    _arg_types: Vec<Type>,
    result: Type,
    clock: Clock,
) -> Fun {
    if func == Func::Now {
        return Box::new(move |_| Ok(Value::Timestamp(clock.now())));
    }
    let mut args = args;
    if args.len() == 1
        && let Some(only) = args.pop()
    {
        // one argument: no argument vector per call
        return Box::new(move |cx: &EvalCx<'_>| {
            let value = only(cx)?;
            call(func, std::slice::from_ref(&value), &result)
        });
    }
    Box::new(move |cx: &EvalCx<'_>| {
        let values = args.iter().map(|a| a(cx)).collect::<Result<Vec<_>, _>>()?;
        call(func, &values, &result)
    })
}

fn arg(values: &[Value], i: usize) -> &Value {
    values.get(i).unwrap_or(&Value::Null)
}

fn string(func: Func, v: &Value) -> Result<&str, EvalError> {
    v.as_str().ok_or_else(|| {
        EvalError::new(format!(
            "`{}` needs a string, found {}",
            func.name(),
            v.kind_name()
        ))
    })
}

fn int(func: Func, v: &Value) -> Result<i64, EvalError> {
    match Num::of(v) {
        Some(Num::Int(i)) => Ok(i),
        _ => Err(EvalError::new(format!(
            "`{}` needs an int, found {}",
            func.name(),
            v.kind_name()
        ))),
    }
}

fn s(text: impl Into<Arc<str>>) -> Value {
    Value::String(text.into())
}

/// Applies `func` to evaluated arguments.
pub fn call(func: Func, values: &[Value], result: &Type) -> Result<Value, EvalError> {
    let a = arg(values, 0);
    let null_in = match func {
        Func::ToString | Func::ToJson | Func::Concat | Func::Now | Func::Uuid => false,
        Func::Substring => a.is_null() || arg(values, 1).is_null(),
        Func::Round | Func::ParseTimestamp => a.is_null(),
        _ => values.iter().any(Value::is_null),
    };
    if null_in {
        return Ok(Value::Null);
    }
    Ok(match func {
        Func::Upper => s(nf::upper(string(func, a)?)),
        Func::Lower => s(nf::lower(string(func, a)?)),
        Func::Trim => s(nf::trim(string(func, a)?)),
        Func::Replace => {
            let (text, from, to) = (
                string(func, a)?,
                string(func, arg(values, 1))?,
                string(func, arg(values, 2))?,
            );
            s(nf::replace(text, from, to))
        }
        Func::Split => {
            let (text, sep) = (string(func, a)?, string(func, arg(values, 1))?);
            Value::List(Arc::new(nf::split(text, sep).into_iter().map(s).collect()))
        }
        Func::Concat => concat(values),
        Func::Len => match a {
            Value::List(items) => Value::Int(items.len() as i64),
            Value::Json(j) => match &**j {
                serde_json::Value::Array(x) => Value::Int(x.len() as i64),
                serde_json::Value::Object(x) => Value::Int(x.len() as i64),
                serde_json::Value::String(x) => Value::Int(x.chars().count() as i64),
                _ => return Err(EvalError::new("`len` needs a string or a list")),
            },
            other => Value::Int(nf::len(string(func, other)?)),
        },
        Func::Substring => {
            let text = string(func, a)?;
            let start = int(func, arg(values, 1))?;
            let length = match arg(values, 2) {
                Value::Null => None,
                len => Some(int(func, len)?),
            };
            s(nf::substring(text, start, length))
        }
        Func::Contains => match a {
            Value::List(_) => Value::Bool(ops::contains(a, arg(values, 1))),
            _ => Value::Bool(string(func, a)?.contains(string(func, arg(values, 1))?)),
        },
        Func::StartsWith => {
            Value::Bool(string(func, a)?.starts_with(string(func, arg(values, 1))?))
        }
        Func::EndsWith => Value::Bool(string(func, a)?.ends_with(string(func, arg(values, 1))?)),
        Func::Join => {
            let sep = string(func, arg(values, 1))?;
            let items: Vec<String> = match a {
                Value::List(items) => items.iter().map(Value::to_text).collect(),
                Value::Json(j) => match &**j {
                    serde_json::Value::Array(x) => {
                        x.iter().map(|v| json_value(v).to_text()).collect()
                    }
                    _ => return Err(EvalError::new("`join` needs a list")),
                },
                other => {
                    return Err(EvalError::new(format!(
                        "`join` needs a list, found {}",
                        other.kind_name()
                    )));
                }
            };
            s(items.join(sep))
        }
        Func::Round => round(a, arg(values, 1))?,
        Func::Abs => match Num::of(a) {
            Some(Num::Int(i)) => Value::Int(nf::abs_int(i)?),
            Some(Num::Decimal(d)) => Value::Decimal(d.abs()),
            Some(Num::Float(f)) => Value::Float(f.abs()),
            None => {
                return Err(EvalError::new(format!(
                    "`abs` needs a number, found {}",
                    a.kind_name()
                )));
            }
        },
        Func::Min | Func::Max => {
            let b = arg(values, 1);
            let ord = compare(a, b).ok_or_else(|| {
                EvalError::new(format!(
                    "`{}` cannot compare {} with {}",
                    func.name(),
                    a.kind_name(),
                    b.kind_name()
                ))
            })?;
            let pick_a = if func == Func::Min {
                ord.is_le()
            } else {
                ord.is_ge()
            };
            let v = if pick_a { a.clone() } else { b.clone() };
            if result.is_numeric() {
                ops::convert(v, result, &Schemas::default())?
            } else {
                v
            }
        }
        Func::Now => Value::Timestamp(Utc::now()),
        Func::ParseTimestamp => parse_timestamp(a, arg(values, 1))?,
        Func::FormatTimestamp => {
            let fmt = string(func, arg(values, 1))?;
            s(match a {
                Value::Timestamp(t) => nf::format_timestamp(t, fmt)?,
                Value::Date(d) => nf::format_date(d, fmt)?,
                other => {
                    return Err(EvalError::new(format!(
                        "`format_timestamp` needs a timestamp, found {}",
                        other.kind_name()
                    )));
                }
            })
        }
        Func::ToString => s(a.to_text()),
        Func::ToInt => to_int(a),
        Func::ToDecimal => to_decimal(a).map(Value::Decimal).unwrap_or(Value::Null),
        Func::ToFloat => match a {
            Value::String(t) => t
                .trim()
                .parse::<f64>()
                .map(Value::Float)
                .unwrap_or(Value::Null),
            other => Num::of(other)
                .map(|n| Value::Float(n.to_f64()))
                .unwrap_or(Value::Null),
        },
        Func::ToJson => s(a.to_json_string()),
        Func::ParseJson => serde_json::from_str::<serde_json::Value>(string(func, a)?)
            .map(|j| json_value(&j))
            .unwrap_or(Value::Null),
        Func::Uuid => s(nf::uuid()),
        Func::Sha256 => s(nf::sha256(string(func, a)?)),
    })
}

fn concat(values: &[Value]) -> Value {
    if values.iter().any(|v| matches!(v, Value::List(_))) {
        let mut out = Vec::new();
        for v in values {
            match v {
                Value::List(items) => out.extend(items.iter().cloned()),
                Value::Null => {}
                other => out.push(other.clone()),
            }
        }
        return Value::List(Arc::new(out));
    }
    s(values.iter().map(Value::to_text).collect::<String>())
}

fn round(value: &Value, digits: &Value) -> Result<Value, EvalError> {
    let digits = match digits {
        Value::Null => None,
        d => Some(int(Func::Round, d)?),
    };
    Ok(match Num::of(value) {
        Some(Num::Int(i)) => Value::Int(i),
        Some(Num::Decimal(d)) => Value::Decimal(nf::round_decimal(d, digits)),
        Some(Num::Float(f)) => Value::Float(nf::round_float(f, digits)),
        None => {
            return Err(EvalError::new(format!(
                "`round` needs a number, found {}",
                value.kind_name()
            )));
        }
    })
}

fn parse_timestamp(text: &Value, format: &Value) -> Result<Value, EvalError> {
    let text = string(Func::ParseTimestamp, text)?;
    let format = match format {
        Value::Null => None,
        f => Some(string(Func::ParseTimestamp, f)?),
    };
    Ok(nf::parse_timestamp(text, format)
        .map(Value::Timestamp)
        .unwrap_or(Value::Null))
}

fn to_int(value: &Value) -> Value {
    match value {
        Value::Bool(b) => Value::Int(i64::from(*b)),
        Value::String(t) => {
            let t = t.trim();
            t.parse::<i64>().map(Value::Int).unwrap_or_else(|_| {
                parse_decimal(t)
                    .ok()
                    .filter(|d| d.fract().is_zero())
                    .and_then(|d| d.to_i64())
                    .map(Value::Int)
                    .unwrap_or(Value::Null)
            })
        }
        other => match Num::of(other) {
            Some(Num::Int(i)) => Value::Int(i),
            Some(Num::Decimal(d)) => d.trunc().to_i64().map(Value::Int).unwrap_or(Value::Null),
            Some(Num::Float(f)) if f.is_finite() && f.abs() < 9.2e18 => {
                Value::Int(f.trunc() as i64)
            }
            _ => Value::Null,
        },
    }
}

fn to_decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::String(t) => parse_decimal(t).ok(),
        Value::Bool(b) => Some(Decimal::from(i64::from(*b))),
        other => Num::of(other)?.to_decimal(),
    }
}
