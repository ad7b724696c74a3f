//! Tests of the expression type checker, on real source parsed with
//! `aqueduct_syntax::parse`. The harness here builds a small [`TypeEnv`]
//! from `type` declarations and types snippets against it; the rules are
//! tested in the submodules.

mod constants;
mod functions;
mod narrowing;
mod operators;
mod paths;
mod records;
mod sketch;

use super::{Scope, TypeEnv, Typer};
use aqueduct_diagnostics::{Diagnostic, FileId, Severity, Span};
use aqueduct_graph::{Expr, FieldType, RecordType, Type};
use aqueduct_syntax::ast;

/// The record types every test sees. `Account` is the sketch's, plus a few
/// fields of other shapes.
const TYPES: &str = r#"
type Account {
  Id: string
  Name: string
  BillingCity: string?
  AnnualRevenue: decimal?
  LastModifiedDate: timestamp
  Employees: int?
  Score: float?
  Active: bool?
  Tags: [string]?
  Address: Address?
  Raw: json
  Signup: date?
  "Billing Zip": string?
}
type Address { street: string, city: string? }
type Customer { external_id: string, name: string, city: string, tier: string }
type Contact { Id: string, Name: string, BillingCity: string?, Extra: int? }
type Place { Id: string, BillingCity: string }
type Summary { id: string, revenue: decimal, note: string?, extra: json, lines: [Line] }
type Line { sku: string, qty: int }
"#;

/// What `let x = ` puts before an expression in [`parse_expr`].
const EXPR_PREFIX: &str = "flow f { let x = ";
/// What `map ` puts before a record in [`parse_map`].
const MAP_PREFIX: &str = "flow f { map ";

/// Parses a whole file, failing the test on syntax errors.
fn parse_file(src: &str) -> ast::File {
    let parsed = aqueduct_syntax::parse(FileId(0), src);
    assert!(
        parsed.diagnostics.is_empty(),
        "syntax errors in {src:?}: {:#?}",
        parsed.diagnostics
    );
    parsed.file.expect("a file without syntax errors parses")
}

