//! Assignability: which types fit where, the conversions the checker inserts
//! (`int` → `decimal`/`float`, anything → `json`, string literals →
//! `timestamp`/`date`), unification of two types (`if` branches, lists,
//! `??`), and the mismatch diagnostics AQ0601, AQ0602 and AQ0603.

use super::{Place, Scope, Typer, paths, time};
use aqueduct_diagnostics::{Diagnostic, Span, codes};
use aqueduct_graph::{Expr, ExprKind, Type, Value};
use aqueduct_syntax::ast;
use std::fmt;

/// How a value of one type fits a place of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fit {
    /// The same type.
    Same,
    /// Fits as is; only the recorded type changes (`T` → `T?`, `null` → `T?`).
    Retype,
    /// Fits with a conversion (`int` → `decimal`, `T` → `json`).
    Convert,
    /// Fits except that it may be null and the place may not.
    MayBeNull,
    /// Does not fit.
    No,
}

/// How a value of type `from` fits a place of type `to`.
pub(super) fn fits(from: &Type, to: &Type) -> Fit {
    if from == to {
        return Fit::Same;
    }
    if Typer::mentions_unknown(from) || Typer::mentions_unknown(to) {
        // The unknown part was reported where it was written.
        return Fit::Retype;
    }
    match (from, to) {
        (_, Type::Json) => Fit::Convert,
        (Type::Null, Type::Optional(_)) => Fit::Retype,
        (Type::Null, _) => Fit::MayBeNull,
        (Type::Optional(f), Type::Optional(t)) => fits(f, t),
        (_, Type::Optional(t)) => match fits(from, t) {
            Fit::Same => Fit::Retype,
            other => other,
        },
        // json may hold anything: reading it as a typed value is a conversion
        // the user writes (`to_int(…)`), so it never fits implicitly.
        (Type::Json, _) => Fit::No,
        (Type::Optional(f), _) => match fits(f, to) {
            Fit::Same | Fit::Retype | Fit::Convert => Fit::MayBeNull,
            other => other,
        },
        (Type::Int, Type::Decimal | Type::Float) => Fit::Convert,
        // `[]` has no element type yet: it fits any list.
        (Type::List(f), Type::List(_)) if **f == Type::Null => Fit::Retype,
        (Type::List(f), Type::List(t)) => match fits(f, t) {
            Fit::Same => Fit::Same,
            Fit::Retype | Fit::Convert => Fit::Convert,
            Fit::MayBeNull | Fit::No => Fit::No,
        },
        _ => Fit::No,
    }
}

/// The smallest type both `a` and `b` fit without losing null or precision:
/// `T` & `null` → `T?`, `int` & `decimal` → `decimal`, anything & `json` → `json`.
pub(super) fn join(a: &Type, b: &Type) -> Option<Type> {
    if a == b {
        return Some(a.clone());
    }
    if Typer::mentions_unknown(a) {
        return Some(b.clone());
    }
    if Typer::mentions_unknown(b) {
        return Some(a.clone());
    }
    match (a, b) {
        (Type::Json, _) | (_, Type::Json) => Some(Type::Json),
        (Type::Null, t) | (t, Type::Null) => Some(t.clone().optional()),
        (Type::Optional(x), y) | (y, Type::Optional(x)) => {
            join(x, y.required()).map(Type::optional)
        }
        (Type::Int, Type::Decimal) | (Type::Decimal, Type::Int) => Some(Type::Decimal),
        (Type::Int, Type::Float) | (Type::Float, Type::Int) => Some(Type::Float),
        (Type::List(x), list @ Type::List(_)) | (list @ Type::List(_), Type::List(x))
            if **x == Type::Null =>
        {
            Some(list.clone())
        }
        (Type::List(x), Type::List(y)) => join(x, y).map(|t| Type::List(Box::new(t))),
        _ => None,
    }
}

/// `expr` as a value of `to`, which it must fit (`Same`, `Retype` or
/// `Convert`; see [`join`]). A [`ExprKind::Convert`] always has `to` as its
/// own type; converting null gives null.
pub(super) fn widen(expr: Expr, to: &Type) -> Expr {
    match fits(&expr.ty, to) {
        Fit::Same => expr,
        Fit::Retype => Expr {
            kind: expr.kind,
            ty: to.clone(),
        },
        _ if Typer::is_error(&expr) => expr,
        _ => Expr {
            kind: ExprKind::Convert {
                to: to.clone(),
                expr: Box::new(expr),
            },
            ty: to.clone(),
        },
    }
}

/// True when a value of `ty` may be null (`T?` or `null`; `json` is left out
/// because it is handled as its own type).
pub(super) fn nullable(ty: &Type) -> bool {
    matches!(ty, Type::Optional(_) | Type::Null)
}

