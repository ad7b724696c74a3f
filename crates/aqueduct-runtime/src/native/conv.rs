//! [`NativeValue`]: conversions between the Rust types generated code uses
//! and run-time [`Value`]s.
//!
//! | language type | Rust type |
//! |---|---|
//! | `string` | `String` |
//! | `int` | `i64` |
//! | `float` | `f64` |
//! | `decimal` | `rust_decimal::Decimal` |
//! | `bool` | `bool` |
//! | `timestamp` | `chrono::DateTime<Utc>` |
//! | `date` | `chrono::NaiveDate` |
//! | `bytes` | `Vec<u8>` |
//! | `json` | [`Value`] (null included) |
//! | `T?` | `Option<T>` |
//! | `[T]` | `Vec<T>` |
//! | a record type | the generated struct |

use crate::expr::EvalError;
use crate::value::compare::Num;
use crate::value::json::{json_value, parse_date, parse_timestamp};
use crate::value::{Layout, Record, Value};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::sync::Arc;

/// A Rust type that stands for a language type in generated code.
pub trait NativeValue: Sized + Clone {
    /// Reads a run-time value (a record's slot, a binding, the current record).
    fn from_value(value: &Value) -> Result<Self, EvalError>;
    /// The run-time value.
    fn into_value(self) -> Value;
    /// The value as text, as `to_string` and interpolation render it.
    fn to_text(&self) -> String {
        self.clone().into_value().to_text()
    }
}

/// The error for a value of the wrong kind.
pub fn expected(what: &str, found: &Value) -> EvalError {
    EvalError::new(format!("expected {what}, found {}", found.kind_name()))
}

impl NativeValue for String {
    fn from_value(value: &Value) -> Result<Self, EvalError> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| expected("string", value))
    }
    fn into_value(self) -> Value {
        Value::String(self.into())
    }
    fn to_text(&self) -> String {
        self.clone()
    }
}

impl NativeValue for i64 {
    fn from_value(value: &Value) -> Result<Self, EvalError> {
        match Num::of(value) {
            Some(Num::Int(i)) => Ok(i),
            _ => Err(expected("int", value)),
        }
    }
    fn into_value(self) -> Value {
        Value::Int(self)
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl NativeValue for f64 {
    fn from_value(value: &Value) -> Result<Self, EvalError> {
        Num::of(value)
            .map(Num::to_f64)
            .ok_or_else(|| expected("float", value))
    }
    fn into_value(self) -> Value {
        Value::Float(self)
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl NativeValue for Decimal {
    fn from_value(value: &Value) -> Result<Self, EvalError> {
        Num::of(value)
            .and_then(Num::to_decimal)
            .ok_or_else(|| expected("decimal", value))
    }
    fn into_value(self) -> Value {
        Value::Decimal(self)
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl NativeValue for bool {
    fn from_value(value: &Value) -> Result<Self, EvalError> {
        match value {
            Value::Bool(b) => Ok(*b),
            Value::Json(j) => j.as_bool().ok_or_else(|| expected("bool", value)),
            _ => Err(expected("bool", value)),
        }
    }
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl NativeValue for DateTime<Utc> {
    fn from_value(value: &Value) -> Result<Self, EvalError> {
        match value {
            Value::Timestamp(t) => Ok(*t),
            other => match other.as_str() {
                Some(s) => parse_timestamp(s).map_err(EvalError::new),
                None => Err(expected("timestamp", value)),
            },
        }
    }
    fn into_value(self) -> Value {
        Value::Timestamp(self)
    }
}

impl NativeValue for NaiveDate {
    fn from_value(value: &Value) -> Result<Self, EvalError> {
        match value {
            Value::Date(d) => Ok(*d),
            other => match other.as_str() {
                Some(s) => parse_date(s).map_err(EvalError::new),
                None => Err(expected("date", value)),
            },
        }
    }
    fn into_value(self) -> Value {
        Value::Date(self)
    }
}

impl NativeValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self, EvalError> {
        match value {
            Value::Bytes(b) => Ok(b.to_vec()),
            _ => Err(expected("bytes", value)),
        }
    }
    fn into_value(self) -> Value {
        Value::Bytes(self.into())
    }
}

impl NativeValue for Value {
    fn from_value(value: &Value) -> Result<Self, EvalError> {
        Ok(value.clone())
    }
    fn into_value(self) -> Value {
        self
    }
    fn to_text(&self) -> String {
        Value::to_text(self)
    }
}

impl<T: NativeValue> NativeValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, EvalError> {
        if value.is_null() {
            Ok(None)
        } else {
            T::from_value(value).map(Some)
        }
    }
    fn into_value(self) -> Value {
        self.map(T::into_value).unwrap_or(Value::Null)
    }
    fn to_text(&self) -> String {
        self.as_ref().map(T::to_text).unwrap_or_default()
    }
}

/// Lists (`Vec<u8>` is `bytes`: `u8` is not a native type).
impl<T: NativeValue> NativeValue for Vec<T> {
    fn from_value(value: &Value) -> Result<Self, EvalError> {
        match value {
            Value::List(items) => items.iter().map(T::from_value).collect(),
            Value::Json(j) => match &**j {
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| T::from_value(&json_value(i)))
                    .collect(),
                _ => Err(expected("a list", value)),
            },
            _ => Err(expected("a list", value)),
        }
    }
    fn into_value(self) -> Value {
        Value::List(Arc::new(self.into_iter().map(T::into_value).collect()))
    }
}

/// The slots of a record value of type `name` (for generated `from_value`).
pub fn record_slots<'a>(value: &'a Value, name: &str) -> Result<&'a [Value], EvalError> {
    match value {
        Value::Record(r) if r.layout.name == name => Ok(&r.slots),
        _ => Err(expected(name, value)),
    }
}

/// Reads slot `i` (field `field`) of a record's slots as `T`.
pub fn slot<T: NativeValue>(slots: &[Value], i: usize, field: &str) -> Result<T, EvalError> {
    T::from_value(slots.get(i).unwrap_or(&Value::Null))
        .map_err(|e| EvalError::new(format!("field `{field}`: {}", e.message)))
}

/// A record value with this layout and these slots (for generated `into_value`).
pub fn record(layout: &Arc<Layout>, slots: Vec<Value>) -> Value {
    Value::Record(Arc::new(Record {
        layout: layout.clone(),
        slots,
    }))
}

/// A decimal widened to a float, as the checker's conversion does.
pub fn decimal_to_float(value: Decimal) -> f64 {
    Num::Decimal(value).to_f64()
}

/// Parses a timestamp literal.
pub fn timestamp(text: &str) -> Result<DateTime<Utc>, EvalError> {
    parse_timestamp(text).map_err(EvalError::new)
}

/// Parses a date literal.
pub fn date(text: &str) -> Result<NaiveDate, EvalError> {
    parse_date(text).map_err(EvalError::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_nulls() {
        let v = Some("x".to_string()).into_value();
        assert_eq!(Option::<String>::from_value(&v), Ok(Some("x".into())));
        assert_eq!(Option::<String>::from_value(&Value::Null), Ok(None));
        assert!(String::from_value(&Value::Null).is_err());
        assert_eq!(Decimal::from_value(&Value::Int(3)), Ok(Decimal::from(3)));
        let list = vec![1_i64, 2].into_value();
        assert_eq!(Vec::<i64>::from_value(&list), Ok(vec![1, 2]));
        assert_eq!(None::<i64>.to_text(), "");
    }
}