/// The record types of [`TYPES`], resolved.
fn env() -> TypeEnv {
    let file = parse_file(TYPES);
    let decls: Vec<&ast::TypeDecl> = file
        .decls
        .iter()
        .filter_map(|d| match d {
            ast::Decl::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    // Names first, so field types can refer to any record.
    let mut names = TypeEnv::default();
    for decl in &decls {
        let rt = RecordType {
            name: decl.name.name.clone(),
            fields: Vec::new(),
            doc: Vec::new(),
        };
        names.records.insert(decl.name.name.clone(), rt);
    }
    let mut diags = Vec::new();
    let mut typer = Typer::new(&names, FileId(0), &mut diags);
    let mut env = TypeEnv::default();
    for decl in decls {
        let fields = decl
            .fields
            .iter()
            .map(|f| FieldType {
                name: f.name.name.clone(),
                ty: typer.resolve_type(&f.ty),
                doc: Vec::new(),
            })
            .collect();
        let rt = RecordType {
            name: decl.name.name.clone(),
            fields,
            doc: Vec::new(),
        };
        env.records.insert(decl.name.name.clone(), rt);
    }
    assert!(diags.is_empty(), "{diags:#?}");
    env
}

/// A scope inside a flow over `Account` records.
fn account() -> Scope {
    Scope {
        current: Some(Type::Record("Account".into())),
        ..Scope::default()
    }
}

/// `text` parsed as an expression (the value of a `let`).
fn parse_expr(text: &str) -> ast::Expr {
    let file = parse_file(&format!("{EXPR_PREFIX}{text}\n}}"));
    match &file.decls[0] {
        ast::Decl::Flow(flow) => match &flow.items[0] {
            ast::FlowItem::Step(ast::Step {
                kind: ast::StepKind::Let { value, .. },
                ..
            }) => value.clone(),
            other => panic!("not a let: {other:?}"),
        },
        other => panic!("not a flow: {other:?}"),
    }
}

/// `text` parsed as the block of a `map` step.
fn parse_map(text: &str) -> ast::RecordLit {
    let file = parse_file(&format!("{MAP_PREFIX}{text}\n}}"));
    match &file.decls[0] {
        ast::Decl::Flow(flow) => match &flow.items[0] {
            ast::FlowItem::Step(ast::Step {
                kind: ast::StepKind::Map(lit),
                ..
            }) => lit.clone(),
            other => panic!("not a map: {other:?}"),
        },
        other => panic!("not a flow: {other:?}"),
    }
}

/// The span of the first `needle` in `text`, as parsed by [`parse_expr`]
/// (`prefix` = [`EXPR_PREFIX`]) or [`parse_map`] (`prefix` = [`MAP_PREFIX`]).
fn span_in(prefix: &str, text: &str, needle: &str) -> Span {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {text:?}"))
        + prefix.len();
    Span::new(at as u32, (at + needle.len()) as u32)
}

/// The span of `needle` in an expression typed with [`typed`].
fn span(text: &str, needle: &str) -> Span {
    span_in(EXPR_PREFIX, text, needle)
}

/// The span of the last `needle` in an expression typed with [`typed`].
fn last_span(text: &str, needle: &str) -> Span {
    let at = text
        .rfind(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {text:?}"))
        + EXPR_PREFIX.len();
    Span::new(at as u32, (at + needle.len()) as u32)
}

/// Types `text` in `scope`.
fn typed_in(text: &str, scope: &Scope) -> (Expr, Vec<Diagnostic>) {
    let env = env();
    let mut diags = Vec::new();
    let expr = Typer::new(&env, FileId(0), &mut diags).expr(&parse_expr(text), scope);
    (expr, diags)
}

/// Types `text` over an `Account` record.
fn typed(text: &str) -> (Expr, Vec<Diagnostic>) {
    typed_in(text, &account())
}

/// The type of `text` over an `Account`, asserting it types cleanly.
fn ty(text: &str) -> Type {
    let (expr, diags) = typed(text);
    assert!(diags.is_empty(), "{text}: {diags:#?}");
    expr.ty
}

/// Types `text` against `expected` (a type written in the language).
fn expected(text: &str, expected: &str) -> (Expr, Vec<Diagnostic>) {
    let env = env();
    let mut diags = Vec::new();
    let expected = Type::parse(expected).expect("test types parse");
    let expr = Typer::new(&env, FileId(0), &mut diags).expect(
        &parse_expr(text),
        &account(),
        &expected,
        "`x`",
    );
    (expr, diags)
}

/// The only diagnostic, failing the test when there are others.
fn only(diags: &[Diagnostic]) -> &Diagnostic {
    assert_eq!(diags.len(), 1, "expected one diagnostic: {diags:#?}");
    &diags[0]
}

/// Asserts `d` has `code`, the severity that code implies and `message`.
fn assert_diag(d: &Diagnostic, code: &str, message: &str) {
    assert_eq!(d.code.as_str(), code, "{d:#?}");
    assert_eq!(d.message, message, "{d:#?}");
    let warning = matches!(code, "AQ0607" | "AQ0609");
    assert_eq!(
        d.severity,
        if warning {
            Severity::Warning
        } else {
            Severity::Error
        }
    );
}

/// The primary label's span.
fn primary(d: &Diagnostic) -> Span {
    d.primary()
        .expect("every diagnostic has a primary label")
        .span
}

#[test]
fn resolves_written_types() {
    let file = parse_file("type T { a: [Line]?, b: decimal?, c: Strng, d: [Custmer] }");
    let ast::Decl::Type(decl) = &file.decls[0] else {
        panic!("a type")
    };
    let env = env();
    let mut diags = Vec::new();
    let mut typer = Typer::new(&env, FileId(0), &mut diags);
    let types: Vec<Type> = decl
        .fields
        .iter()
        .map(|f| typer.resolve_type(&f.ty))
        .collect();
    assert_eq!(
        types[0],
        Type::List(Box::new(Type::Record("Line".into()))).optional()
    );
    assert_eq!(types[1], Type::Decimal.optional());
    // Unknown names resolve to the unknown type so their uses stay quiet.
    assert_eq!(types[2], Typer::unknown());
    assert!(Typer::mentions_unknown(&types[3]));
    assert_eq!(diags.len(), 2, "{diags:#?}");
    assert_diag(&diags[0], "AQ0203", "there is no type `Strng`");
    assert_eq!(diags[0].help.as_deref(), Some("did you mean `string`?"));
    assert_diag(&diags[1], "AQ0203", "there is no type `Custmer`");
    assert_eq!(diags[1].help.as_deref(), Some("did you mean `Customer`?"));
}

#[test]
fn literals_have_their_types() {
    assert_eq!(ty("1_000"), Type::Int);
    assert_eq!(ty("12.50"), Type::Decimal);
    assert_eq!(ty("30s"), Type::Duration);
    assert_eq!(ty("64KiB"), Type::Int);
    assert_eq!(ty("\"text\""), Type::String);
    assert_eq!(ty("true"), Type::Bool);
    assert_eq!(ty("null"), Type::Null);
    let (expr, _) = typed("64KiB");
    assert_eq!(
        expr.kind,
        aqueduct_graph::ExprKind::Lit(aqueduct_graph::Value::Int(65536))
    );
    let (expr, _) = typed("1_000.50");
    assert_eq!(
        expr.kind,
        aqueduct_graph::ExprKind::Lit(aqueduct_graph::Value::Decimal("1000.50".into()))
    );
}

#[test]
fn interpolation_accepts_any_type() {
    let (expr, diags) = typed("\"order {.Id} of {.AnnualRevenue} at {.LastModifiedDate}\"");
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(expr.ty, Type::String);
    let aqueduct_graph::ExprKind::Interpolate(pieces) = expr.kind else {
        panic!("interpolation")
    };
    let types: Vec<String> = pieces.iter().map(|p| p.ty.to_string()).collect();
    assert_eq!(
        types,
        [
            "string",
            "string",
            "string",
            "decimal?",
            "string",
            "timestamp"
        ]
    );
}

#[test]
fn lists_unify_their_elements() {
    assert_eq!(ty("[1, 2.5, -3]"), Type::List(Box::new(Type::Decimal)));
    assert_eq!(
        ty("[\"a\", null]"),
        Type::List(Box::new(Type::String.optional()))
    );
    let text = "[1, \"two\"]";
    let (_, diags) = typed(text);
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0601",
        "the elements of a list must have one type, found `int` and `string`",
    );
    assert_eq!(primary(d), span(text, "\"two\""));
}

#[test]
fn split_needs_a_list() {
    let env = env();
    let mut diags = Vec::new();
    let mut typer = Typer::new(&env, FileId(0), &mut diags);
    let (_, elem) = typer.split_list(&parse_expr(".Tags"), &account());
    assert_eq!(elem, Type::String);
    let (list, elem) = typer.split_list(&parse_expr(".Name"), &account());
    assert!(Typer::is_error(&list));
    assert_eq!(elem, Type::Json);
    let d = only(&diags);
    assert_diag(d, "AQ0611", "`split` needs a list, found `string`");
    assert_eq!(primary(d), span(".Name", ".Name"));
}
