//! Expression typing: `ast::Expr` → typed `aqueduct_graph::Expr`.
//!
//! A [`Typer`] types the expressions of one file against a [`TypeEnv`] (the
//! record types) and a [`Scope`] (the current record, `$bindings`, paths
//! proven non-null). Every finding is pushed as a [`Diagnostic`]; typing
//! never stops at the first one.
//!
//! Error recovery: after reporting a problem whose result type is unknown,
//! the typer returns the *error expression* (see [`Typer::is_error`]), which
//! every rule accepts silently, so one mistake gives one diagnostic. Where the
//! result type is fixed anyway (a call to `upper`, a record literal, a string
//! with interpolations) the typed result is returned instead.
//!
//! The rules live in submodules: `paths` (fields, indexes, bindings, bare
//! names), `operators` and `comparisons`, `narrowing` (null narrowing and
//! `if`), `coerce` (assignability, conversions, `expect`, conditions),
//! `functions` (the signature table) and `calls`, `records` (literals, `map`,
//! `...`), `constants` (test values) and `time` (timestamp/date literals).

mod calls;
mod coerce;
mod comparisons;
mod constants;
mod functions;
mod narrowing;
mod operators;
mod paths;
mod records;
mod time;

#[cfg(test)]
mod tests;

use aqueduct_diagnostics::{Diagnostic, FileId, Span};
use aqueduct_graph::{Expr, ExprKind, RecordType, Type, Value};
use aqueduct_syntax::ast;
use std::collections::BTreeSet;

/// The record name of [`Typer::unknown`]: not an identifier, so no `type`
/// declaration can take it.
const UNKNOWN_RECORD: &str = "{unknown}";

/// The record types of the project, by name.
#[derive(Debug, Default)]
pub struct TypeEnv {
    /// Declared record types (already resolved).
    pub records: crate::names::FxHashMap<String, RecordType>,
}

/// What an expression can see: the current record, bindings, and the paths
/// proven non-null by an earlier `where` or an enclosing `if`.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Type of `.`; `None` where there is no current record (system options).
    pub current: Option<Type>,
    /// `$name` bindings in the order they were made.
    pub bindings: Vec<(String, Type)>,
    /// Paths (`.a.b`, `$x.y`) known not to be null here.
    pub non_null: BTreeSet<String>,
}

impl Scope {
    /// This scope with `paths` (keys as returned by [`Typer::narrowings`])
    /// additionally known to be non-null.
    pub fn narrowed(&self, paths: impl IntoIterator<Item = String>) -> Scope {
        let mut scope = self.clone();
        scope.non_null.extend(paths);
        scope
    }

    /// The type of `$name`; the latest binding wins.
    pub fn binding(&self, name: &str) -> Option<&Type> {
        self.bindings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
    }
}

/// The place a value goes, as messages name it ("field `city` of
/// `Customer`"). Written out only when a message needs it: building the
/// text for every value checked cost more than the checking.
pub(crate) enum Place<'a> {
    /// field `NAME` of `RECORD`
    FieldOf(&'a str, &'a str),
    /// field `NAME`
    Field(&'a str),
    /// an element of PLACE
    ElementOf(&'a dyn std::fmt::Display),
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::FieldOf(field, record) => write!(f, "field `{field}` of `{record}`"),
            Place::Field(field) => write!(f, "field `{field}`"),
            Place::ElementOf(what) => write!(f, "an element of {what}"),
        }
    }
}

/// Types expressions of one file, pushing diagnostics as it goes.
pub struct Typer<'a> {
    /// The record types.
    pub env: &'a TypeEnv,
    /// The file the expressions are in.
    pub file: FileId,
    /// Where findings go.
    pub diags: &'a mut Vec<Diagnostic>,
}

impl<'a> Typer<'a> {
    /// A typer for `file`.
    pub fn new(env: &'a TypeEnv, file: FileId, diags: &'a mut Vec<Diagnostic>) -> Self {
        Typer { env, file, diags }
    }

    /// True for the expression returned after an error whose result type is
    /// unknown. Callers should not report anything more about it: the
    /// problem has been reported already.
    pub fn is_error(expr: &Expr) -> bool {
        // `null` typed as json is never built otherwise: a real `null` has
        // type `null`, and a null converted to json is a `Convert`.
        expr.ty == Type::Json && expr.kind == ExprKind::Lit(Value::Null)
    }

    /// The expression returned after an error (see [`Typer::is_error`]).
    pub fn error_expr() -> Expr {
        Expr {
            kind: ExprKind::Lit(Value::Null),
            ty: Type::Json,
        }
    }

    /// The type of values whose type could not be known because of an
    /// error already reported (an unknown type name, a source that did not
    /// resolve). It is a record name no declaration can have, so reading it
    /// gives the error expression and every rule accepts it silently: one
    /// mistake, one diagnostic. It never reaches a graph, since a graph is
    /// only built from a project without errors.
    pub fn unknown() -> Type {
        Type::Record(UNKNOWN_RECORD.to_string())
    }

