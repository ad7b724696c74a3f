//! Equality and ordering of values across kinds: `1 == 1.0 == 1.00`
//! (int, float and decimal compare by numeric value), JSON compares with
//! typed values through its JSON form, records field by field.

use super::Value;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use std::cmp::Ordering;

/// A number of any kind, for mixed arithmetic and comparison.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    /// An int.
    Int(i64),
    /// A decimal.
    Decimal(Decimal),
    /// A float.
    Float(f64),
}

impl Num {
    /// The number in `value`, if it is one (JSON numbers included).
    pub fn of(value: &Value) -> Option<Num> {
        match value {
            Value::Int(i) => Some(Num::Int(*i)),
            Value::Decimal(d) => Some(Num::Decimal(*d)),
            Value::Float(f) => Some(Num::Float(*f)),
            Value::Json(j) => match &**j {
                serde_json::Value::Number(n) => n
                    .as_i64()
                    .map(Num::Int)
                    .or_else(|| n.to_string().parse::<Decimal>().ok().map(Num::Decimal))
                    .or_else(|| n.as_f64().map(Num::Float)),
                _ => None,
            },
            _ => None,
        }
    }

    /// As a float (lossy for big decimals).
    pub fn to_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Decimal(d) => d.to_f64().unwrap_or(f64::NAN),
            Num::Float(f) => f,
        }
    }

    /// As a decimal, when it has one.
    pub fn to_decimal(self) -> Option<Decimal> {
        match self {
            Num::Int(i) => Some(Decimal::from(i)),
            Num::Decimal(d) => Some(d),
            Num::Float(f) => Decimal::from_f64(f),
        }
    }
}

/// Compares two numbers by value.
pub fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        (Num::Float(_), _) | (_, Num::Float(_)) => a.to_f64().partial_cmp(&b.to_f64()),
        _ => Some(a.to_decimal()?.cmp(&b.to_decimal()?)),
    }
}

/// Equality as `==` sees it: null equals only null; numbers by value.
pub fn equals(a: &Value, b: &Value) -> bool {
    if a.is_null() || b.is_null() {
        return a.is_null() && b.is_null();
    }
    if let (Some(x), Some(y)) = (Num::of(a), Num::of(b)) {
        return cmp_num(x, y) == Some(Ordering::Equal);
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Timestamp(x), Value::Timestamp(y)) => x == y,
        (Value::Date(x), Value::Date(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equals(p, q))
        }
        (Value::Record(x), Value::Record(y)) => {
            x.layout.name == y.layout.name
                && x.slots.iter().zip(&y.slots).all(|(p, q)| equals(p, q))
        }
        (Value::Json(_), _) | (_, Value::Json(_)) => json_equals(&a.to_json(), &b.to_json()),
        _ => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

fn json_equals(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(_), J::Number(_)) => equals(
            &Value::Json(a.clone().into()),
            &Value::Json(b.clone().into()),
        ),
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equals(p, q))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).map(|w| json_equals(v, w)).unwrap_or(false))
        }
        _ => a == b,
    }
}

/// Ordering for `<`, `<=`, `>`, `>=`, `min`, `max`: numbers, strings,
/// timestamps, dates and bools; `None` for values of unrelated kinds.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (Num::of(a), Num::of(b)) {
        return cmp_num(x, y);
    }
    match (a, b) {
        (Value::Timestamp(x), Value::Timestamp(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::Timestamp(x), Value::Date(y)) => Some(x.date_naive().cmp(y)),
        (Value::Date(x), Value::Timestamp(y)) => Some(x.cmp(&y.date_naive())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => Some(x.cmp(y)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn numbers_compare_across_kinds() {
        let d = |s: &str| Value::Decimal(s.parse().expect("decimal"));
        assert!(equals(&Value::Int(1), &d("1.00")));
        assert!(equals(&Value::Float(0.5), &d("0.5")));
        assert!(!equals(&Value::Null, &Value::Int(0)));
        assert!(equals(
            &Value::Null,
            &Value::Json(Arc::new(serde_json::Value::Null))
        ));
        assert_eq!(compare(&d("2.5"), &Value::Int(2)), Some(Ordering::Greater));
        assert_eq!(compare(&Value::string("a"), &Value::Int(2)), None);
        assert!(equals(
            &Value::Json(Arc::new(serde_json::json!("x"))),
            &Value::string("x")
        ));
    }
}
