//! Operators over Rust types: checked integer arithmetic, exact decimals,
//! float division, comparisons with null; and the runtime's generic
//! operators on [`Value`]s for operand kinds generated code does not
//! specialise (json, lists, mixed kinds). The interpreter's arithmetic
//! (`expr::ops`) calls the same integer and decimal helpers.

use crate::expr::EvalError;
use crate::value::Value;
use aqueduct_graph::{BinaryOp, Type, UnaryOp};
use rust_decimal::Decimal;
use std::cmp::Ordering;

fn overflow() -> EvalError {
    EvalError::new("integer overflow")
}

fn div_zero() -> EvalError {
    EvalError::new("division by zero")
}

fn decimal_overflow() -> EvalError {
    EvalError::new("decimal overflow")
}

/// `a + b` on ints.
pub fn int_add(a: i64, b: i64) -> Result<i64, EvalError> {
    a.checked_add(b).ok_or_else(overflow)
}

/// `a - b` on ints.
pub fn int_sub(a: i64, b: i64) -> Result<i64, EvalError> {
    a.checked_sub(b).ok_or_else(overflow)
}

/// `a * b` on ints.
pub fn int_mul(a: i64, b: i64) -> Result<i64, EvalError> {
    a.checked_mul(b).ok_or_else(overflow)
}

/// `a / b` on ints (truncates).
pub fn int_div(a: i64, b: i64) -> Result<i64, EvalError> {
    if b == 0 {
        return Err(div_zero());
    }
    a.checked_div(b).ok_or_else(overflow)
}

/// `a % b` on ints.
pub fn int_rem(a: i64, b: i64) -> Result<i64, EvalError> {
    if b == 0 {
        return Err(div_zero());
    }
    a.checked_rem(b).ok_or_else(overflow)
}

/// `-a` on ints.
pub fn int_neg(a: i64) -> Result<i64, EvalError> {
    a.checked_neg().ok_or_else(overflow)
}

/// `a + b` on decimals.
pub fn dec_add(a: Decimal, b: Decimal) -> Result<Decimal, EvalError> {
    a.checked_add(b).ok_or_else(decimal_overflow)
}

/// `a - b` on decimals.
pub fn dec_sub(a: Decimal, b: Decimal) -> Result<Decimal, EvalError> {
    a.checked_sub(b).ok_or_else(decimal_overflow)
}

/// `a * b` on decimals.
pub fn dec_mul(a: Decimal, b: Decimal) -> Result<Decimal, EvalError> {
    a.checked_mul(b).ok_or_else(decimal_overflow)
}

/// `a / b` on decimals.
pub fn dec_div(a: Decimal, b: Decimal) -> Result<Decimal, EvalError> {
    if b.is_zero() {
        return Err(div_zero());
    }
    a.checked_div(b).ok_or_else(decimal_overflow)
}

/// `a % b` on decimals.
pub fn dec_rem(a: Decimal, b: Decimal) -> Result<Decimal, EvalError> {
    if b.is_zero() {
        return Err(div_zero());
    }
    a.checked_rem(b).ok_or_else(decimal_overflow)
}

/// `a / b` on floats (dividing by zero is an error, not infinity).
pub fn float_div(a: f64, b: f64) -> Result<f64, EvalError> {
    if b == 0.0 {
        return Err(div_zero());
    }
    Ok(a / b)
}

/// `a % b` on floats.
pub fn float_rem(a: f64, b: f64) -> Result<f64, EvalError> {
    if b == 0.0 {
        return Err(div_zero());
    }
    Ok(a % b)
}

/// `a + b` on strings.
pub fn concat(a: &str, b: &str) -> String {
    let mut out = String::with_capacity(a.len() + b.len());
    out.push_str(a);
    out.push_str(b);
    out
}

fn order<T: PartialOrd>(a: &T, b: &T, kind: &str) -> Result<Ordering, EvalError> {
    a.partial_cmp(b)
        .ok_or_else(|| EvalError::new(format!("cannot compare {kind} with {kind}")))
}

