//! How a JSON number (as serde_json hands it over: `i64`, `u64` or `f64`)
//! becomes an `int` or a `float` value, and how a record key finds its
//! field. One rule for the typed decoder ([`super::seed`]) and for the
//! fused path's decoder (`crate::fused`), so the two cannot drift apart:
//! the fused path must give exactly the values the general path gives.

/// The numeric type a number is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Numeric {
    Int,
    Float,
}

/// A number read as an `int` or a `float`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

/// A JSON integer that fits `i64`: an int, or a float of the same value.
pub(crate) fn from_i64(i: i64, as_: Numeric) -> Number {
    match as_ {
        Numeric::Int => Number::Int(i),
        Numeric::Float => Number::Float(i as f64),
    }
}

/// A JSON integer above `i64::MAX`: not an int; a float of about its value.
pub(crate) fn from_u64(u: u64, as_: Numeric) -> Option<Number> {
    match as_ {
        Numeric::Int => i64::try_from(u).ok().map(Number::Int),
        Numeric::Float => Some(Number::Float(u as f64)),
    }
}

/// A JSON number with a fraction or an exponent: an int only when it is
/// whole and exactly representable (below 9e15), else a float.
pub(crate) fn from_f64(f: f64, as_: Numeric) -> Option<Number> {
    match as_ {
        Numeric::Int if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(Number::Int(f as i64)),
        Numeric::Int => None,
        Numeric::Float => Some(Number::Float(f)),
    }
}

/// The index of the field named `key` among `names`, trying `hint` first
/// (fields usually come in declaration order, so the next key is most
/// likely the field after the last one found).
pub(crate) fn field_index<F>(
    fields: &[F],
    name: impl Fn(&F) -> &str,
    hint: usize,
    key: &str,
) -> Option<usize> {
    if fields.get(hint).is_some_and(|f| name(f) == key) {
        return Some(hint);
    }
    fields.iter().position(|f| name(f) == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_ints_only_when_whole_and_exact() {
        assert_eq!(from_i64(3, Numeric::Float), Number::Float(3.0));
        assert_eq!(from_u64(u64::MAX, Numeric::Int), None);
        assert_eq!(from_u64(7, Numeric::Int), Some(Number::Int(7)));
        assert_eq!(from_f64(4.0, Numeric::Int), Some(Number::Int(4)));
        assert_eq!(from_f64(4.5, Numeric::Int), None);
        assert_eq!(from_f64(1e16, Numeric::Int), None);
        assert_eq!(from_f64(4.5, Numeric::Float), Some(Number::Float(4.5)));
    }

    #[test]
    fn keys_find_their_field_with_or_without_the_hint() {
        let names = ["id", "name", "amount"];
        let find = |hint, key| field_index(&names, |n| n, hint, key);
        assert_eq!(find(1, "name"), Some(1));
        assert_eq!(find(1, "id"), Some(0));
        assert_eq!(find(3, "amount"), Some(2));
        assert_eq!(find(0, "other"), None);
    }
}
