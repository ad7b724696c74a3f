//! `xml`: records are elements: those named by `record` anywhere in the
//! document, else every child of the root element. A field is read from an
//! attribute of that name, or from child elements of that name (their text
//! for scalars, their children for records, every such element for lists).
//! Written documents are `<records>` holding one `<record>` (or the `record`
//! name) per record, one child element per non-null field.

use super::{Codec, build_record, cell_text, fields_of, layout, parse_cell};
use crate::support::decode_error;
use aqueduct_graph::{FieldType, Type};
use aqueduct_runtime::connector::{ConnectorError, DecodeError};
use aqueduct_runtime::value::{Schemas, Value};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use std::sync::Arc;

/// An element of a parsed document; names are local (prefixes dropped).
#[derive(Debug, Default)]
pub struct Element {
    /// The local name.
    pub name: String,
    /// Attributes by local name, values normalised.
    pub attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// The text directly inside the element (entities resolved).
    pub text: String,
}

fn start(e: &BytesStart<'_>) -> Result<Element, String> {
    let mut el = Element {
        name: e.local_name().as_ref().to_string(),
        ..Element::default()
    };
    for attr in e.attributes() {
        let attr = attr.map_err(|err| format!("malformed XML attribute: {err}"))?;
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| format!("malformed XML attribute: {err}"))?;
        el.attrs.push((
            attr.key.local_name().as_ref().to_string(),
            value.into_owned(),
        ));
    }
    Ok(el)
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None if root.is_none() => *root = Some(el),
        None => return Err("more than one root element".to_string()),
    }
    Ok(())
}

/// Parses a whole document into its root element.
pub fn parse_tree(text: &str) -> Result<Element, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(e) => stack.push(start(&e)?),
            Event::Empty(e) => {
                let el = start(&e)?;
                attach(&mut stack, &mut root, el)?;
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("malformed XML: unexpected closing tag")?;
                attach(&mut stack, &mut root, el)?;
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| format!("malformed XML: {e}"))?
                } else {
                    match r.xml10_content().as_ref() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        other => return Err(format!("malformed XML: unknown entity `&{other};`")),
                    }
                };
                if let (Some(c), Some(top)) = (resolved, stack.last_mut()) {
                    top.text.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!(
            "malformed XML: element `{}` is not closed",
            open.name
        ));
    }
    root.ok_or_else(|| "malformed XML: no root element".to_string())
}

fn find<'a>(el: &'a Element, name: &str, out: &mut Vec<&'a Element>) {
    for child in &el.children {
        if child.name == name {
            out.push(child);
        } else {
            find(child, name, out);
        }
    }
}

/// Decodes a whole document.
pub(super) fn decode_document(codec: &Codec, input: &[u8]) -> Vec<Result<Value, DecodeError>> {
    let text = String::from_utf8_lossy(input);
    if text.trim().is_empty() {
        return Vec::new();
    }
    let root = match parse_tree(&text) {
        Ok(root) => root,
        Err(reason) => return vec![Err(decode_error(&text, reason))],
    };
    let mut records = Vec::new();
    match &codec.record {
        Some(name) if root.name == *name => records.push(&root),
        Some(name) => find(&root, name, &mut records),
        None => records.extend(root.children.iter()),
    }
    records
        .into_iter()
        .map(|el| {
            element_value(el, &codec.ty, &codec.schemas)
                .map_err(|reason| decode_error(&describe(el), reason))
        })
        .collect()
}

/// A short rendering of an element for error messages.
fn describe(el: &Element) -> String {
    let mut out = String::new();
    write_element(el, &mut out);
    out
}

fn write_element(el: &Element, out: &mut String) {
    out.push('<');
    out.push_str(&el.name);
    for (k, v) in &el.attrs {
        out.push_str(&format!(
            " {k}=\"{}\"",
            quick_xml::escape::escape(v.as_str())
        ));
    }
    out.push('>');
    out.push_str(&quick_xml::escape::escape(el.text.trim()));
    for child in &el.children {
        write_element(child, out);
    }
    out.push_str(&format!("</{}>", el.name));
}

