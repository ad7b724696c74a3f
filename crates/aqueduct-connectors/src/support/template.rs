//! Per-record templates: arguments such as `"/orders/{.id}"` or a lookup's
//! `"select … where id = {.id}"`, evaluated against each record.
//!
//! The checker hands a template as an [`ExprKind::Interpolate`] of literal
//! pieces and expressions; each expression is compiled once with the
//! runtime's expression compiler and evaluated per record (a connector sees
//! the record only, so `$name` bindings read as null).

use crate::support::args::constant_string;
use aqueduct_graph::{Expr, ExprKind};
use aqueduct_runtime::expr::{Compiled, compile};
use aqueduct_runtime::value::{Schemas, Value};
use std::sync::Arc;

fn eval(expr: &Compiled, record: &Value) -> Result<Value, String> {
    expr.eval_record(record).map_err(|e| e.message)
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Expr(Arc<Compiled>),
}

impl Template {
    /// The template an argument expression describes.
    pub fn new(expr: &Expr, schemas: &Arc<Schemas>) -> Result<Template, String> {
        let parts: Vec<&Expr> = match &expr.kind {
            ExprKind::Interpolate(parts) => parts.iter().collect(),
            _ => vec![expr],
        };
        let mut pieces = Vec::new();
        for part in parts {
            if let Some(text) = constant_string(part) {
                pieces.push(Piece::Text(text));
            } else {
                pieces.push(Piece::Expr(Arc::new(compile(part, schemas))));
            }
        }
        Ok(Template { pieces })
    }

    /// The text for `record`; each interpolated value is rendered as text
    /// (null is empty) and passed through `escape`.
    pub fn render(
        &self,
        record: &Value,
        escape: impl Fn(&str) -> String,
    ) -> Result<String, String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Expr(e) => out.push_str(&escape(&eval(e, record)?.to_text())),
            }
        }
        Ok(out)
    }

    /// The text with each interpolation replaced by `placeholder(n)` (n from
    /// 0), and the interpolated values in order: for bind parameters.
    pub fn with_params(
        &self,
        record: &Value,
        placeholder: impl Fn(usize) -> String,
    ) -> Result<(String, Vec<Value>), String> {
        let mut out = String::new();
        let mut values = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Expr(e) => {
                    out.push_str(&placeholder(values.len()));
                    values.push(eval(e, record)?);
                }
            }
        }
        Ok((out, values))
    }

    /// The text with placeholders only (values are not needed).
    pub fn shape(&self, placeholder: impl Fn(usize) -> String) -> String {
        let mut out = String::new();
        let mut n = 0;
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Expr(_) => {
                    out.push_str(&placeholder(n));
                    n += 1;
                }
            }
        }
        out
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters: an
/// interpolated value stays one path segment (`a/b` becomes `a%2Fb`).
pub fn encode_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_path_segments() {
        assert_eq!(encode_path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(encode_path_segment("é"), "%C3%A9");
    }
}
