//! The SOAP 1.1 request envelope of a record.
//!
//! Every text and attribute value is escaped (`&`, `<`, `>`, `"`, `'`, and
//! carriage returns as `&#13;` so they survive XML line-end normalisation);
//! a character XML 1.0 cannot carry at all (most control characters) is an
//! error rather than a document the service would reject or misread. Field
//! names become element names only when they are XML names, so no value
//! and no name can add markup.

use aqueduct_runtime::value::Value;
use base64::Engine;

/// The SOAP 1.1 envelope namespace.
pub(crate) const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// True for a name usable as an element name (no prefix: the connector
/// sets namespaces itself).
pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The envelope posting `record` as the body element `operation`.
pub(crate) fn request(
    operation: &str,
    namespace: Option<&str>,
    record: &Value,
) -> Result<String, String> {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    out.push_str("<soap:Envelope xmlns:soap=\"");
    out.push_str(SOAP_ENV);
    out.push_str("\"><soap:Body><");
    out.push_str(operation);
    if let Some(ns) = namespace {
        out.push_str(" xmlns=\"");
        escape(ns, &mut out).map_err(|c| format!("namespace: {c}"))?;
        out.push('"');
    }
    out.push('>');
    for (name, value) in fields(record) {
        write_field(&name, &value, &mut out)?;
    }
    out.push_str("</");
    out.push_str(operation);
    out.push_str("></soap:Body></soap:Envelope>");
    Ok(out)
}

/// The fields of a record (or JSON object) in order.
fn fields(value: &Value) -> Vec<(String, Value)> {
    match value {
        Value::Record(r) => r
            .layout
            .fields
            .iter()
            .map(|f| f.name.clone())
            .zip(r.slots.iter().cloned())
            .collect(),
        Value::Json(j) => j
            .as_object()
            .map(|map| {
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::Json(std::sync::Arc::new(v.clone()))))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// One element per value: nothing for null, one per item for a list, child
/// elements for a record, the text otherwise.
fn write_field(name: &str, value: &Value, out: &mut String) -> Result<(), String> {
    if !valid_name(name) {
        return Err(format!("`{name}` is not an XML element name"));
    }
    match value {
        Value::Null => return Ok(()),
        Value::List(items) => {
            for item in items.iter() {
                write_field(name, item, out)?;
            }
            return Ok(());
        }
        Value::Json(j) => match j.as_ref() {
            serde_json::Value::Null => return Ok(()),
            serde_json::Value::Array(items) => {
                for item in items {
                    write_field(name, &Value::Json(std::sync::Arc::new(item.clone())), out)?;
                }
                return Ok(());
            }
            _ => {}
        },
        _ => {}
    }
    out.push('<');
    out.push_str(name);
    out.push('>');
    match value {
        Value::Record(_) => {
            for (n, v) in fields(value) {
                write_field(&n, &v, out)?;
            }
        }
        Value::Json(j) if j.is_object() => {
            for (n, v) in fields(value) {
                write_field(&n, &v, out)?;
            }
        }
        Value::Json(j) if j.is_string() => escape(j.as_str().unwrap_or_default(), out)
            .map_err(|c| format!("field `{name}`: {c}"))?,
        // xsd:base64Binary, not the bytes as (possibly invalid) text
        Value::Bytes(b) => out.push_str(&base64::engine::general_purpose::STANDARD.encode(b)),
        other => escape(&other.to_text(), out).map_err(|c| format!("field `{name}`: {c}"))?,
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
    Ok(())
}

/// Appends `text` escaped; the error names a character XML 1.0 forbids.
fn escape(text: &str, out: &mut String) -> Result<(), String> {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                return Err(format!("U+{:04X} cannot be sent in XML 1.0", c as u32));
            }
            c => out.push(c),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
