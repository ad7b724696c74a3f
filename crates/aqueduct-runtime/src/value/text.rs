//! Text ↔ [`Value`]: parsing CSV cells and XML text by type, and rendering
//! values as text (`to_string`, interpolation).

use super::json::{format_timestamp, parse_date, parse_decimal, parse_timestamp};
use super::{Schemas, Value};
use aqueduct_graph::Type;
use std::sync::Arc;

/// Parses one text field as `ty`. An empty cell is null for an optional
/// type, the empty string for a required `string`, and an error otherwise.
pub fn parse_text(text: &str, ty: &Type, schemas: &Schemas) -> Result<Value, String> {
    if let Type::Optional(inner) = ty {
        return if text.is_empty() {
            Ok(Value::Null)
        } else {
            parse_text(text, inner, schemas)
        };
    }
    if text.is_empty() {
        return match ty {
            Type::String => Ok(Value::String("".into())),
            Type::Json | Type::Null => Ok(Value::Null),
            other => Err(format!("expected {other}, found an empty value")),
        };
    }
    let t = text.trim();
    match ty {
        Type::String => Ok(Value::String(text.into())),
        Type::Int | Type::Duration => t
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| format!("expected int, found `{}`", short(text))),
        Type::Float => t
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|_| format!("expected float, found `{}`", short(text))),
        Type::Decimal => parse_decimal(t).map(Value::Decimal),
        Type::Bool => match t.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "n" => Ok(Value::Bool(false)),
            _ => Err(format!("expected bool, found `{}`", short(text))),
        },
        Type::Timestamp => parse_timestamp(t).map(Value::Timestamp),
        Type::Date => parse_date(t).map(Value::Date),
        Type::Bytes => Ok(Value::Bytes(Arc::from(text.as_bytes()))),
        Type::Json => match serde_json::from_str::<serde_json::Value>(t) {
            Ok(j) => Ok(super::json::json_value(&j)),
            // a bare word in a json column is the string it spells
            Err(_) => Ok(Value::Json(Arc::new(serde_json::Value::String(
                text.to_string(),
            )))),
        },
        Type::Null => Err(format!("expected null, found `{}`", short(text))),
        Type::List(_) | Type::Record(_) | Type::Optional(_) => {
            let j: serde_json::Value =
                serde_json::from_str(t).map_err(|e| format!("expected {ty} as JSON text: {e}"))?;
            Value::from_json(&j, ty, schemas)
        }
    }
}

fn short(text: &str) -> String {
    if text.chars().count() <= 40 {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(40).collect::<String>())
    }
}

/// Renders a value as text: strings as they are, numbers plainly, decimals
/// exactly, timestamps RFC 3339, null as the empty string, the rest as JSON.
pub fn to_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Decimal(d) => d.to_string(),
        Value::String(s) => s.to_string(),
        Value::Timestamp(t) => format_timestamp(t),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Json(j) => match &**j {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        Value::List(_) | Value::Record(_) => value.to_json_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_cells_follow_optionality() {
        let s = Schemas::default();
        assert_eq!(parse_text("", &Type::Int.optional(), &s), Ok(Value::Null));
        assert_eq!(
            parse_text("", &Type::Int, &s),
            Err("expected int, found an empty value".into())
        );
        assert_eq!(parse_text(" 42 ", &Type::Int, &s), Ok(Value::Int(42)));
        assert_eq!(
            parse_text("x", &Type::Decimal, &s),
            Err("expected decimal, found `x`".into())
        );
        assert_eq!(
            parse_text("12.50", &Type::Decimal, &s).map(|v| v.to_text()),
            Ok("12.50".to_string())
        );
        assert_eq!(parse_text("TRUE", &Type::Bool, &s), Ok(Value::Bool(true)));
    }
}