/// The conversion to suggest when `found` is given where `expected` is needed.
pub(super) fn conversion_help(found: &Type, expected: &Type) -> Option<String> {
    let text = match (found.required(), expected.required()) {
        (Type::Json, Type::String) => "convert it with `to_string(…)`",
        (Type::Json, Type::Int) => {
            "convert it with `to_int(…)`, which gives null when it is not a number"
        }
        (Type::Json, Type::Decimal) => {
            "convert it with `to_decimal(…)`, which gives null when it is not a number"
        }
        (Type::Json, _) => {
            "read a json value through a conversion such as `to_string(…)`, `to_int(…)` or `to_decimal(…)`"
        }
        (_, Type::String) => {
            "convert it with `to_string(…)`, or write it inside a string: `\"{…}\"`"
        }
        (Type::String, Type::Int) => {
            "convert it with `to_int(…)`, which gives null when the text is not a number"
        }
        (Type::String | Type::Float, Type::Decimal) => {
            "convert it with `to_decimal(…)`, which gives null when it is not a number"
        }
        (Type::String | Type::Decimal, Type::Float) => "convert it with `to_float(…)`",
        (Type::Decimal | Type::Float, Type::Int) => {
            "convert it with `to_int(…)`, or `round(…)` it first"
        }
        (Type::String, Type::Timestamp) => {
            "parse it with `parse_timestamp(…)`, which gives null when the text is not a timestamp"
        }
        _ => return None,
    };
    Some(text.to_string())
}

/// A value of `ty` as written in a test, for help text.
fn example_value(ty: &Type) -> &'static str {
    match ty.required() {
        Type::String => "\"text\"",
        Type::Int => "42",
        Type::Decimal | Type::Float => "12.50",
        Type::Bool => "true",
        Type::Timestamp => "\"2026-01-31T08:00:00Z\"",
        Type::Date => "\"2026-01-31\"",
        Type::List(_) => "[…]",
        Type::Record(_) => "Type { field = … }",
        _ => "…",
    }
}

/// A fallback value of `ty` to show in help text.
fn example_fallback(ty: &Type) -> &'static str {
    match ty.required() {
        Type::String => "\"unknown\"",
        Type::Int => "0",
        Type::Decimal | Type::Float => "0.0",
        Type::Bool => "false",
        Type::List(_) => "[]",
        _ => "…",
    }
}

