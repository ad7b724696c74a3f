//! The built-in functions over Rust types. The runtime's own function
//! table (`expr::funcs`) calls these same helpers, so the interpreter and
//! generated code share one implementation of each function. Null handling
//! is the caller's: these take present values.

use crate::expr::EvalError;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use sha2::Digest;

/// `upper`
pub fn upper(text: &str) -> String {
    text.to_uppercase()
}

/// `lower`
pub fn lower(text: &str) -> String {
    text.to_lowercase()
}

/// `trim`
pub fn trim(text: &str) -> String {
    text.trim().to_string()
}

/// `replace`: every occurrence; an empty `from` leaves the text as it is.
pub fn replace(text: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        text.to_string()
    } else {
        text.replace(from, to)
    }
}

/// `split`: an empty separator splits into characters.
pub fn split(text: &str, separator: &str) -> Vec<String> {
    if separator.is_empty() {
        text.chars().map(|c| c.to_string()).collect()
    } else {
        text.split(separator).map(str::to_string).collect()
    }
}

/// `len` of a string: characters, not bytes.
pub fn len(text: &str) -> i64 {
    text.chars().count() as i64
}

/// `len` of a list.
pub fn len_list<T>(items: &[T]) -> i64 {
    items.len() as i64
}

/// `substring(text, start, length?)` in characters; negative bounds count as 0.
pub fn substring(text: &str, start: i64, length: Option<i64>) -> String {
    let start = usize::try_from(start.max(0)).unwrap_or(usize::MAX);
    match length {
        None => text.chars().skip(start).collect(),
        Some(n) => text
            .chars()
            .skip(start)
            .take(usize::try_from(n.max(0)).unwrap_or(usize::MAX))
            .collect(),
    }
}

/// `contains` on strings.
pub fn contains(text: &str, part: &str) -> bool {
    text.contains(part)
}

/// `starts_with`
pub fn starts_with(text: &str, prefix: &str) -> bool {
    text.starts_with(prefix)
}

/// `ends_with`
pub fn ends_with(text: &str, suffix: &str) -> bool {
    text.ends_with(suffix)
}

/// `join` of a list of strings.
pub fn join(items: &[String], separator: &str) -> String {
    items.join(separator)
}

fn digits(digits: Option<i64>) -> u32 {
    digits.map(|d| d.clamp(0, 28)).unwrap_or(0) as u32
}

/// `round` of a decimal: half away from zero, `digits` (0..=28) after the point.
pub fn round_decimal(value: Decimal, places: Option<i64>) -> Decimal {
    value.round_dp_with_strategy(digits(places), RoundingStrategy::MidpointAwayFromZero)
}

/// `round` of a float: through a decimal, so 2.675 rounds the way it is written.
pub fn round_float(value: f64, places: Option<i64>) -> f64 {
    match Decimal::from_f64(value) {
        Some(d) => round_decimal(d, places).to_f64().unwrap_or(value),
        None => value.round(),
    }
}

/// `abs` of an int (overflow is an error).
pub fn abs_int(value: i64) -> Result<i64, EvalError> {
    value
        .checked_abs()
        .ok_or_else(|| EvalError::new("integer overflow"))
}

/// `format_timestamp(t, format)` (strftime).
pub fn format_timestamp(value: &DateTime<Utc>, format: &str) -> Result<String, EvalError> {
    let mut out = String::new();
    std::fmt::Write::write_fmt(&mut out, format_args!("{}", value.format(format)))
        .map_err(|_| EvalError::new(format!("invalid timestamp format `{format}`")))?;
    Ok(out)
}

/// `format_timestamp` of a date.
pub fn format_date(value: &NaiveDate, format: &str) -> Result<String, EvalError> {
    let mut out = String::new();
    std::fmt::Write::write_fmt(&mut out, format_args!("{}", value.format(format)))
        .map_err(|_| EvalError::new(format!("invalid timestamp format `{format}`")))?;
    Ok(out)
}

/// `parse_timestamp(text, format?)`: RFC 3339 without a format; null when it does not parse.
pub fn parse_timestamp(text: &str, format: Option<&str>) -> Option<DateTime<Utc>> {
    let text = text.trim();
    match format {
        None => crate::value::json::parse_timestamp(text).ok(),
        Some(fmt) => DateTime::parse_from_str(text, fmt)
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
            }),
    }
}

/// `now()`
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// `sha256(text)`: lowercase hex.
pub fn sha256(text: &str) -> String {
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `uuid()`: a random v4 UUID.
pub fn uuid() -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_count_characters() {
        assert_eq!(len("äöü"), 3);
        assert_eq!(substring("äöü", 1, Some(1)), "ö");
        assert_eq!(substring("abc", -3, None), "abc");
        assert_eq!(split("a,b", ","), vec!["a", "b"]);
        assert_eq!(replace("aa", "", "x"), "aa");
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        let d = |s: &str| s.parse::<Decimal>().expect("decimal");
        assert_eq!(round_decimal(d("2.5"), None), d("3"));
        assert_eq!(round_decimal(d("-2.5"), None), d("-3"));
        assert_eq!(round_float(2.675, Some(2)), 2.68);
        assert!(abs_int(i64::MIN).is_err());
    }
}
