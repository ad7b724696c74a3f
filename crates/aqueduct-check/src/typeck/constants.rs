//! Constant evaluation: test records (`given`, `expect`) and stub answers.
//!
//! Literals, lists, records, negated numbers and plain strings are constants;
//! paths, calls, operators and interpolation are not (AQ0601). Values are
//! converted to the expected type the way expressions are: an int literal
//! for a `decimal` field becomes `Value::Decimal`, a string for a
//! `timestamp` field is checked and becomes `Value::Timestamp`. Record
//! fields left out are null when optional (AQ0605 when required).

use super::records::Wording;
use super::{Place, Typer, coerce, literal_value};
use aqueduct_diagnostics::{Diagnostic, codes};
use aqueduct_graph::{Expr, ExprKind, Type, Value};
use aqueduct_syntax::ast;
use std::fmt;

impl Typer<'_> {
    /// [`Typer::constant`]; `what` names the place in messages.
    pub(super) fn const_value(
        &mut self,
        expr: &ast::Expr,
        expected: Option<&Type>,
        what: &dyn fmt::Display,
    ) -> Option<Value> {
        match &expr.kind {
            ast::ExprKind::Paren(inner) => self.const_value(inner, expected, what),
            ast::ExprKind::Lit(lit) => {
                let (value, ty) = literal_value(lit);
                self.const_fit(value, &ty, expr, expected, what)
            }
            ast::ExprKind::Str(s) => match s.as_plain() {
                Some(text) => {
                    self.const_fit(Value::String(text), &Type::String, expr, expected, what)
                }
                None => self.not_constant(expr),
            },
            ast::ExprKind::Unary {
                op: ast::UnaryOp::Neg,
                expr: inner,
                ..
            } => match negate(inner) {
                Some((value, ty)) => self.const_fit(value, &ty, expr, expected, what),
                None => self.not_constant(expr),
            },
            ast::ExprKind::List(items) => {
                let elem = match expected.map(Type::required) {
                    None => None,
                    Some(Type::List(elem)) => Some(elem.as_ref()),
                    Some(Type::Json) => Some(&Type::Json),
                    Some(other) => return self.shape_mismatch(expr, other, what, "a list"),
                };
                let what = Place::ElementOf(what);
                let values: Vec<Option<Value>> = items
                    .iter()
                    .map(|e| self.const_value(e, elem, &what))
                    .collect();
                values
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(Value::List)
            }
            ast::ExprKind::Record(lit) => self.const_record(lit, expr, expected, what),
            _ => self.not_constant(expr),
        }
    }

    /// A record constant: typed when written or expected, else an object.
    fn const_record(
        &mut self,
        lit: &ast::RecordLit,
        expr: &ast::Expr,
        expected: Option<&Type>,
        what: &dyn fmt::Display,
    ) -> Option<Value> {
        let expected_name = match expected.map(Type::required) {
            None | Some(Type::Json) => None,
            Some(Type::Record(name)) => Some(name.as_str()),
            Some(other) => return self.shape_mismatch(expr, other, what, "a record"),
        };
        if let Some(span) = lit.entries.iter().find_map(|e| match e {
            ast::RecordEntry::Spread(span) => Some(*span),
            ast::RecordEntry::Field { .. } => None,
        }) {
            self.diags.push(
                Diagnostic::error(
                    codes::AQ0805,
                    "test values must be constants, and `...` copies from a record",
                )
                .with_primary(self.file, span, "not a constant")
                .with_help("write every field of the test record explicitly"),
            );
            return None;
        }
        if lit.ty.is_none() && expected_name.is_none() {
            return self.const_object(lit);
        }
        let name = self.record_name(lit, expected_name)?;
        if expected_name.is_some_and(|e| e != name) {
            return None; // reported by `record_name`
        }
        let env = self.env;
        let rt = env.records.get(&name)?;
        let slots = self.sort_entries(rt, lit);
        let mut fields = Vec::with_capacity(rt.fields.len());
        let mut missing = Vec::new();
        let mut ok = slots.extras.is_empty();
        for (field, value) in rt.fields.iter().zip(&slots.values) {
            let value = match value {
                Some(value) => {
                    let what = Place::FieldOf(&field.name, &rt.name);
                    self.const_value(value, Some(&field.ty), &what)
                }
                None if field.ty.is_optional() => Some(Value::Null),
                None => {
                    missing.push(field.name.as_str());
                    None
                }
            };
            ok &= value.is_some();
            fields.push(value.unwrap_or(Value::Null));
        }
        self.missing_fields(rt, &missing, lit, Wording::Literal, Vec::new());
        ok.then_some(Value::Record { ty: name, fields })
    }

    /// `{ a = 1 }` without a type: a json object.
    fn const_object(&mut self, lit: &ast::RecordLit) -> Option<Value> {
        let mut fields: Vec<(String, Value)> = Vec::new();
        let mut seen: Vec<(&str, aqueduct_diagnostics::Span)> = Vec::new();
        let mut ok = true;
        for entry in &lit.entries {
            if let ast::RecordEntry::Field { name, value, .. } = entry {
                let value = self.const_value(value, None, &Place::Field(&name.name));
                if let Some((_, earlier)) = seen.iter().find(|(n, _)| *n == name.name) {
                    self.duplicate(&name.name, name.span, *earlier);
                    ok = false;
                    continue;
                }
                seen.push((&name.name, name.span));
                ok &= value.is_some();
                fields.push((name.name.clone(), value.unwrap_or(Value::Null)));
            }
        }
        ok.then_some(Value::Object(fields))
    }

    /// Fits a literal `value` of type `ty` to `expected`, converting it.
    fn const_fit(
        &mut self,
        value: Value,
        ty: &Type,
        expr: &ast::Expr,
        expected: Option<&Type>,
        what: &dyn fmt::Display,
    ) -> Option<Value> {
        let Some(expected) = expected else {
            return Some(value);
        };
        let typed = Expr {
            kind: ExprKind::Lit(value),
            ty: ty.clone(),
        };
        if let Some(checked) = self.time_literal(&typed, expr.span, expected, what) {
            let ExprKind::Lit(Value::String(text)) = typed.kind else {
                return None;
            };
            return match expected.required() {
                _ if Typer::is_error(&checked) => None,
                Type::Date => Some(Value::Date(text)),
                _ => Some(Value::Timestamp(text)),
            };
        }
        let ExprKind::Lit(value) = typed.kind else {
            return None;
        };
        match (coerce::fits(ty, expected), value, expected.required()) {
            (coerce::Fit::Convert, Value::Int(i), Type::Decimal) => {
                Some(Value::Decimal(i.to_string()))
            }
            (coerce::Fit::Convert, Value::Int(i), Type::Float) => Some(Value::Float(i as f64)),
            // A decimal literal is the only way to write a fraction, so it
            // also fills `float` places.
            (coerce::Fit::No, Value::Decimal(text), Type::Float) => {
                text.parse().ok().map(Value::Float)
            }
            (coerce::Fit::Same | coerce::Fit::Retype | coerce::Fit::Convert, value, _) => {
                Some(value)
            }
            (coerce::Fit::MayBeNull, _, _) => {
                self.may_be_null(expr, ty, expected, what);
                None
            }
            (coerce::Fit::No, _, _) => {
                self.constant_mismatch(expr.span, expected, ty, what);
                None
            }
        }
    }

    /// AQ0601 for a list or record where `expected` is something else.
    fn shape_mismatch(
        &mut self,
        expr: &ast::Expr,
        expected: &Type,
        what: &dyn fmt::Display,
        found: &str,
    ) -> Option<Value> {
        self.diags.push(
            Diagnostic::error(
                codes::AQ0601,
                format!("expected `{expected}` for {what}, found {found}"),
            )
            .with_primary(self.file, expr.span, format!("this is {found}"))
            .with_help(format!(
                "write a value of type `{}` here",
                expected.required()
            )),
        );
        None
    }

    /// AQ0805 for a part of a test value that is computed.
    fn not_constant(&mut self, expr: &ast::Expr) -> Option<Value> {
        self.diags.push(
            Diagnostic::error(codes::AQ0805, "test values must be constants")
                .with_primary(self.file, expr.span, "computed, not a constant")
                .with_help(
                    "write the value itself, e.g. `\"2026-01-01T00:00:00Z\"`, `12.50` or `[1, 2]`",
                ),
        );
        None
    }
}

/// `-literal` as a value.
fn negate(expr: &ast::Expr) -> Option<(Value, Type)> {
    match &expr.kind {
        ast::ExprKind::Paren(inner) => negate(inner),
        ast::ExprKind::Lit(ast::Lit::Int { value, .. }) => {
            Some((Value::Int(value.checked_neg()?), Type::Int))
        }
        ast::ExprKind::Lit(ast::Lit::Decimal(text)) => {
            let text = text.replace('_', "");
            let negated = text
                .strip_prefix('-')
                .map_or_else(|| format!("-{text}"), str::to_string);
            Some((Value::Decimal(negated), Type::Decimal))
        }
        _ => None,
    }
}