/// `a < b`; false when either is null.
pub fn lt<T: PartialOrd>(a: Option<&T>, b: Option<&T>) -> Result<bool, EvalError> {
    compare(a, b, Ordering::is_lt)
}

/// `a <= b`; false when either is null.
pub fn le<T: PartialOrd>(a: Option<&T>, b: Option<&T>) -> Result<bool, EvalError> {
    compare(a, b, Ordering::is_le)
}

/// `a > b`; false when either is null.
pub fn gt<T: PartialOrd>(a: Option<&T>, b: Option<&T>) -> Result<bool, EvalError> {
    compare(a, b, Ordering::is_gt)
}

/// `a >= b`; false when either is null.
pub fn ge<T: PartialOrd>(a: Option<&T>, b: Option<&T>) -> Result<bool, EvalError> {
    compare(a, b, Ordering::is_ge)
}

fn compare<T: PartialOrd>(
    a: Option<&T>,
    b: Option<&T>,
    test: fn(Ordering) -> bool,
) -> Result<bool, EvalError> {
    match (a, b) {
        (Some(a), Some(b)) => order(a, b, "float").map(test),
        _ => Ok(false),
    }
}

/// `min(a, b)` of one kind (ties pick `a`).
pub fn min<T: PartialOrd>(a: T, b: T) -> Result<T, EvalError> {
    Ok(if pick(&a, &b, "min")?.is_le() { a } else { b })
}

/// `max(a, b)` of one kind (ties pick `a`).
pub fn max<T: PartialOrd>(a: T, b: T) -> Result<T, EvalError> {
    Ok(if pick(&a, &b, "max")?.is_ge() { a } else { b })
}

fn pick<T: PartialOrd>(a: &T, b: &T, func: &str) -> Result<Ordering, EvalError> {
    // only floats (NaN) fail to compare among values of one kind
    a.partial_cmp(b)
        .ok_or_else(|| EvalError::new(format!("`{func}` cannot compare float with float")))
}

/// `a == b` as the language sees it, for any values (numbers by value, null equals only null).
pub fn equals(a: &Value, b: &Value) -> bool {
    crate::value::compare::equals(a, b)
}

/// A strict binary operator on values (everything but `and`, `or`, `??`).
pub fn binary(op: BinaryOp, a: Value, b: Value) -> Result<Value, EvalError> {
    crate::expr::binary(op, a, b)
}

/// A prefix operator on a value.
pub fn unary(op: UnaryOp, a: Value) -> Result<Value, EvalError> {
    crate::expr::unary(op, a)
}

/// `base[index]` on values.
pub fn index(base: &Value, index: &Value) -> Value {
    crate::expr::index(base, index)
}

/// `needle in haystack` on values.
pub fn contains(haystack: &Value, needle: &Value) -> bool {
    crate::expr::contains(haystack, needle)
}

/// Field `name` of a json value (null when absent).
pub fn field(base: &Value, name: &str) -> Value {
    base.field(name)
}

/// A conversion the checker inserted, on values.
pub fn convert(
    value: Value,
    to: &Type,
    schemas: &crate::value::Schemas,
) -> Result<Value, EvalError> {
    crate::expr::convert(value, to, schemas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_and_null_aware() {
        assert!(int_add(i64::MAX, 1).is_err());
        assert_eq!(int_div(7, 2), Ok(3));
        assert!(int_rem(1, 0).is_err());
        assert!(dec_div(Decimal::ONE, Decimal::ZERO).is_err());
        assert_eq!(gt(Some(&2), None), Ok(false));
        assert_eq!(le(Some(&1.0), Some(&1.0)), Ok(true));
        assert!(lt(Some(&f64::NAN), Some(&1.0)).is_err());
        assert_eq!(min(2, 2), Ok(2));
    }
}
