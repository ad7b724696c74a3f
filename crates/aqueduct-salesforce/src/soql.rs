//! SOQL literals for values interpolated into a lookup query, so a record
//! field can never change the query's meaning (SOQL injection).
//!
//! Text is quoted and escaped (`O'Brien` → `'O\'Brien'`, a backslash doubled,
//! line breaks as `\n`); numbers and booleans are written bare; dates and
//! datetimes bare in ISO form, as SOQL wants them; null is `null`; a list is
//! `(a, b)` for `IN`. Text placed between quotes the author wrote
//! (`Name = '{.name}'`) is escaped but not quoted again.

use aqueduct_connectors::support::template::Template;
use aqueduct_runtime::value::Value;
use aqueduct_runtime::value::json::format_timestamp;

/// `text` escaped for the inside of a SOQL string literal.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as a quoted SOQL string literal.
pub fn quote(text: &str) -> String {
    format!("'{}'", escape(text))
}

/// A value as a SOQL literal.
pub fn literal(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Decimal(d) => d.to_string(),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::Timestamp(t) => format_timestamp(t),
        Value::List(items) => format!(
            "({})",
            items.iter().map(literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Json(j) => match j.as_ref() {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => "null".into(),
            serde_json::Value::String(s) => quote(s),
            other => quote(&other.to_string()),
        },
        other => quote(&other.to_text()),
    }
}

/// Marks where an interpolated value goes while the query is assembled.
const HOLE: char = '\u{1}';

/// Renders a query template for `record`, each interpolated value as a
/// SOQL literal.
pub fn render(template: &Template, record: &Value) -> Result<String, String> {
    let (text, values) = template.with_params(record, |_| HOLE.to_string())?;
    let pieces: Vec<&str> = text.split(HOLE).collect();
    let mut out = String::with_capacity(text.len() + 16);
    for (i, piece) in pieces.iter().enumerate() {
        out.push_str(piece);
        let Some(value) = values.get(i) else { break };
        let quoted_by_author =
            piece.ends_with('\'') && pieces.get(i + 1).is_some_and(|next| next.starts_with('\''));
        if quoted_by_author {
            out.push_str(&escape(&value.to_text()));
        } else {
            out.push_str(&literal(value));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_escapes_text() {
        assert_eq!(quote("O'Brien"), r"'O\'Brien'");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
        assert_eq!(quote(r"x\' OR Name != '"), r"'x\\\' OR Name != \''");
        assert_eq!(quote("two\nlines"), r"'two\nlines'");
    }

    #[test]
    fn writes_other_values_bare() {
        assert_eq!(literal(&Value::Int(42)), "42");
        assert_eq!(literal(&Value::Bool(true)), "true");
        assert_eq!(literal(&Value::Null), "null");
        assert_eq!(
            literal(&Value::List(std::sync::Arc::new(vec![
                Value::string("a'"),
                Value::string("b")
            ]))),
            r"('a\'', 'b')"
        );
    }
}
