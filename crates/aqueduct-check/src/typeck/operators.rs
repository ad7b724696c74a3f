//! Prefix and infix operators.
//!
//! Null semantics: arithmetic on an optional operand gives an optional
//! result (null propagates); comparisons with null are false, so `< <= > >=`
//! accept optional operands and give `bool`; `==`/`!=` compare anything with
//! null; `and`/`or`/`not` treat null as false. `json` operands are refused
//! except by `==`, `!=`, `??` and on the right of `in`: convert them first.
//! Comparisons and `in` are typed in [`super::comparisons`].

use super::{Scope, Typer, coerce, narrowing, paths};
use aqueduct_diagnostics::{Diagnostic, Span, codes};
use aqueduct_graph::{self as graph, Expr, ExprKind, Type, Value};
use aqueduct_syntax::ast::{self, BinaryOp, UnaryOp};

/// A typed operand with the span it was written at.
pub(super) struct Operand<'e> {
    pub(super) ast: &'e ast::Expr,
    pub(super) typed: Expr,
}

impl Typer<'_> {
    /// `-x`, `not x`.
    pub(super) fn unary(
        &mut self,
        op: UnaryOp,
        op_span: Span,
        operand: &ast::Expr,
        scope: &Scope,
    ) -> Expr {
        let typed = self.expr(operand, scope);
        if Typer::is_error(&typed) {
            return typed;
        }
        let (graph_op, ty) = match op {
            UnaryOp::Neg if typed.ty.is_numeric() => (graph::UnaryOp::Neg, typed.ty.clone()),
            UnaryOp::Not if narrowing::is_boolish(&typed.ty) => (graph::UnaryOp::Not, Type::Bool),
            _ => {
                let (symbol, needs) = match op {
                    UnaryOp::Neg => ("-", "a number"),
                    UnaryOp::Not => ("not", "`bool`"),
                };
                self.diags.push(
                    Diagnostic::error(
                        codes::AQ0606,
                        format!("`{symbol}` needs {needs}, found `{}`", typed.ty),
                    )
                    .with_primary(self.file, operand.span, format!("this is `{}`", typed.ty))
                    .with_context(self.file, op_span, "this operator")
                    .with_help(unary_help(op, &typed.ty)),
                );
                return Typer::error_expr();
            }
        };
        Expr {
            kind: ExprKind::Unary {
                op: graph_op,
                expr: Box::new(typed),
            },
            ty,
        }
    }

    /// `a OP b`.
    pub(super) fn binary(
        &mut self,
        op: BinaryOp,
        op_span: Span,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        scope: &Scope,
    ) -> Expr {
        let l = Operand {
            ast: lhs,
            typed: self.expr(lhs, scope),
        };
        // `and`/`or` short-circuit, so the right side knows what the left proved.
        let rhs_scope = match op {
            BinaryOp::And => scope.narrowed(narrowing::facts(lhs, true)),
            BinaryOp::Or => scope.narrowed(narrowing::facts(lhs, false)),
            _ => scope.clone(),
        };
        let r = Operand {
            ast: rhs,
            typed: self.expr(rhs, &rhs_scope),
        };
        if Typer::is_error(&l.typed) || Typer::is_error(&r.typed) {
            // Reported already. Logic, comparisons and `in` give `bool`
            // whatever their operands, which keeps the caller quiet.
            if !op_gives_bool(op) {
                return Typer::error_expr();
            }
            let kind = ExprKind::Binary {
                op: graph_op(op),
                lhs: Box::new(l.typed),
                rhs: Box::new(r.typed),
            };
            return Expr {
                kind,
                ty: Type::Bool,
            };
        }
        let result = match op {
            BinaryOp::And | BinaryOp::Or => self.logic(op, op_span, l, r),
            BinaryOp::Coalesce => return self.coalesce(op_span, l, r),
            BinaryOp::Eq | BinaryOp::Ne => self.equality(op, op_span, l, r),
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                self.ordering(op, op_span, l, r)
            }
            BinaryOp::In => self.membership(op_span, l, r),
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
                self.arithmetic(op, op_span, l, r)
            }
        };
        match result {
            Some((lhs, rhs, ty)) => {
                let kind = ExprKind::Binary {
                    op: graph_op(op),
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                };
                Expr { kind, ty }
            }
            // Reported already; a `bool` result keeps the caller quiet.
            None if op_gives_bool(op) => Expr {
                kind: ExprKind::Lit(Value::Null),
                ty: Type::Bool,
            },
            None => Typer::error_expr(),
        }
    }

    /// `and`, `or`: `bool` or `bool?` operands.
    fn logic(
        &mut self,
        op: BinaryOp,
        op_span: Span,
        l: Operand,
        r: Operand,
    ) -> Option<(Expr, Expr, Type)> {
        for side in [&l, &r] {
            if !narrowing::is_boolish(&side.typed.ty) {
                let ty = &side.typed.ty;
                self.diags.push(
                    Diagnostic::error(
                        codes::AQ0606,
                        format!("`{}` needs `bool` operands, found `{ty}`", op.symbol()),
                    )
                    .with_primary(self.file, side.ast.span, format!("this is `{ty}`"))
                    .with_context(self.file, op_span, "this operator")
                    .with_help(
                        "compare the value to get a `bool`, e.g. `… != null` or `… == \"x\"`",
                    ),
                );
                return None;
            }
        }
        Some((l.typed, r.typed, Type::Bool))
    }

    /// `a ?? b`: the fallback when `a` is null.
    fn coalesce(&mut self, op_span: Span, l: Operand, r: Operand) -> Expr {
        if !l.typed.ty.is_optional() {
            let subject =
                paths::show(l.ast).map_or_else(|| "this value".to_string(), |p| format!("`{p}`"));
            self.diags.push(
                Diagnostic::warning(
                    codes::AQ0609,
                    format!("{subject} is never null, so the fallback after `??` is never used"),
                )
                .with_primary(
                    self.file,
                    l.ast.span,
                    format!("this is `{}`, never null", l.typed.ty),
                )
                .with_context(self.file, r.ast.span, "never used")
                .with_help("remove `?? …`"),
            );
            // Typed as the left side alone, which is what it computes.
            return l.typed;
        }
        let inner = match &l.typed.ty {
            Type::Null => return r.typed,
            other => other.required().clone(),
        };
        let Some(ty) = coerce::join(&inner, &r.typed.ty) else {
            self.diags.push(
                Diagnostic::error(
                    codes::AQ0601,
                    format!(
                        "the fallback after `??` must be `{inner}`, found `{}`",
                        r.typed.ty
                    ),
                )
                .with_primary(self.file, r.ast.span, format!("this is `{}`", r.typed.ty))
                .with_context(self.file, l.ast.span, format!("this is `{}`", l.typed.ty))
                .with_context(self.file, op_span, "null fallback")
                .with_help(
                    coerce::conversion_help(&r.typed.ty, &inner)
                        .unwrap_or_else(|| format!("give a fallback of type `{inner}`")),
                ),
            );
            return Typer::error_expr();
        };
        let lhs = coerce::widen(l.typed, &ty.clone().optional());
        let rhs = coerce::widen(r.typed, &ty);
        Expr {
            kind: ExprKind::Binary {
                op: graph::BinaryOp::Coalesce,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
            ty,
        }
    }

    /// `+ - * / %`.
    fn arithmetic(
        &mut self,
        op: BinaryOp,
        op_span: Span,
        l: Operand,
        r: Operand,
    ) -> Option<(Expr, Expr, Type)> {
        let (lb, rb) = (l.typed.ty.required().clone(), r.typed.ty.required().clone());
        let optional = coerce::nullable(&l.typed.ty) || coerce::nullable(&r.typed.ty);
        let wrap = |ty: Type| if optional { ty.optional() } else { ty };
        if lb.is_numeric() && rb.is_numeric() {
            return self
                .numeric(op, op_span, l, r)
                .map(|(a, b, ty)| (a, b, wrap(ty)));
        }
        let ty = match (op, &lb, &rb) {
            (BinaryOp::Add, Type::String, Type::String) => Type::String,
            (BinaryOp::Add | BinaryOp::Sub, Type::Timestamp, Type::Duration) => Type::Timestamp,
            (BinaryOp::Add, Type::Duration, Type::Timestamp) => Type::Timestamp,
            _ => {
                let help = if lb == Type::Json || rb == Type::Json {
                    "convert json values first, e.g. with `to_decimal(…)` or `to_string(…)`"
                } else if lb == Type::Null || rb == Type::Null {
                    "`null` has no value to compute with; give a fallback with `??`"
                } else if op == BinaryOp::Add && (lb == Type::String || rb == Type::String) {
                    "build text with interpolation instead: `\"{.a}{.b}\"`"
                } else {
                    "arithmetic works on numbers; timestamps take `+`/`-` with a duration"
                };
                self.operand_error(op, op_span, &l, &r, help);
                return None;
            }
        };
        Some((l.typed, r.typed, wrap(ty)))
    }

    /// Brings two numeric operands to one type: `int` widens to `decimal` or
    /// `float`; `decimal` with `float` is refused (precision would be lost).
    pub(super) fn numeric(
        &mut self,
        op: BinaryOp,
        op_span: Span,
        l: Operand,
        r: Operand,
    ) -> Option<(Expr, Expr, Type)> {
        let (lb, rb) = (l.typed.ty.required(), r.typed.ty.required());
        let float_literal = (*lb == Type::Float && coerce::is_decimal_literal(&r.typed))
            || (*rb == Type::Float && coerce::is_decimal_literal(&l.typed));
        let Some(base) = (if float_literal {
            Some(Type::Float)
        } else {
            coerce::join(lb, rb)
        }) else {
            self.operand_error(
                op,
                op_span,
                &l,
                &r,
                "convert one side with `to_decimal(…)` or `to_float(…)`",
            );
            return None;
        };
        let lhs = widen_base(l.typed, &base);
        let rhs = widen_base(r.typed, &base);
        Some((lhs, rhs, base))
    }

    /// AQ0606 naming both operand types.
    pub(super) fn operand_error(
        &mut self,
        op: BinaryOp,
        op_span: Span,
        l: &Operand,
        r: &Operand,
        help: &str,
    ) {
        let (lt, rt) = (&l.typed.ty, &r.typed.ty);
        self.diags.push(
            Diagnostic::error(
                codes::AQ0606,
                format!("`{}` does not apply to `{lt}` and `{rt}`", op.symbol()),
            )
            .with_primary(self.file, op_span, "this operator")
            .with_context(self.file, l.ast.span, format!("this is `{lt}`"))
            .with_context(self.file, r.ast.span, format!("this is `{rt}`"))
            .with_help(help),
        );
    }
}

