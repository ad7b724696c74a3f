//! The built-in functions ([`Func`]). Strings count characters, not bytes;
//! `round` rounds half away from zero; fallible conversions (`to_int`,
//! `parse_json`, `parse_timestamp`, …) give null instead of failing; a null
//! argument gives null except for `to_string` (""), `to_json` ("null") and
//! `concat` (skipped).

use super::{Clock, EvalCx, EvalError, Fun, ops};
use crate::value::compare::{Num, compare};
use crate::value::json::{json_value, parse_decimal};
use crate::value::{Schemas, Value};
use aqueduct_graph::{Func, Type};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use sha2::Digest;
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
        Func::Upper => s(string(func, a)?.to_uppercase()),
        Func::Lower => s(string(func, a)?.to_lowercase()),
        Func::Trim => s(string(func, a)?.trim()),
        Func::Replace => {
            let (text, from, to) = (
                string(func, a)?,
                string(func, arg(values, 1))?,
                string(func, arg(values, 2))?,
            );
            if from.is_empty() {
                s(text)
            } else {
                s(text.replace(from, to))
            }
        }
        Func::Split => {
            let (text, sep) = (string(func, a)?, string(func, arg(values, 1))?);
            let parts: Vec<Value> = if sep.is_empty() {
                text.chars().map(|c| s(c.to_string())).collect()
            } else {
                text.split(sep).map(s).collect()
            };
            Value::List(Arc::new(parts))
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
            other => Value::Int(string(func, other)?.chars().count() as i64),
        },
        Func::Substring => {
            let text = string(func, a)?;
            let start = usize::try_from(int(func, arg(values, 1))?.max(0)).unwrap_or(usize::MAX);
            let taken: String = match arg(values, 2) {
                Value::Null => text.chars().skip(start).collect(),
                len => text
                    .chars()
                    .skip(start)
                    .take(usize::try_from(int(func, len)?.max(0)).unwrap_or(usize::MAX))
                    .collect(),
            };
            s(taken)
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
            Some(Num::Int(i)) => Value::Int(
                i.checked_abs()
                    .ok_or_else(|| EvalError::new("integer overflow"))?,
            ),
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
            let mut out = String::new();
            let written = match a {
                Value::Timestamp(t) => {
                    std::fmt::Write::write_fmt(&mut out, format_args!("{}", t.format(fmt)))
                }
                Value::Date(d) => {
                    std::fmt::Write::write_fmt(&mut out, format_args!("{}", d.format(fmt)))
                }
                other => {
                    return Err(EvalError::new(format!(
                        "`format_timestamp` needs a timestamp, found {}",
                        other.kind_name()
                    )));
                }
            };
            written.map_err(|_| EvalError::new(format!("invalid timestamp format `{fmt}`")))?;
            s(out)
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
        Func::Uuid => s(uuid_v4()),
        Func::Sha256 => {
            let digest = sha2::Sha256::digest(string(func, a)?.as_bytes());
            s(digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>())
        }
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
        Value::Null => 0,
        d => int(Func::Round, d)?.clamp(0, 28),
    };
    Ok(match Num::of(value) {
        Some(Num::Int(i)) => Value::Int(i),
        Some(Num::Decimal(d)) => Value::Decimal(
            d.round_dp_with_strategy(digits as u32, RoundingStrategy::MidpointAwayFromZero),
        ),
        Some(Num::Float(f)) => {
            // through a decimal, so 2.675 rounds the way it is written
            match Decimal::from_f64(f) {
                Some(d) => Value::Float(
                    d.round_dp_with_strategy(digits as u32, RoundingStrategy::MidpointAwayFromZero)
                        .to_f64()
                        .unwrap_or(f),
                ),
                None => Value::Float(f.round()),
            }
        }
        None => {
            return Err(EvalError::new(format!(
                "`round` needs a number, found {}",
                value.kind_name()
            )));
        }
    })
}

fn parse_timestamp(text: &Value, format: &Value) -> Result<Value, EvalError> {
    let text = string(Func::ParseTimestamp, text)?.trim();
    let parsed = match format {
        Value::Null => crate::value::json::parse_timestamp(text).ok(),
        f => {
            let fmt = string(Func::ParseTimestamp, f)?;
            DateTime::parse_from_str(text, fmt)
                .map(|d| d.with_timezone(&Utc))
                .ok()
                .or_else(|| {
                    NaiveDateTime::parse_from_str(text, fmt)
                        .ok()
                        .map(|n| n.and_utc())
                })
                .or_else(|| {
                    NaiveDate::parse_from_str(text, fmt)
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|n| n.and_utc())
                })
        }
    };
    Ok(parsed.map(Value::Timestamp).unwrap_or(Value::Null))
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

fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
