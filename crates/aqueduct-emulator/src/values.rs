//! Field values: checking and normalising what clients send (JSON from
//! REST, text from Bulk CSV) into the stored form, and ordering values the
//! way SOQL compares them. Stored forms: text as strings, numbers as JSON
//! numbers, dates as `YYYY-MM-DD`, datetimes as `2024-01-02T17:38:59.000+0000`
//! (fixed width in UTC, so text order is time order), ids in 18 characters.

use crate::clock::{parse_datetime, rest_datetime};
use crate::errors::ApiError;
use crate::ids;
use crate::schema::{FieldDef, FieldType};
use serde_json::{Value, json};
use std::cmp::Ordering;

/// A JSON value from a REST body, checked against the field.
pub fn from_json(field: &FieldDef, value: &Value) -> Result<Value, ApiError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let t = field.ftype;
    let parse_error = || {
        ApiError::json_parser(format!(
            "Cannot deserialize instance of {} from {} value {} or request may be missing a required field",
            t.describe_name(),
            json_kind(value),
            plain(value)
        ))
    };
    match t {
        _ if t.is_text() => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => plain(value),
                _ => return Err(parse_error()),
            };
            check_text(field, text)
        }
        FieldType::Boolean => value.as_bool().map(Value::Bool).ok_or_else(parse_error),
        FieldType::Int => match value {
            Value::Number(n) if n.is_i64() => Ok(value.clone()),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(json!(f as i64)),
                _ => Err(parse_error()),
            },
            _ => Err(parse_error()),
        },
        FieldType::Double | FieldType::Currency | FieldType::Percent => match value {
            Value::Number(_) => Ok(value.clone()),
            _ => Err(parse_error()),
        },
        FieldType::Date => match value.as_str().and_then(parse_date) {
            Some(d) => Ok(Value::String(d)),
            None => Err(parse_error()),
        },
        FieldType::Datetime => match value.as_str().and_then(parse_datetime) {
            Some(d) => Ok(Value::String(rest_datetime(d))),
            None => Err(parse_error()),
        },
        FieldType::Reference | FieldType::Id => match value.as_str() {
            Some("") => Ok(Value::Null),
            Some(s) => reference(field, s),
            None => Err(parse_error()),
        },
        _ => Err(parse_error()),
    }
}

/// A CSV cell from a Bulk API upload, checked against the field. The caller
/// handles empty cells (unchanged) and `#N/A` (null).
pub fn from_text(field: &FieldDef, text: &str) -> Result<Value, ApiError> {
    let t = field.ftype;
    let wrong = || {
        ApiError::bad(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            format!("{}: value not of required type: {text}", field.label),
        )
        .with_fields(&[&field.name])
    };
    match t {
        _ if t.is_text() => check_text(field, text.to_string()),
        FieldType::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" => Ok(Value::Bool(false)),
            _ => Err(wrong()),
        },
        FieldType::Int => text
            .trim()
            .parse::<i64>()
            .map(|n| json!(n))
            .map_err(|_| wrong()),
        FieldType::Double | FieldType::Currency | FieldType::Percent => {
            match text.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(json!(f)),
                _ => Err(wrong()),
            }
        }
        FieldType::Date => parse_date(text.trim()).map(Value::String).ok_or_else(wrong),
        FieldType::Datetime => parse_datetime(text.trim())
            .map(|d| Value::String(rest_datetime(d)))
            .ok_or_else(wrong),
        FieldType::Reference | FieldType::Id => reference(field, text.trim()),
        _ => Err(wrong()),
    }
}

/// A stored value as a CSV cell (null is empty).
pub fn to_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Orders two values as SOQL does: nulls first, text case-insensitively,
/// numbers numerically, booleans false < true.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        _ => to_text(a).cmp(&to_text(b)),
    }
}

/// Whether two non-null values are equal as SOQL and external-id lookups
/// compare them (text case-insensitively); cheaper than [`compare`], which
/// matters for unique checks that scan a table per write.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) if x.is_ascii() && y.is_ascii() => {
            x.eq_ignore_ascii_case(y)
        }
        (Value::String(x), Value::String(y)) => x.to_lowercase() == y.to_lowercase(),
        _ => compare(a, b) == Ordering::Equal,
    }
}

/// `YYYY-MM-DD`, validated.
pub fn parse_date(text: &str) -> Option<String> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

fn check_text(field: &FieldDef, text: String) -> Result<Value, ApiError> {
    let len = text.chars().count();
    if len > field.length as usize {
        return Err(ApiError::bad(
            "STRING_TOO_LONG",
            format!(
                "{}: data value too large: {} (max length={})",
                field.label,
                truncate(&text, 40),
                field.length
            ),
        )
        .with_fields(&[&field.name]));
    }
    if field.ftype == FieldType::Email && !text.is_empty() && !looks_like_email(&text) {
        return Err(ApiError::bad(
            "INVALID_EMAIL_ADDRESS",
            format!("{}: invalid email address: {text}", field.label),
        )
        .with_fields(&[&field.name]));
    }
    Ok(Value::String(text))
}

fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.contains(char::is_whitespace)
}

fn reference(field: &FieldDef, text: &str) -> Result<Value, ApiError> {
    match ids::normalize(text) {
        Some(id) => Ok(Value::String(id)),
        None => Err(ApiError::bad(
            "MALFORMED_ID",
            format!("{}: id value of incorrect type: {text}", field.label),
        )
        .with_fields(&[&field.name])),
    }
}

fn truncate(text: &str, n: usize) -> String {
    let cut: String = text.chars().take(n).collect();
    if cut.len() < text.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        Value::Null => "VALUE_NULL",
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
