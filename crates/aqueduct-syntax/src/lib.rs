//! Syntax stage: `.aq` text → [`ast::File`], and back to text with [`format()`].
//!
//! The grammar lives in `grammar/aqueduct.pest` at the workspace root. The
//! parser never panics: bad input yields diagnostics in the `AQ01xx` range
//! worded for the user ("expected a step such as `map`, `where` or `to`"),
//! never pest rule names.
//!
//! ```
//! use aqueduct_diagnostics::FileId;
//! let parsed = aqueduct_syntax::parse(FileId(0), "type Order { id: string }");
//! assert!(parsed.diagnostics.is_empty());
//! let file = parsed.file.expect("parses");
//! assert_eq!(file.decls[0].name().name, "Order");
//! ```
#![warn(missing_docs)]

pub mod ast;
mod fmt;
mod parser;

pub use fmt::format;
pub use parser::{MAX_FILE_BYTES, Parsed, parse};

/// Any node as JSON with every `span`-like field removed, so two nodes can be
/// compared for structure alone (equal conditions, formatter round trips).
pub fn shape<T: serde::Serialize>(node: &T) -> serde_json::Value {
    let mut value = serde_json::to_value(node).unwrap_or(serde_json::Value::Null);
    strip_value(&mut value);
    value
}

fn strip_value(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| k != "span" && !k.ends_with("_span"));
            // Spread entries are `{"Spread": span}`: keep the variant, drop the span.
            if let Some(s) = map.get_mut("Spread") {
                *s = serde_json::Value::Null;
            }
            map.values_mut().for_each(strip_value);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_value),
        _ => {}
    }
}

/// The tree as JSON with every `span`-like field removed, so two trees can be
/// compared for structure alone (the formatter must preserve it).
pub fn strip_spans(file: &ast::File) -> serde_json::Value {
    let mut value = serde_json::to_value(file).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut value {
        map.remove("comments");
    }
    strip_value(&mut value);
    value
}