impl Typer<'_> {
    /// [`Typer::expect`]: pushes the expected type into record and list
    /// literals, so their own fields are checked in place.
    pub(super) fn expect_expr(
        &mut self,
        expr: &ast::Expr,
        scope: &Scope,
        expected: &Type,
        what: &dyn fmt::Display,
    ) -> Expr {
        match (&expr.kind, expected.required()) {
            (ast::ExprKind::Paren(inner), _) => self.expect_expr(inner, scope, expected, what),
            (ast::ExprKind::Record(lit), Type::Record(name)) => {
                let typed = self.record(lit, scope, Some(name));
                if typed.ty.required() != expected.required() {
                    // A literal of another record type: reported by `record`.
                    return Typer::error_expr();
                }
                self.coerce(typed, expr, expected, what)
            }
            (ast::ExprKind::List(items), Type::List(elem)) => {
                let what = Place::ElementOf(what);
                let fields = items
                    .iter()
                    .map(|e| self.expect_expr(e, scope, elem, &what))
                    .collect();
                let typed = Expr {
                    kind: ExprKind::List(fields),
                    ty: Type::List(elem.clone()),
                };
                widen(typed, expected)
            }
            _ => {
                let typed = self.expr(expr, scope);
                self.coerce(typed, expr, expected, what)
            }
        }
    }

    /// Fits the typed `value` (written as `expr`) to `expected`, reporting
    /// AQ0601/AQ0603 when it does not fit.
    pub(super) fn coerce(
        &mut self,
        value: Expr,
        expr: &ast::Expr,
        expected: &Type,
        what: &dyn fmt::Display,
    ) -> Expr {
        if Typer::is_error(&value) {
            return value;
        }
        if let Some(converted) = self.time_literal(&value, expr.span, expected, what) {
            return converted;
        }
        if is_decimal_literal(&value) && *expected.required() == Type::Float {
            return widen(value, expected);
        }
        match fits(&value.ty, expected) {
            Fit::Same | Fit::Retype | Fit::Convert => widen(value, expected),
            Fit::MayBeNull => {
                self.may_be_null(expr, &value.ty, expected, what);
                Typer::error_expr()
            }
            Fit::No => {
                self.mismatch(expr.span, expected, &value.ty, what);
                Typer::error_expr()
            }
        }
    }

    /// A string literal used as a timestamp or date: checked now and
    /// converted (`None` when `value` is not such a literal).
    pub(super) fn time_literal(
        &mut self,
        value: &Expr,
        span: Span,
        expected: &Type,
        what: &dyn fmt::Display,
    ) -> Option<Expr> {
        let ExprKind::Lit(Value::String(text)) = &value.kind else {
            return None;
        };
        let checked = match expected.required() {
            Type::Timestamp => time::check_timestamp(text),
            Type::Date => time::check_date(text),
            _ => return None,
        };
        match checked {
            Ok(()) => Some(widen_literal(value.clone(), expected)),
            Err(why) => {
                let kind = expected.required();
                self.diags.push(
                    Diagnostic::error(
                        codes::AQ0601,
                        format!("`\"{text}\"` is not a valid {kind} for {what}: {why}"),
                    )
                    .with_primary(self.file, span, format!("not a {kind}"))
                    .with_help(match kind {
                        Type::Date => "write a date as `\"2026-01-31\"`",
                        _ => "write a timestamp in RFC 3339 form, e.g. `\"2026-01-31T08:00:00Z\"`",
                    }),
                );
                Some(Typer::error_expr())
            }
        }
    }

    /// AQ0601: `found` where `expected` is needed.
    pub(super) fn mismatch(
        &mut self,
        span: Span,
        expected: &Type,
        found: &Type,
        what: &dyn fmt::Display,
    ) {
        let help = conversion_help(found, expected)
            .unwrap_or_else(|| format!("write a value of type `{expected}` here"));
        self.diags.push(
            Diagnostic::error(
                codes::AQ0601,
                format!("expected `{expected}` for {what}, found `{found}`"),
            )
            .with_primary(self.file, span, format!("this is `{found}`"))
            .with_help(help),
        );
    }

    /// AQ0601 for a constant (a test value) of the wrong type: no conversion
    /// function applies there, so the help shows a value to write.
    pub(super) fn constant_mismatch(
        &mut self,
        span: Span,
        expected: &Type,
        found: &Type,
        what: &dyn fmt::Display,
    ) {
        self.diags.push(
            Diagnostic::error(
                codes::AQ0601,
                format!("expected `{expected}` for {what}, found `{found}`"),
            )
            .with_primary(self.file, span, format!("this is `{found}`"))
            .with_help(format!(
                "write a value of type `{}`, e.g. `{}`",
                expected.required(),
                example_value(expected)
            )),
        );
    }

    /// AQ0603: a value that may be null given to a place that may not.
    pub(super) fn may_be_null(
        &mut self,
        expr: &ast::Expr,
        found: &Type,
        expected: &Type,
        what: &dyn fmt::Display,
    ) {
        let shown = paths::show(expr);
        let subject = shown
            .as_deref()
            .map_or_else(|| "this value".to_string(), |s| format!("`{s}`"));
        let message = if *found == Type::Null {
            format!("{what} is required, so it cannot be `null`")
        } else {
            format!("{subject} may be null but {what} is required")
        };
        let fallback = example_fallback(expected);
        let help = match shown.as_deref() {
            _ if *found == Type::Null => format!("give it a value such as `{fallback}`"),
            // A list element is not a fixed place: `where` cannot narrow it.
            Some(p) if p.contains('[') => format!("give a fallback with `{p} ?? {fallback}`"),
            Some(p) if p.starts_with('.') || p.starts_with('$') => {
                format!(
                    "give a fallback with `{p} ?? {fallback}`, or filter with `where {p} != null` before"
                )
            }
            _ => format!("give a fallback with `?? {fallback}`"),
        };
        self.diags.push(
            Diagnostic::error(codes::AQ0603, message)
                .with_primary(self.file, expr.span, format!("this is `{found}`"))
                .with_help(help),
        );
    }

    /// [`Typer::condition`].
    pub(super) fn condition_expr(&mut self, expr: &ast::Expr, scope: &Scope) -> Expr {
        let typed = self.expr(expr, scope);
        if Typer::is_error(&typed) || *typed.ty.required() == Type::Bool {
            return typed;
        }
        let help = if typed.ty == Type::Json {
            let p = paths::show(expr).unwrap_or_else(|| "…".to_string());
            format!("a json value may hold anything: compare it, e.g. `{p} == true`")
        } else if nullable(&typed.ty) {
            match paths::show(expr) {
                Some(p) => format!("to test for a value, write `{p} != null`"),
                None => "to test for a value, compare it with `!= null`".to_string(),
            }
        } else {
            match typed.ty {
                Type::String => "compare it, e.g. `… != \"\"` or `… == \"yes\"`".to_string(),
                Type::Int | Type::Decimal | Type::Float => "compare it, e.g. `… > 0`".to_string(),
                _ => "write a comparison such as `… == …`".to_string(),
            }
        };
        self.diags.push(
            Diagnostic::error(
                codes::AQ0602,
                format!("a condition must be `bool`, found `{}`", typed.ty),
            )
            .with_primary(self.file, expr.span, format!("this is `{}`", typed.ty))
            .with_help(help),
        );
        Typer::error_expr()
    }
}

/// True for a decimal literal (`1.5`, `-1.5`): the only way to write a
/// fraction, so it also fits `float` places.
pub(super) fn is_decimal_literal(expr: &Expr) -> bool {
    match &expr.kind {
        ExprKind::Lit(Value::Decimal(_)) => true,
        ExprKind::Unary { expr, .. } => is_decimal_literal(expr),
        _ => false,
    }
}

/// A checked string literal as a timestamp/date (`expected`, optional or not).
fn widen_literal(value: Expr, expected: &Type) -> Expr {
    Expr {
        kind: ExprKind::Convert {
            to: expected.clone(),
            expr: Box::new(value),
        },
        ty: expected.clone(),
    }
}
