//! Null narrowing and `if` expressions.
//!
//! A condition proves paths non-null when it holds (or when it fails):
//!
//! | condition | true proves | false proves |
//! |---|---|---|
//! | `p != null`, `null != p` | `p` | — |
//! | `p == null` | — | `p` |
//! | `p < x` (any ordering), `p == "lit"` | `p` (null compares false) | — |
//! | `a and b` | both sides' facts | — |
//! | `a or b` | — | both sides' false facts |
//! | `not a` | `a`'s false facts | `a`'s true facts |
//!
//! The then-branch of an `if` sees the true facts, the else-branch the
//! false facts; the right side of `and` sees the left's true facts, the
//! right side of `or` the left's false facts (both short-circuit).

use super::{Scope, Typer, coerce, paths};
use aqueduct_diagnostics::{Diagnostic, codes};
use aqueduct_graph::{Expr, ExprKind, Type};
use aqueduct_syntax::ast::{self, BinaryOp, UnaryOp};

/// Path keys proven non-null when `cond` evaluates to `holds`.
pub(super) fn facts(cond: &ast::Expr, holds: bool) -> Vec<String> {
    let mut out = Vec::new();
    collect(cond, holds, &mut out);
    out.sort();
    out.dedup();
    out
}

fn collect(cond: &ast::Expr, holds: bool, out: &mut Vec<String>) {
    match &cond.kind {
        ast::ExprKind::Paren(inner) => collect(inner, holds, out),
        ast::ExprKind::Unary {
            op: UnaryOp::Not,
            expr,
            ..
        } => collect(expr, !holds, out),
        ast::ExprKind::Binary { op, lhs, rhs, .. } => match (op, holds) {
            (BinaryOp::And, true) | (BinaryOp::Or, false) => {
                collect(lhs, holds, out);
                collect(rhs, holds, out);
            }
            (BinaryOp::Ne, true) | (BinaryOp::Eq, false) => {
                // Only `p != null` says anything about null; `p != q` does not.
                match (key(lhs), key(rhs)) {
                    (Some(k), None) if is_null(rhs) => out.push(k),
                    (None, Some(k)) if is_null(lhs) => out.push(k),
                    _ => {}
                }
            }
            (BinaryOp::Eq, true) => {
                // `p == "x"` holds only when `p` is present; `p == q` may
                // hold with both null.
                match (key(lhs), key(rhs)) {
                    (Some(k), None) if is_value_literal(rhs) => out.push(k),
                    (None, Some(k)) if is_value_literal(lhs) => out.push(k),
                    _ => {}
                }
            }
            (BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge, true) => {
                out.extend(key(lhs));
                out.extend(key(rhs));
            }
            _ => {}
        },
        _ => {}
    }
}

fn key(expr: &ast::Expr) -> Option<String> {
    match &expr.kind {
        ast::ExprKind::Paren(inner) => key(inner),
        ast::ExprKind::Path(path) => paths::path_key(path),
        _ => None,
    }
}

fn is_null(expr: &ast::Expr) -> bool {
    match &expr.kind {
        ast::ExprKind::Paren(inner) => is_null(inner),
        ast::ExprKind::Lit(ast::Lit::Null) => true,
        _ => false,
    }
}

/// A literal that is never null.
fn is_value_literal(expr: &ast::Expr) -> bool {
    match &expr.kind {
        ast::ExprKind::Paren(inner) => is_value_literal(inner),
        ast::ExprKind::Lit(lit) => *lit != ast::Lit::Null,
        ast::ExprKind::Str(_) => true,
        _ => false,
    }
}

impl Typer<'_> {
    /// `if cond { then } else { otherwise }`; without `else` the result is
    /// optional (null when the condition fails).
    pub(super) fn if_expr(
        &mut self,
        cond: &ast::Expr,
        then: &ast::Expr,
        otherwise: Option<&ast::Expr>,
        scope: &Scope,
    ) -> Expr {
        let typed_cond = self.condition_expr(cond, scope);
        let then_typed = self.expr(then, &scope.narrowed(facts(cond, true)));
        let Some(otherwise) = otherwise else {
            if Typer::is_error(&then_typed) {
                return then_typed;
            }
            let ty = then_typed.ty.clone().optional();
            let then_typed = coerce::widen(then_typed, &ty);
            let kind = ExprKind::If {
                cond: Box::new(typed_cond),
                then: Box::new(then_typed),
                otherwise: None,
            };
            return Expr { kind, ty };
        };
        let else_typed = self.expr(otherwise, &scope.narrowed(facts(cond, false)));
        if Typer::is_error(&then_typed) || Typer::is_error(&else_typed) {
            return Typer::error_expr();
        }
        let Some(ty) = coerce::join(&then_typed.ty, &else_typed.ty) else {
            self.diags.push(
                Diagnostic::error(
                    codes::AQ0601,
                    format!(
                        "the branches of `if` have different types: `{}` and `{}`",
                        then_typed.ty, else_typed.ty
                    ),
                )
                .with_primary(
                    self.file,
                    otherwise.span,
                    format!("this is `{}`", else_typed.ty),
                )
                .with_context(self.file, then.span, format!("this is `{}`", then_typed.ty))
                .with_help(
                    coerce::conversion_help(&else_typed.ty, &then_typed.ty)
                        .unwrap_or_else(|| "make both branches give the same type".to_string()),
                ),
            );
            return Typer::error_expr();
        };
        let kind = ExprKind::If {
            cond: Box::new(typed_cond),
            then: Box::new(coerce::widen(then_typed, &ty)),
            otherwise: Some(Box::new(coerce::widen(else_typed, &ty))),
        };
        Expr { kind, ty }
    }
}

/// True when `ty` can be a condition (`bool`, `bool?`); null counts as false.
pub(super) fn is_boolish(ty: &Type) -> bool {
    *ty.required() == Type::Bool
}
