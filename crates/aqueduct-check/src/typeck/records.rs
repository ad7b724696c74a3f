//! Record literals and `map` blocks.
//!
//! Fields are checked against the record type: unknown (AQ0206), assigned
//! twice (AQ0207), required but left out (one AQ0605 listing them all).
//! Optional fields left out are null. `...` copies every field of the target
//! type that the current record has under the same name with a fitting type
//! and that is not assigned explicitly (AQ0607 when it copies nothing). An
//! untyped `{ a = 1 }` is a json object.

use super::{Place, Scope, Typer, coerce, paths};
use aqueduct_diagnostics::{Diagnostic, Span, codes};
use aqueduct_graph::{Expr, ExprKind, FieldType, RecordType, Type, Value};
use aqueduct_syntax::ast;

/// How messages name the record being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wording {
    /// `Customer { … }`: "this `Customer` record".
    Literal,
    /// `map Customer { … }`: "`map Customer`".
    Map,
}

/// The entries of a record literal sorted into the slots of its type.
pub(super) struct Slots<'l> {
    /// The value written for each slot.
    pub values: Vec<Option<&'l ast::Expr>>,
    /// Values of unknown fields (reported; typed only for their own errors).
    pub extras: Vec<&'l ast::Expr>,
    /// Where `...` was written.
    pub spread: Option<Span>,
}

