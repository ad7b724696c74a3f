//! Comparisons: `==`/`!=` (compatible types, anything against null),
//! `< <= > >=` (numbers, strings, timestamps, dates; optional operands
//! allowed because null compares false) and `in` (an element in a list, a
//! part in a string). A string literal compared with a timestamp or date is
//! checked and converted, so `.at > "2026-01-01T00:00:00Z"` works.

use super::operators::Operand;
use super::{Typer, coerce};
use aqueduct_diagnostics::Span;
use aqueduct_graph::{Expr, Type};
use aqueduct_syntax::ast::BinaryOp;

impl Typer<'_> {
    /// `==`, `!=`: values of compatible types; anything against null.
    pub(super) fn equality(
        &mut self,
        op: BinaryOp,
        op_span: Span,
        l: Operand,
        r: Operand,
    ) -> Option<(Expr, Expr, Type)> {
        let (l, r) = self.time_literals(l, r)?;
        let (lt, rt) = (&l.typed.ty, &r.typed.ty);
        if *lt == Type::Null || *rt == Type::Null || *lt == Type::Json || *rt == Type::Json {
            return Some((l.typed, r.typed, Type::Bool));
        }
        if lt.required().is_numeric() && rt.required().is_numeric() {
            return self
                .numeric(op, op_span, l, r)
                .map(|(a, b, _)| (a, b, Type::Bool));
        }
        if let Some(ty) = coerce::join(lt, rt) {
            // Both sides as the joined type, so lists of `int` and `decimal`
            // compare element by element as decimals.
            return Some((
                coerce::widen(l.typed, &ty),
                coerce::widen(r.typed, &ty),
                Type::Bool,
            ));
        }
        self.operand_error(
            op,
            op_span,
            &l,
            &r,
            "convert one side so both have the same type",
        );
        None
    }

    /// `< <= > >=`: numbers, strings, timestamps, dates; null compares false.
    pub(super) fn ordering(
        &mut self,
        op: BinaryOp,
        op_span: Span,
        l: Operand,
        r: Operand,
    ) -> Option<(Expr, Expr, Type)> {
        let (l, r) = self.time_literals(l, r)?;
        let (lb, rb) = (l.typed.ty.required(), r.typed.ty.required());
        if lb.is_numeric() && rb.is_numeric() {
            return self
                .numeric(op, op_span, l, r)
                .map(|(a, b, _)| (a, b, Type::Bool));
        }
        if lb == rb && matches!(lb, Type::String | Type::Timestamp | Type::Date) {
            return Some((l.typed, r.typed, Type::Bool));
        }
        self.operand_error(
            op,
            op_span,
            &l,
            &r,
            "compare numbers, strings, timestamps or dates of one kind",
        );
        None
    }

    /// `x in list`, `part in text`.
    pub(super) fn membership(
        &mut self,
        op_span: Span,
        l: Operand,
        r: Operand,
    ) -> Option<(Expr, Expr, Type)> {
        let fits = match (l.typed.ty.required(), r.typed.ty.required()) {
            (_, Type::Json) => true,
            (Type::String, Type::String) => true,
            (elem, Type::List(items)) => coerce::join(elem, items).is_some() || *elem == Type::Null,
            _ => false,
        };
        if fits {
            return Some((l.typed, r.typed, Type::Bool));
        }
        self.operand_error(
            BinaryOp::In,
            op_span,
            &l,
            &r,
            "`in` looks for a value in a list, or for text in a string",
        );
        None
    }

    /// A string literal compared with a timestamp or date is checked and
    /// converted, so `.at > "2026-01-01T00:00:00Z"` works.
    pub(super) fn time_literals<'e>(
        &mut self,
        l: Operand<'e>,
        r: Operand<'e>,
    ) -> Option<(Operand<'e>, Operand<'e>)> {
        let convert = |this: &mut Self, side: Operand<'e>, other: &Type| -> Option<Operand<'e>> {
            let target = other.required().clone();
            match this.time_literal(&side.typed, side.ast.span, &target, &"this comparison") {
                Some(e) if Typer::is_error(&e) => None,
                Some(e) => Some(Operand {
                    ast: side.ast,
                    typed: e,
                }),
                None => Some(side),
            }
        };
        let (lt, rt) = (l.typed.ty.clone(), r.typed.ty.clone());
        let l = convert(self, l, &rt)?;
        let r = convert(self, r, &lt)?;
        Some((l, r))
    }
}