/// `expr` converted to the numeric `base`, keeping its optional marker.
fn widen_base(expr: Expr, base: &Type) -> Expr {
    let to = if coerce::nullable(&expr.ty) {
        base.clone().optional()
    } else {
        base.clone()
    };
    coerce::widen(expr, &to)
}

/// True for the operators whose result is `bool` whatever their operands.
fn op_gives_bool(op: BinaryOp) -> bool {
    !matches!(
        op,
        BinaryOp::Coalesce
            | BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Rem
    )
}

/// The IR operator for a syntax operator.
fn graph_op(op: BinaryOp) -> graph::BinaryOp {
    match op {
        BinaryOp::Or => graph::BinaryOp::Or,
        BinaryOp::And => graph::BinaryOp::And,
        BinaryOp::Eq => graph::BinaryOp::Eq,
        BinaryOp::Ne => graph::BinaryOp::Ne,
        BinaryOp::Lt => graph::BinaryOp::Lt,
        BinaryOp::Le => graph::BinaryOp::Le,
        BinaryOp::Gt => graph::BinaryOp::Gt,
        BinaryOp::Ge => graph::BinaryOp::Ge,
        BinaryOp::In => graph::BinaryOp::In,
        BinaryOp::Coalesce => graph::BinaryOp::Coalesce,
        BinaryOp::Add => graph::BinaryOp::Add,
        BinaryOp::Sub => graph::BinaryOp::Sub,
        BinaryOp::Mul => graph::BinaryOp::Mul,
        BinaryOp::Div => graph::BinaryOp::Div,
        BinaryOp::Rem => graph::BinaryOp::Rem,
    }
}

/// The help line of AQ0606 for a prefix operator applied to `ty`.
fn unary_help(op: UnaryOp, ty: &Type) -> &'static str {
    match (op, ty.required()) {
        (UnaryOp::Neg, Type::String | Type::Json) => {
            "convert it to a number first, e.g. `-to_decimal(…)` or `-to_int(…)`"
        }
        (UnaryOp::Neg, _) => "`-` negates `int`, `decimal` and `float` values",
        (UnaryOp::Not, Type::Int | Type::Decimal | Type::Float) => {
            "compare it to get a `bool`, e.g. `not (… > 0)` or `… == 0`"
        }
        (UnaryOp::Not, Type::String) => {
            "compare it to get a `bool`, e.g. `… == \"\"` or `… != \"yes\"`"
        }
        (UnaryOp::Not, _) => "compare it to get a `bool`, e.g. `… == null`",
    }
}