impl Typer<'_> {
    /// Sorts the entries of `lit` into the slots of `rt`, reporting unknown
    /// and duplicate fields.
    pub(super) fn sort_entries<'l>(
        &mut self,
        rt: &RecordType,
        lit: &'l ast::RecordLit,
    ) -> Slots<'l> {
        let mut slots = Slots {
            values: vec![None; rt.fields.len()],
            extras: Vec::new(),
            spread: None,
        };
        let mut first: Vec<Option<Span>> = vec![None; rt.fields.len()];
        for entry in &lit.entries {
            match entry {
                ast::RecordEntry::Field { name, value, .. } => {
                    let Some(slot) = rt.slot(&name.name).map(|s| s as usize) else {
                        self.unknown_field(&rt.name, name);
                        slots.extras.push(value);
                        continue;
                    };
                    match first[slot] {
                        Some(earlier) => self.duplicate(&name.name, name.span, earlier),
                        None => {
                            first[slot] = Some(name.span);
                            slots.values[slot] = Some(value);
                        }
                    }
                }
                ast::RecordEntry::Spread(span) => match slots.spread {
                    Some(earlier) => self.duplicate("...", *span, earlier),
                    None => slots.spread = Some(*span),
                },
            }
        }
        slots
    }

    /// AQ0207: `name` written again at `span`.
    pub(super) fn duplicate(&mut self, name: &str, span: Span, earlier: Span) {
        let message = if name == "..." {
            "`...` is written twice".to_string()
        } else {
            format!("field `{name}` is assigned twice")
        };
        self.diags.push(
            Diagnostic::error(codes::AQ0207, message)
                .with_primary(self.file, span, "written again here")
                .with_context(self.file, earlier, "first written here")
                .with_help("remove one of them"),
        );
    }

    /// AQ0605 listing every required field left out.
    pub(super) fn missing_fields(
        &mut self,
        rt: &RecordType,
        missing: &[&str],
        lit: &ast::RecordLit,
        wording: Wording,
        notes: Vec<String>,
    ) {
        if missing.is_empty() {
            return;
        }
        let listed: Vec<String> = missing
            .iter()
            .map(|m| format!("`{}`", paths::field_text(m)))
            .collect();
        let noun = if missing.len() == 1 {
            "field"
        } else {
            "fields"
        };
        let subject = match wording {
            Wording::Map => format!("`map {}`", rt.name),
            Wording::Literal => format!("this `{}` record", rt.name),
        };
        let lines: Vec<String> = missing
            .iter()
            .map(|m| format!("`{} = …`", paths::field_text(m)))
            .collect();
        let span = lit.ty.as_ref().map_or(lit.span, |t| t.span);
        let mut d = Diagnostic::error(
            codes::AQ0605,
            format!("{subject} is missing required {noun} {}", listed.join(", ")),
        )
        .with_primary(self.file, span, format!("missing {}", listed.join(", ")))
        .with_help(format!("add {}", lines.join(", ")));
        d.notes = notes;
        self.diags.push(d);
    }

    /// [`Typer::record`] with the wording of its messages.
    pub(super) fn record_lit(
        &mut self,
        lit: &ast::RecordLit,
        scope: &Scope,
        ty: Option<&str>,
        wording: Wording,
    ) -> Expr {
        let Some(name) = self.record_name(lit, ty) else {
            if lit.ty.is_none() && ty.is_none() {
                return self.object(lit, scope);
            }
            for entry in &lit.entries {
                if let ast::RecordEntry::Field { value, .. } = entry {
                    self.expr(value, scope);
                }
            }
            return Typer::error_expr();
        };
        let env = self.env;
        let Some(rt) = env.records.get(&name) else {
            return Typer::error_expr();
        };
        let slots = self.sort_entries(rt, lit);
        for extra in &slots.extras {
            self.expr(extra, scope);
        }
        let mut fields = Vec::with_capacity(rt.fields.len());
        let mut missing = Vec::new();
        let mut copied = 0;
        let mut notes = Vec::new();
        for (field, value) in rt.fields.iter().zip(&slots.values) {
            if let Some(value) = value {
                let what = Place::FieldOf(&field.name, &rt.name);
                fields.push(self.expect_expr(value, scope, &field.ty, &what));
            } else if let Some(copy) = slots
                .spread
                .and_then(|_| spread_field(self.env, field, scope, &mut notes))
            {
                copied += 1;
                fields.push(copy);
            } else if field.ty.is_optional() {
                fields.push(null_of(&field.ty));
            } else {
                missing.push(field.name.as_str());
                fields.push(Typer::error_expr());
            }
        }
        if let Some(span) = slots.spread
            && copied == 0
        {
            self.spread_copies_nothing(span, &rt.name, scope);
        }
        self.missing_fields(rt, &missing, lit, wording, notes);
        Expr {
            kind: ExprKind::Record {
                ty: name.clone(),
                fields,
            },
            ty: Type::Record(name),
        }
    }

    /// The record type a literal builds, reporting a written type that is
    /// unknown or differs from the one the context needs.
    pub(super) fn record_name(&mut self, lit: &ast::RecordLit, ty: Option<&str>) -> Option<String> {
        let Some(written) = &lit.ty else {
            return ty.map(str::to_string);
        };
        match self.type_name(written)? {
            Type::Record(name) => {
                if let Some(expected) = ty.filter(|t| *t != name) {
                    self.diags.push(
                        Diagnostic::error(
                            codes::AQ0601,
                            format!("expected a `{expected}` record, found `{name}`"),
                        )
                        .with_primary(self.file, written.span, format!("this is `{name}`"))
                        .with_help(format!("build a `{expected}` here")),
                    );
                }
                // Check the fields against the type the user wrote: that is
                // what they had in mind, so it gives the fewest follow-ups.
                Some(name)
            }
            other => {
                self.diags.push(
                    Diagnostic::error(codes::AQ0601, format!("`{other}` is not a record type"))
                        .with_primary(self.file, written.span, "not a record type")
                        .with_help("only types declared with `type Name { … }` have fields"),
                );
                None
            }
        }
    }

    /// An untyped `{ a = 1, … }`: a json object, `...` copying every field of
    /// the current record that is not assigned.
    fn object(&mut self, lit: &ast::RecordLit, scope: &Scope) -> Expr {
        let mut fields: Vec<(String, Expr)> = Vec::new();
        let mut seen: Vec<(&str, Span)> = Vec::new();
        let assigned: Vec<&str> = lit
            .entries
            .iter()
            .filter_map(|e| match e {
                ast::RecordEntry::Field { name, .. } => Some(name.name.as_str()),
                ast::RecordEntry::Spread(_) => None,
            })
            .collect();
        for entry in &lit.entries {
            match entry {
                ast::RecordEntry::Field { name, value, .. } => {
                    let typed = self.expr(value, scope);
                    match seen.iter().find(|(n, _)| *n == name.name) {
                        Some((_, earlier)) => self.duplicate(&name.name, name.span, *earlier),
                        None => {
                            seen.push((&name.name, name.span));
                            fields.push((name.name.clone(), typed));
                        }
                    }
                }
                ast::RecordEntry::Spread(span) => {
                    let current = current_record(self.env, scope);
                    let copies: Vec<&FieldType> = current
                        .map(|rt| {
                            rt.fields
                                .iter()
                                .filter(|f| !assigned.contains(&f.name.as_str()))
                                .collect()
                        })
                        .unwrap_or_default();
                    if copies.is_empty() {
                        self.spread_copies_nothing(*span, "this object", scope);
                    }
                    for field in copies {
                        fields.push((field.name.clone(), current_field(self.env, field, scope)));
                    }
                }
            }
        }
        Expr {
            kind: ExprKind::Object(fields),
            ty: Type::Json,
        }
    }

    /// AQ0607.
    fn spread_copies_nothing(&mut self, span: Span, target: &str, scope: &Scope) {
        if scope.current.as_ref().is_some_and(Typer::mentions_unknown) {
            // The record type is unknown because of an error reported already.
            return;
        }
        let (message, help) = match scope.current.as_ref() {
            None => (
                "`...` copies nothing: there is no current record here".to_string(),
                "remove `...`".to_string(),
            ),
            Some(current) => (
                format!(
                    "`...` copies nothing: no field of `{current}` fits a field of `{target}` by name and type"
                ),
                "remove `...` and assign the fields explicitly".to_string(),
            ),
        };
        self.diags.push(
            Diagnostic::warning(codes::AQ0607, message)
                .with_primary(self.file, span, "copies nothing")
                .with_help(help),
        );
    }
}

