//! Paths (`.`, `.a.b`, `.items[0]`, `.("odd name")`, `$x.y`) and bare names.
//!
//! Reading a field of an optional record gives an optional value (null
//! propagates); indexing a list gives an optional element (out of range is
//! null). A path whose key is in [`Scope::non_null`] loses its optional
//! marker: an earlier `where` or an enclosing `if` proved it present.

use super::{Scope, Typer};
use aqueduct_diagnostics::{Diagnostic, Span, codes, did_you_mean};
use aqueduct_graph::{Expr, ExprKind, Type};
use aqueduct_syntax::ast;

/// A field name as written in a path: `name`, or `("odd name")` when it is
/// not an identifier.
pub(super) fn field_text(name: &str) -> String {
    if is_ident(name) {
        name.to_string()
    } else {
        format!("({name:?})")
    }
}

/// True when `name` can be written bare in a path.
fn is_ident(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The narrowing key of a path (`.a.b`, `$x.y`, `.` alone); `None` when it
/// indexes a list, since an element is not a fixed place.
pub(super) fn path_key(path: &ast::Path) -> Option<String> {
    let mut key = root_text(&path.root);
    for segment in &path.segments {
        match segment {
            ast::PathSegment::Field(name) => push_field(&mut key, &name.name),
            ast::PathSegment::Index(_) => return None,
        }
    }
    Some(shown_key(key))
}

/// The text a path starts with; empty for `.` so fields append cleanly.
fn root_text(root: &ast::PathRoot) -> String {
    match root {
        ast::PathRoot::Record => String::new(),
        ast::PathRoot::Binding(name) => format!("${}", name.name),
    }
}

fn push_field(text: &mut String, name: &str) {
    text.push('.');
    if is_ident(name) {
        text.push_str(name);
    } else {
        use std::fmt::Write as _;
        let _ = write!(text, "({name:?})");
    }
}

fn shown_key(text: String) -> String {
    if text.is_empty() {
        ".".to_string()
    } else {
        text
    }
}

/// A short rendering of `expr` for messages, when it is a path (possibly
/// in parentheses).
pub(super) fn show(expr: &ast::Expr) -> Option<String> {
    match &expr.kind {
        ast::ExprKind::Paren(inner) => show(inner),
        ast::ExprKind::Path(path) => {
            let mut text = root_text(&path.root);
            for segment in &path.segments {
                match segment {
                    ast::PathSegment::Field(name) => push_field(&mut text, &name.name),
                    ast::PathSegment::Index(index) => match &index.kind {
                        ast::ExprKind::Lit(ast::Lit::Int { value, .. }) => {
                            text.push_str(&format!("[{value}]"));
                        }
                        _ => text.push_str("[…]"),
                    },
                }
            }
            Some(shown_key(text))
        }
        ast::ExprKind::Call { func, .. } => Some(format!("{}(…)", func.name)),
        _ => None,
    }
}

impl Typer<'_> {
    /// Types a path.
    pub(super) fn path(&mut self, path: &ast::Path, span: Span, scope: &Scope) -> Expr {
        let mut current = match &path.root {
            ast::PathRoot::Record => match &scope.current {
                Some(ty) => Expr {
                    kind: ExprKind::Current,
                    ty: ty.clone(),
                },
                None => return self.no_current_record(span),
            },
            ast::PathRoot::Binding(name) => match scope.binding(&name.name) {
                Some(ty) => Expr {
                    kind: ExprKind::Binding(name.name.clone()),
                    ty: ty.clone(),
                },
                None => return self.unknown_binding(name, scope),
            },
        };
        // The path as written so far, for messages; it is also the
        // narrowing key until an index makes the path a non-fixed place.
        let mut text = root_text(&path.root);
        let mut fixed = true;
        if Typer::mentions_unknown(&current.ty) {
            return Typer::error_expr();
        }
        narrow(&mut current, Some(&text), scope);
        for segment in &path.segments {
            current = match segment {
                ast::PathSegment::Field(name) => self.field(current, name, &text),
                ast::PathSegment::Index(index) => {
                    fixed = false;
                    self.index(current, index, &text, scope)
                }
            };
            match segment {
                ast::PathSegment::Field(name) => push_field(&mut text, &name.name),
                ast::PathSegment::Index(_) => text.push_str("[…]"),
            }
            if Typer::is_error(&current) {
                return current;
            }
            if Typer::mentions_unknown(&current.ty) {
                return Typer::error_expr();
            }
            narrow(&mut current, fixed.then_some(text.as_str()), scope);
        }
        current
    }

    /// `base.name`.
    fn field(&mut self, base: Expr, name: &ast::FieldName, base_text: &str) -> Expr {
        if Typer::is_error(&base) {
            return base;
        }
        let record = match base.ty.required() {
            Type::Json => {
                let kind = ExprKind::Field {
                    base: Box::new(base),
                    name: name.name.clone(),
                    slot: None,
                };
                return Expr {
                    kind,
                    ty: Type::Json,
                };
            }
            Type::Record(record) => record.clone(),
            other => {
                let shown = shown_key(base_text.to_string());
                let mut d = Diagnostic::error(
                    codes::AQ0610,
                    format!(
                        "`{shown}` is `{}`, not a record, so it has no field `{}`",
                        base.ty, name.name
                    ),
                )
                .with_primary(
                    self.file,
                    name.span,
                    format!("`{shown}` has no fields"),
                );
                d = if let Type::List(_) = other {
                    d.with_help(format!(
                        "pick an element first, e.g. `{}[0].{}`",
                        base_text,
                        field_text(&name.name)
                    ))
                } else {
                    d.with_help(format!(
                        "only records have fields: read `{shown}` itself, or declare it with a record type"
                    ))
                };
                self.diags.push(d);
                return Typer::error_expr();
            }
        };
        // An unknown record type was reported where it was written.
        let Some(rt) = self.env.records.get(&record) else {
            return Typer::error_expr();
        };
        let Some((slot, field)) = rt
            .fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.name == name.name)
            .and_then(|(i, f)| Some((u32::try_from(i).ok()?, f)))
        else {
            self.unknown_field(&record, name);
            return Typer::error_expr();
        };
        let ty = if base.ty.is_optional() {
            field.ty.clone().optional()
        } else {
            field.ty.clone()
        };
        Expr {
            kind: ExprKind::Field {
                base: Box::new(base),
                name: name.name.clone(),
                slot: Some(slot),
            },
            ty,
        }
    }

    /// AQ0206 for a field `record` does not have.
    pub(super) fn unknown_field(&mut self, record: &str, name: &ast::FieldName) {
        let Some(rt) = self.env.records.get(record) else {
            return;
        };
        let names = rt.fields.iter().map(|f| f.name.as_str());
        let mut d = Diagnostic::error(
            codes::AQ0206,
            format!("`{record}` has no field `{}`", name.name),
        )
        .with_primary(self.file, name.span, "unknown field");
        d = match did_you_mean(&name.name, names.clone()) {
            Some(best) => d.with_help(format!("did you mean `{}`?", field_text(best))),
            None => d.with_help(format!(
                "read one of the fields of `{record}`, or add `{}: TYPE` to `type {record}` if the records carry it",
                field_text(&name.name)
            )),
        };
        let listed: Vec<String> = names
            .take(20)
            .map(|n| format!("`{}`", field_text(n)))
            .collect();
        let more = if rt.fields.len() > 20 { ", …" } else { "" };
        self.diags.push(d.with_note(format!(
            "the fields of `{record}` are {}{more}",
            listed.join(", ")
        )));
    }

    /// `base[index]`.
    fn index(&mut self, base: Expr, index: &ast::Expr, base_text: &str, scope: &Scope) -> Expr {
        let index_span = index.span;
        let index = self.expect_expr(index, scope, &Type::Int, &"a list index");
        if Typer::is_error(&base) {
            return base;
        }
        let ty = match base.ty.required() {
            Type::Json => Type::Json,
            Type::List(elem) => elem.as_ref().clone().optional(),
            _ => {
                let shown = shown_key(base_text.to_string());
                let found = &base.ty;
                self.diags.push(
                    Diagnostic::error(
                        codes::AQ0610,
                        format!("`{shown}` is `{found}`, not a list, so it cannot be indexed"),
                    )
                    .with_primary(
                        self.file,
                        index_span,
                        "only lists can be indexed",
                    )
                    .with_help(if *found.required() == Type::String {
                        "to take part of a text, use `substring(text, start, length)`"
                    } else {
                        "`[…]` picks an element of a list; declare the field as a list `[T]` if it holds one"
                    }),
                );
                return Typer::error_expr();
            }
        };
        Expr {
            kind: ExprKind::Index {
                base: Box::new(base),
                index: Box::new(index),
            },
            ty,
        }
    }

    /// `.` where there is no current record.
    fn no_current_record(&mut self, span: Span) -> Expr {
        self.diags.push(
            Diagnostic::error(codes::AQ0206, "there is no current record here, so `.` cannot be read")
                .with_primary(self.file, span, "no current record")
                .with_help("`.` reads the record a flow step is working on; write a constant value here instead"),
        );
        Typer::error_expr()
    }

    /// AQ0209 for `$name` with no such binding.
    fn unknown_binding(&mut self, name: &ast::Ident, scope: &Scope) -> Expr {
        let names = scope.bindings.iter().map(|(n, _)| n.as_str());
        let help = match did_you_mean(&name.name, names) {
            Some(best) => format!("did you mean `${best}`?"),
            None => format!(
                "bind it in an earlier step with `let {0} = …` or `enrich {0} = …`",
                name.name
            ),
        };
        self.diags.push(
            Diagnostic::error(
                codes::AQ0209,
                format!("there is no binding `${}` here", name.name),
            )
            .with_primary(self.file, name.span, "unknown binding")
            .with_help(help),
        );
        Typer::error_expr()
    }

    /// AQ0608: a bare name where a value is expected.
    pub(super) fn bare_name(&mut self, name: &ast::Ident, scope: &Scope) -> Expr {
        let is_field = match scope.current.as_ref().map(Type::required) {
            Some(Type::Record(r)) => self
                .env
                .records
                .get(r)
                .is_some_and(|rt| rt.field(&name.name).is_some()),
            _ => false,
        };
        let help = if is_field {
            format!(
                "did you mean `.{0}`? Fields of the current record are read with a leading dot",
                name.name
            )
        } else if scope.binding(&name.name).is_some() {
            format!(
                "did you mean `${}`? Bindings are read with a leading `$`",
                name.name
            )
        } else {
            format!("did you mean `.{0}`? Write `\"{0}\"` for text", name.name)
        };
        self.diags.push(
            Diagnostic::error(
                codes::AQ0608,
                format!("`{}` is a bare name, not a value", name.name),
            )
            .with_primary(self.file, name.span, "bare name")
            .with_help(help),
        );
        Typer::error_expr()
    }
}

/// Strips the optional marker of `expr` when `key` is proven non-null.
fn narrow(expr: &mut Expr, key: Option<&str>, scope: &Scope) {
    if let (Some(key), Type::Optional(inner)) = (key, &expr.ty)
        && scope
            .non_null
            .contains(if key.is_empty() { "." } else { key })
    {
        expr.ty = inner.as_ref().clone();
    }
}