    /// True when `ty` is, or contains, [`Typer::unknown`].
    pub fn mentions_unknown(ty: &Type) -> bool {
        match ty {
            Type::Record(name) => name == UNKNOWN_RECORD,
            Type::List(inner) | Type::Optional(inner) => Typer::mentions_unknown(inner),
            _ => false,
        }
    }

    /// Resolves a written type (AQ0203 for unknown names).
    pub fn resolve_type(&mut self, ty: &ast::TypeExpr) -> Type {
        let base = match &ty.kind {
            ast::TypeExprKind::List(inner) => Type::List(Box::new(self.resolve_type(inner))),
            ast::TypeExprKind::Named(name) => match self.type_name(name) {
                Some(t) => t,
                // Uses of the unknown type stay quiet.
                None => return Typer::unknown(),
            },
        };
        if ty.optional { base.optional() } else { base }
    }

    /// A built-in or declared type by name; reports AQ0203 when unknown.
    fn type_name(&mut self, name: &ast::Ident) -> Option<Type> {
        if let Some(t) = Type::builtin(&name.name) {
            return Some(t);
        }
        if self.env.records.contains_key(&name.name) {
            return Some(Type::Record(name.name.clone()));
        }
        // In name order, as suggestions break ties by order.
        let mut declared: Vec<&str> = self.env.records.keys().map(String::as_str).collect();
        declared.sort_unstable();
        let candidates = Type::BUILTINS.iter().copied().chain(declared);
        let help = match aqueduct_diagnostics::did_you_mean(&name.name, candidates) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "declare it with `type Name { field: Type }`, or use a built-in type such as `string` or `json`"
                .to_string(),
        };
        self.diags.push(
            Diagnostic::error(
                aqueduct_diagnostics::codes::AQ0203,
                format!("there is no type `{}`", name.name),
            )
            .with_primary(self.file, name.span, "unknown type")
            .with_help(help),
        );
        None
    }

    /// Types an expression.
    pub fn expr(&mut self, expr: &ast::Expr, scope: &Scope) -> Expr {
        match &expr.kind {
            ast::ExprKind::Lit(lit) => literal(lit),
            ast::ExprKind::Str(s) => self.string(s, scope),
            ast::ExprKind::Path(path) => self.path(path, expr.span, scope),
            ast::ExprKind::Ident(name) => self.bare_name(name, scope),
            ast::ExprKind::Unary {
                op,
                op_span,
                expr: operand,
            } => self.unary(*op, *op_span, operand, scope),
            ast::ExprKind::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => self.binary(*op, *op_span, lhs, rhs, scope),
            ast::ExprKind::If {
                cond,
                then,
                otherwise,
            } => self.if_expr(cond, then, otherwise.as_deref(), scope),
            ast::ExprKind::Call { func, args } => self.call(func, args, expr.span, scope),
            ast::ExprKind::List(items) => self.list(items, scope),
            ast::ExprKind::Record(lit) => self.record(lit, scope, None),
            ast::ExprKind::Paren(inner) => self.expr(inner, scope),
        }
    }

    /// Types an expression that must fit `expected` (AQ0601, AQ0603),
    /// inserting widening conversions. `what` names the place in messages
    /// ("field `city` of `Customer`").
    pub fn expect(&mut self, expr: &ast::Expr, scope: &Scope, expected: &Type, what: &str) -> Expr {
        self.expect_expr(expr, scope, expected, &what)
    }

    /// Types a `where`/`when`/`if` condition (AQ0602). `bool?` is accepted:
    /// null counts as false.
    pub fn condition(&mut self, expr: &ast::Expr, scope: &Scope) -> Expr {
        self.condition_expr(expr, scope)
    }

    /// Paths proven non-null when `cond` is true (`.a != null`, `x and y`,
    /// `.a > 5`). Keys look like `.a.b`, `$x.y` or `.("odd name")`; put them
    /// in [`Scope::non_null`] (see [`Scope::narrowed`]).
    pub fn narrowings(&self, cond: &ast::Expr) -> Vec<String> {
        narrowing::facts(cond, true)
    }

    /// Types a record literal or `map` block. `ty` names the record type when
    /// the context fixes it. Reports unknown, duplicate and missing fields and
    /// expands `...`.
    pub fn record(&mut self, lit: &ast::RecordLit, scope: &Scope, ty: Option<&str>) -> Expr {
        self.record_lit(lit, scope, ty, records::Wording::Literal)
    }

    /// Types the block of a `map Type { … }` step: [`Typer::record`] with
    /// messages that name the step ("`map Customer` is missing …").
    pub fn map_block(&mut self, lit: &ast::RecordLit, scope: &Scope) -> Expr {
        self.record_lit(lit, scope, None, records::Wording::Map)
    }

    /// Types the list given to a `split` step (AQ0611 when it is not a
    /// list). Returns the typed list and the type of one element; a null
    /// list splits into no records.
    pub fn split_list(&mut self, expr: &ast::Expr, scope: &Scope) -> (Expr, Type) {
        let typed = self.expr(expr, scope);
        let elem = match typed.ty.required() {
            Type::List(elem) => elem.as_ref().clone(),
            Type::Json => Type::Json,
            _ if Typer::is_error(&typed) => return (typed, Type::Json),
            other => {
                let help = if *other == Type::String {
                    "to split text, make a list first: `split split(…, \",\")`"
                } else {
                    "`split` emits one record per element of a list"
                };
                self.diags.push(
                    Diagnostic::error(
                        aqueduct_diagnostics::codes::AQ0611,
                        format!("`split` needs a list, found `{other}`"),
                    )
                    .with_primary(self.file, expr.span, format!("this is `{}`", typed.ty))
                    .with_help(help),
                );
                return (Typer::error_expr(), Type::Json);
            }
        };
        (typed, elem)
    }

    /// Evaluates a constant expression (test records, stub answers) to a
    /// value of `expected` when given; reports non-constant parts.
    pub fn constant(&mut self, expr: &ast::Expr, expected: Option<&Type>) -> Option<Value> {
        self.const_value(expr, expected, &"this value")
    }

    /// Types a string literal; interpolations become [`ExprKind::Interpolate`].
    fn string(&mut self, s: &ast::StrLit, scope: &Scope) -> Expr {
        if let Some(text) = s.as_plain() {
            return Expr {
                kind: ExprKind::Lit(Value::String(text)),
                ty: Type::String,
            };
        }
        let mut pieces = Vec::new();
        for part in &s.parts {
            match part {
                ast::StrPart::Text(t) if t.is_empty() => {}
                ast::StrPart::Text(t) => pieces.push(Expr {
                    kind: ExprKind::Lit(Value::String(t.clone())),
                    ty: Type::String,
                }),
                // Any type may be interpolated: it is converted with `to_string`.
                ast::StrPart::Expr(e) => pieces.push(self.expr(e, scope)),
            }
        }
        Expr {
            kind: ExprKind::Interpolate(pieces),
            ty: Type::String,
        }
    }

    /// Types a list literal: the elements must share one type.
    fn list(&mut self, items: &[ast::Expr], scope: &Scope) -> Expr {
        let typed: Vec<Expr> = items.iter().map(|e| self.expr(e, scope)).collect();
        let mut elem: Option<Type> = None;
        let mut first: Option<(Span, Type)> = None;
        for (item, e) in items.iter().zip(&typed) {
            if Typer::is_error(e) {
                continue;
            }
            let Some(so_far) = &elem else {
                elem = Some(e.ty.clone());
                first = Some((item.span, e.ty.clone()));
                continue;
            };
            match coerce::join(so_far, &e.ty) {
                Some(t) => elem = Some(t),
                None => {
                    let (first_span, first_ty) =
                        first.clone().unwrap_or((item.span, so_far.clone()));
                    self.diags.push(
                        Diagnostic::error(
                            aqueduct_diagnostics::codes::AQ0601,
                            format!("the elements of a list must have one type, found `{first_ty}` and `{}`", e.ty),
                        )
                        .with_primary(self.file, item.span, format!("this is `{}`", e.ty))
                        .with_context(self.file, first_span, format!("this is `{first_ty}`"))
                        .with_help("convert the elements to one type, e.g. with `to_string(…)`"),
                    );
                    return Typer::error_expr();
                }
            }
        }
        // `[]` has element type `null` until it meets a list type.
        let elem = elem.unwrap_or(Type::Null);
        let fields = typed.into_iter().map(|e| coerce::widen(e, &elem)).collect();
        Expr {
            kind: ExprKind::List(fields),
            ty: Type::List(Box::new(elem)),
        }
    }
}

/// The typed form of a literal. Sizes are byte counts (`int`).
fn literal(lit: &ast::Lit) -> Expr {
    let (value, ty) = literal_value(lit);
    Expr {
        kind: ExprKind::Lit(value),
        ty,
    }
}

/// The value and type of a literal.
fn literal_value(lit: &ast::Lit) -> (Value, Type) {
    match lit {
        ast::Lit::Null => (Value::Null, Type::Null),
        ast::Lit::Bool(b) => (Value::Bool(*b), Type::Bool),
        ast::Lit::Int { value, .. } => (Value::Int(*value), Type::Int),
        // Underscores are digit separators only; the rest is kept as written
        // so `12.50` keeps its scale.
        ast::Lit::Decimal(text) => (Value::Decimal(text.replace('_', "")), Type::Decimal),
        ast::Lit::Duration { millis, .. } => (Value::Duration(*millis), Type::Duration),
        // The parser refuses sizes beyond i64 (AQ0103); saturate rather than wrap.
        ast::Lit::Size { bytes, .. } => (
            Value::Int(i64::try_from(*bytes).unwrap_or(i64::MAX)),
            Type::Int,
        ),
    }
}
