//! The `key` of a resumable `query` source (`postgres`, `mysql`): the rows
//! are read ordered by it and a resume continues after the last key read,
//! so each name must be a field of the declared record type (AQ0206, as a
//! target's `key`) whose type has an order and no null (AQ0413): `int`,
//! `decimal`, `string`, `date` or `timestamp`, not optional.

use crate::flows::FlowChecker;
use crate::typeck::Scope;
use aqueduct_diagnostics::{Diagnostic, codes};
use aqueduct_graph::Type;
use aqueduct_syntax::ast;

/// Whether a key field of type `ty` can order a resumable read.
fn orderable(ty: &Type) -> bool {
    matches!(
        ty,
        Type::Int | Type::Decimal | Type::String | Type::Date | Type::Timestamp
    )
}

impl<'a> FlowChecker<'_, 'a> {
    /// Checks each name of the `key` argument of `call` against `ty`.
    pub(crate) fn check_resume_key(&mut self, label: &str, call: &'a ast::OpCall, ty: &Type) {
        let Some(arg) = call
            .args
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|n| n.name == "key"))
        else {
            return;
        };
        let items: Vec<&ast::Expr> = match &arg.value.kind {
            ast::ExprKind::List(items) => items.iter().collect(),
            _ => vec![&arg.value],
        };
        let Type::Record(name) = ty.required() else {
            return;
        };
        let Some(record) = self.env.records.get(name.as_str()).cloned() else {
            return;
        };
        let scope = Scope {
            current: Some(ty.clone()),
            ..Scope::default()
        };
        for item in items {
            let field = match &item.kind {
                ast::ExprKind::Ident(id) => Some(id.name.clone()),
                ast::ExprKind::Str(s) => s.as_plain(),
                _ => None,
            };
            // not a name: reported with the argument already (AQ0407)
            let Some(field) = field else { continue };
            let Some(declared) = record.fields.iter().find(|f| f.name == field) else {
                self.check_field_exists(&field, item.span, &scope);
                continue;
            };
            if orderable(&declared.ty) {
                continue;
            }
            let (why, help) = if orderable(declared.ty.required()) {
                (
                    "an optional field".to_string(),
                    format!(
                        "a key is never null: declare `{field}: {}`, or key on another field",
                        declared.ty.required()
                    ),
                )
            } else {
                (
                    format!("`{}` has no order to read by", declared.ty),
                    "key on fields of type `int`, `decimal`, `string`, `date` or `timestamp`"
                        .to_string(),
                )
            };
            self.report(
                Diagnostic::error(
                    codes::AQ0413,
                    format!(
                        "key field `{field}` of `{label}` is `{}`, which cannot order a resumable read",
                        declared.ty
                    ),
                )
                .with_primary(self.file, item.span, why)
                .with_help(help),
            );
        }
    }
}