fn element_json(el: &Element) -> serde_json::Value {
    if el.children.is_empty() && el.attrs.is_empty() {
        return serde_json::Value::String(el.text.trim().to_string());
    }
    let mut map = serde_json::Map::new();
    for (k, v) in &el.attrs {
        map.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    for child in &el.children {
        let value = element_json(child);
        match map.get_mut(&child.name) {
            Some(serde_json::Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = serde_json::Value::Array(vec![first, value]);
            }
            None => {
                map.insert(child.name.clone(), value);
            }
        }
    }
    serde_json::Value::Object(map)
}

/// Reads an element as a value of `ty`: a record from its attributes and
/// child elements by field name, a scalar from its text.
pub fn element_value(el: &Element, ty: &Type, schemas: &Schemas) -> Result<Value, String> {
    match ty.required() {
        Type::Record(name) => {
            let layout =
                layout(ty, schemas).ok_or_else(|| format!("unknown record type `{name}`"))?;
            build_record(&layout, |field| field_value(el, field, schemas))
        }
        Type::Json => Ok(Value::Json(Arc::new(element_json(el)))),
        Type::List(inner) => {
            let items = el
                .children
                .iter()
                .map(|c| element_value(c, inner, schemas))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::List(Arc::new(items)))
        }
        _ => parse_cell(
            el.text.trim(),
            &FieldType {
                name: el.name.clone(),
                ty: ty.clone(),
                doc: Vec::new(),
            },
            schemas,
        ),
    }
}

fn field_value(el: &Element, field: &FieldType, schemas: &Schemas) -> Result<Value, String> {
    if let Some((_, v)) = el.attrs.iter().find(|(n, _)| *n == field.name) {
        return parse_cell(v, field, schemas);
    }
    let mut matches = el
        .children
        .iter()
        .filter(|c| c.name == field.name)
        .peekable();
    if matches.peek().is_none() {
        return Ok(Value::Null);
    }
    match field.ty.required() {
        Type::List(inner) => {
            let items = matches
                .map(|c| element_value(c, inner, schemas))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::List(Arc::new(items)))
        }
        _ => match matches.next() {
            Some(child) => match field.ty.required() {
                Type::Record(_) | Type::Json => element_value(child, &field.ty, schemas),
                _ => parse_cell(child.text.trim(), field, schemas),
            },
            None => Ok(Value::Null),
        },
    }
}

/// The XML declaration and the opening root element.
pub(super) fn prefix() -> Vec<u8> {
    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<records>\n".to_vec()
}

/// The closing root element.
pub(super) fn suffix() -> Vec<u8> {
    b"</records>\n".to_vec()
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn write_field(name: &str, value: &Value, out: &mut String) -> Result<(), ConnectorError> {
    if !valid_name(name) {
        return Err(ConnectorError::Permanent(format!(
            "`{name}` is not a valid XML element name"
        )));
    }
    match value {
        Value::Null => {}
        Value::List(items) => {
            for item in items.iter() {
                write_field(name, item, out)?;
            }
        }
        Value::Json(j) if j.is_array() => {
            for item in j.as_array().into_iter().flatten() {
                write_field(name, &Value::Json(Arc::new(item.clone())), out)?;
            }
        }
        Value::Json(j) if j.is_null() => {}
        Value::Record(_) | Value::Json(_) if !fields_of(value).is_empty() => {
            out.push_str(&format!("<{name}>"));
            for (n, v) in fields_of(value) {
                write_field(&n, &v, out)?;
            }
            out.push_str(&format!("</{name}>"));
        }
        other => out.push_str(&format!(
            "<{name}>{}</{name}>",
            quick_xml::escape::escape(cell_text(other))
        )),
    }
    Ok(())
}

/// Appends one record element and a newline.
pub(super) fn encode(
    codec: &Codec,
    value: &Value,
    out: &mut Vec<u8>,
) -> Result<(), ConnectorError> {
    let name = codec.record.as_deref().unwrap_or("record");
    let mut text = format!("<{name}>");
    for (n, v) in fields_of(value) {
        write_field(&n, &v, &mut text)?;
    }
    text.push_str(&format!("</{name}>\n"));
    out.extend(text.into_bytes());
    Ok(())
}