/// The record type of `.`, when it is a declared record.
fn current_record<'e>(env: &'e super::TypeEnv, scope: &Scope) -> Option<&'e RecordType> {
    match scope.current.as_ref()? {
        Type::Record(name) => env.records.get(name),
        _ => None,
    }
}

/// The current record's field with the name of `target`, when its type fits
/// `target` (narrowing applied); otherwise a note on why it was not copied.
fn spread_field(
    env: &super::TypeEnv,
    target: &FieldType,
    scope: &Scope,
    notes: &mut Vec<String>,
) -> Option<Expr> {
    let Some(Type::Record(current)) = scope.current.as_ref() else {
        return None;
    };
    let source = env.records.get(current)?.field(&target.name)?;
    let value = current_field(env, source, scope);
    match coerce::fits(&value.ty, &target.ty) {
        coerce::Fit::Same | coerce::Fit::Retype | coerce::Fit::Convert => {
            Some(coerce::widen(value, &target.ty))
        }
        _ => {
            notes.push(format!(
                "`...` did not copy `{}`: it is `{}` in `{current}`, but `{}` is needed",
                target.name, value.ty, target.ty
            ));
            None
        }
    }
}

/// `.name` for a field of the current record, narrowed when proven non-null.
fn current_field(env: &super::TypeEnv, field: &FieldType, scope: &Scope) -> Expr {
    let slot = match scope.current.as_ref() {
        Some(Type::Record(current)) => env.records.get(current).and_then(|rt| rt.slot(&field.name)),
        _ => None,
    };
    let key = format!(".{}", paths::field_text(&field.name));
    let ty = if scope.non_null.contains(&key) {
        field.ty.required().clone()
    } else {
        field.ty.clone()
    };
    let base = Expr {
        kind: ExprKind::Current,
        ty: scope.current.clone().unwrap_or(Type::Json),
    };
    Expr {
        kind: ExprKind::Field {
            base: Box::new(base),
            name: field.name.clone(),
            slot,
        },
        ty,
    }
}

/// The value of an optional field left out: null, converted for `json`
/// (a json-typed null literal is the error marker).
pub(super) fn null_of(ty: &Type) -> Expr {
    let null = Expr {
        kind: ExprKind::Lit(Value::Null),
        ty: Type::Null,
    };
    coerce::widen(null, ty)
}
