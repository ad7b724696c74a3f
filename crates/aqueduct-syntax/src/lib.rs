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

/// The two parsers behind [`parse`], apart, for the differential tests and
/// the fuzz target that check they agree. Not an API to build on.
#[doc(hidden)]
pub mod differential {
    pub use crate::parser::{parse_fast_only, parse_pest};
}

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

/// True when two expressions have the same structure: equal as trees with
/// every span ignored, which is `shape(a) == shape(b)` without building
/// JSON (the checker compares every `route` condition with the ones above).
pub fn same_shape(a: &ast::Expr, b: &ast::Expr) -> bool {
    use ast::ExprKind as K;
    match (&a.kind, &b.kind) {
        (K::Lit(x), K::Lit(y)) => x == y,
        (K::Str(x), K::Str(y)) => {
            x.triple == y.triple
                && x.parts.len() == y.parts.len()
                && x.parts.iter().zip(&y.parts).all(|p| match p {
                    (ast::StrPart::Text(s), ast::StrPart::Text(t)) => s == t,
                    (ast::StrPart::Expr(e), ast::StrPart::Expr(f)) => same_shape(e, f),
                    _ => false,
                })
        }
        (K::Path(x), K::Path(y)) => {
            let root = match (&x.root, &y.root) {
                (ast::PathRoot::Record, ast::PathRoot::Record) => true,
                (ast::PathRoot::Binding(m), ast::PathRoot::Binding(n)) => m.name == n.name,
                _ => false,
            };
            root && x.segments.len() == y.segments.len()
                && x.segments.iter().zip(&y.segments).all(|s| match s {
                    (ast::PathSegment::Field(m), ast::PathSegment::Field(n)) => {
                        same_field_name(m, n)
                    }
                    (ast::PathSegment::Index(e), ast::PathSegment::Index(f)) => same_shape(e, f),
                    _ => false,
                })
        }
        (K::Ident(x), K::Ident(y)) => x.name == y.name,
        (
            K::Unary { op, expr, .. },
            K::Unary {
                op: op2, expr: e2, ..
            },
        ) => op == op2 && same_shape(expr, e2),
        (
            K::Binary { op, lhs, rhs, .. },
            K::Binary {
                op: op2,
                lhs: l2,
                rhs: r2,
                ..
            },
        ) => op == op2 && same_shape(lhs, l2) && same_shape(rhs, r2),
        (
            K::If {
                cond,
                then,
                otherwise,
            },
            K::If {
                cond: c2,
                then: t2,
                otherwise: o2,
            },
        ) => {
            same_shape(cond, c2)
                && same_shape(then, t2)
                && match (otherwise, o2) {
                    (None, None) => true,
                    (Some(e), Some(f)) => same_shape(e, f),
                    _ => false,
                }
        }
        (K::Call { func, args }, K::Call { func: f2, args: a2 }) => {
            func.name == f2.name
                && args.len() == a2.len()
                && args.iter().zip(a2).all(|(x, y)| {
                    x.name.as_ref().map(|n| &n.name) == y.name.as_ref().map(|n| &n.name)
                        && same_shape(&x.value, &y.value)
                })
        }
        (K::List(x), K::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(e, f)| same_shape(e, f))
        }
        (K::Record(x), K::Record(y)) => {
            x.ty.as_ref().map(|t| &t.name) == y.ty.as_ref().map(|t| &t.name)
                && x.entries.len() == y.entries.len()
                && x.entries.iter().zip(&y.entries).all(|e| match e {
                    (ast::RecordEntry::Spread(_), ast::RecordEntry::Spread(_)) => true,
                    (
                        ast::RecordEntry::Field { name, value, .. },
                        ast::RecordEntry::Field {
                            name: n2,
                            value: v2,
                            ..
                        },
                    ) => same_field_name(name, n2) && same_shape(value, v2),
                    _ => false,
                })
        }
        (K::Paren(x), K::Paren(y)) => same_shape(x, y),
        _ => false,
    }
}

fn same_field_name(a: &ast::FieldName, b: &ast::FieldName) -> bool {
    a.name == b.name && a.quoted == b.quoted
}
