//! Record literals, `map` blocks, `...` and assignability (`expect`).

use super::*;
use aqueduct_graph::{ExprKind, Value};

/// Types `map TEXT` over `scope`.
fn mapped_in(text: &str, scope: &Scope) -> (Expr, Vec<Diagnostic>) {
    let env = env();
    let mut diags = Vec::new();
    let expr = Typer::new(&env, FileId(0), &mut diags).map_block(&parse_map(text), scope);
    (expr, diags)
}

fn mapped(text: &str) -> (Expr, Vec<Diagnostic>) {
    mapped_in(text, &account())
}

fn map_span(text: &str, needle: &str) -> Span {
    span_in(MAP_PREFIX, text, needle)
}

/// The fields of a typed record, in slot order.
fn fields(expr: Expr) -> Vec<Expr> {
    match expr.kind {
        ExprKind::Record { fields, .. } => fields,
        other => panic!("not a record: {other:?}"),
    }
}

#[test]
fn map_fills_slots_in_order() {
    let text = "Customer { tier = \"gold\", name = trim(.Name), external_id = .Id, city = .BillingCity ?? \"?\" }";
    let (expr, diags) = mapped(text);
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(expr.ty, Type::Record("Customer".into()));
    let fields = fields(expr);
    assert!(matches!(&fields[0].kind, ExprKind::Field { name, .. } if name == "Id"));
    assert_eq!(fields[3].kind, ExprKind::Lit(Value::String("gold".into())));
}

#[test]
fn missing_required_fields_are_listed_once() {
    let text = "Customer { external_id = .Id, name = .Name }";
    let (expr, diags) = mapped(text);
    assert_eq!(expr.ty, Type::Record("Customer".into()));
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0605",
        "`map Customer` is missing required fields `city`, `tier`",
    );
    assert_eq!(primary(d), map_span(text, "Customer"));
    assert_eq!(d.help.as_deref(), Some("add `city = …`, `tier = …`"));

    let env = env();
    let mut diags = Vec::new();
    let ast::ExprKind::Record(lit) = parse_expr("{ id = \"1\", revenue = 2 }").kind else {
        panic!("a record")
    };
    let expr = Typer::new(&env, FileId(0), &mut diags).record(&lit, &account(), Some("Summary"));
    assert_diag(
        only(&diags),
        "AQ0605",
        "this `Summary` record is missing required field `lines`",
    );
    // Optional fields left out are null; a json one is a converted null.
    let fields = fields(expr);
    assert_eq!(
        fields[2],
        Expr {
            kind: ExprKind::Lit(Value::Null),
            ty: Type::String.optional()
        }
    );
    assert!(matches!(
        fields[3].kind,
        ExprKind::Convert { to: Type::Json, .. }
    ));
    assert!(matches!(
        fields[1].kind,
        ExprKind::Convert {
            to: Type::Decimal,
            ..
        }
    ));
}

#[test]
fn unknown_and_duplicate_fields() {
    let text =
        "Customer { external_id = .Id, nme = .Name, name = .Name, city = \"x\", tier = \"y\" }";
    let (_, diags) = mapped(text);
    let d = only(&diags);
    assert_diag(d, "AQ0206", "`Customer` has no field `nme`");
    assert_eq!(primary(d), map_span(text, "nme"));
    assert_eq!(d.help.as_deref(), Some("did you mean `name`?"));

    let text =
        "Customer { external_id = .Id, name = .Name, city = \"x\", tier = \"y\", name = .Id }";
    let (_, diags) = mapped(text);
    let d = only(&diags);
    assert_diag(d, "AQ0207", "field `name` is assigned twice");
    let second = text.rfind("name").expect("twice") + MAP_PREFIX.len();
    assert_eq!(primary(d), Span::new(second as u32, second as u32 + 4));
    assert_eq!(d.labels[1].span, map_span(text, "name"));
}

#[test]
fn optional_value_in_required_field() {
    let text = "Customer { external_id = .Id, name = .Name, city = .BillingCity, tier = \"x\" }";
    let (_, diags) = mapped(text);
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0603",
        "`.BillingCity` may be null but field `city` of `Customer` is required",
    );
    assert_eq!(primary(d), map_span(text, ".BillingCity"));
    assert_eq!(
        d.help.as_deref(),
        Some(
            "give a fallback with `.BillingCity ?? \"unknown\"`, or filter with `where .BillingCity != null` before"
        )
    );
    let (_, diags) = mapped("Customer { external_id = .Id, name = .Name, city = \"x\", tier = 1 }");
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0601",
        "expected `string` for field `tier` of `Customer`, found `int`",
    );
}

#[test]
fn spread_copies_matching_fields() {
    let (expr, diags) = mapped("Contact { Name = upper(.Name), ... }");
    assert!(diags.is_empty(), "{diags:#?}");
    let fields = fields(expr);
    assert!(matches!(&fields[0].kind, ExprKind::Field { name, slot: Some(0), .. } if name == "Id"));
    assert!(matches!(fields[1].kind, ExprKind::Call { .. }));
    assert_eq!(fields[2].ty, Type::String.optional());
    assert_eq!(
        fields[3],
        Expr {
            kind: ExprKind::Lit(Value::Null),
            ty: Type::Int.optional()
        }
    );
}

#[test]
fn spread_skips_fields_that_may_be_null() {
    let text = "Place { ... }";
    let (_, diags) = mapped(text);
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0605",
        "`map Place` is missing required field `BillingCity`",
    );
    assert_eq!(
        d.notes,
        ["`...` did not copy `BillingCity`: it is `string?` in `Account`, but `string` is needed"]
    );
    // After `where .BillingCity != null` it is copied.
    let (_, diags) = mapped_in(text, &account().narrowed([".BillingCity".to_string()]));
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn spread_that_copies_nothing_warns() {
    let text = "Customer { external_id = .Id, name = .Name, city = \"x\", tier = \"y\", ... }";
    let (_, diags) = mapped(text);
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0607",
        "`...` copies nothing: no field of `Account` fits a field of `Customer` by name and type",
    );
    assert_eq!(primary(d), map_span(text, "..."));
}

#[test]
fn untyped_records_are_json_objects() {
    let (expr, diags) = typed("{ a = 1, b = .Name }");
    assert!(diags.is_empty());
    assert_eq!(expr.ty, Type::Json);
    let ExprKind::Object(fields) = expr.kind else {
        panic!("an object")
    };
    assert_eq!(
        fields.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let (expr, _) = typed("{ Name = 1, ... }");
    let ExprKind::Object(fields) = expr.kind else {
        panic!("an object")
    };
    assert_eq!(fields.len(), 13);
    assert_eq!(fields[0].0, "Name");
}

#[test]
fn record_types_must_exist_and_match() {
    let (_, diags) = typed("Custmer { name = \"x\" }");
    let d = only(&diags);
    assert_diag(d, "AQ0203", "there is no type `Custmer`");
    assert_eq!(d.help.as_deref(), Some("did you mean `Customer`?"));
    let text = "Line { sku = \"a\", qty = 1 }";
    let (_, diags) = expected(text, "Customer");
    let d = only(&diags);
    assert_diag(d, "AQ0601", "expected a `Customer` record, found `Line`");
    assert_eq!(primary(d), span(text, "Line"));
}

#[test]
fn expect_inserts_widening_conversions() {
    let convert = |text: &str, to: &str| {
        let (expr, diags) = expected(text, to);
        assert!(diags.is_empty(), "{text}: {diags:#?}");
        assert_eq!(expr.ty, Type::parse(to).expect("type"));
        expr
    };
    assert!(matches!(
        convert("1", "decimal").kind,
        ExprKind::Convert { .. }
    ));
    assert!(matches!(
        convert("1", "float?").kind,
        ExprKind::Convert { .. }
    ));
    assert!(matches!(
        convert("1.5", "float").kind,
        ExprKind::Convert { .. }
    ));
    assert!(matches!(
        convert(".Name", "json").kind,
        ExprKind::Convert { .. }
    ));
    assert!(matches!(
        convert(".Name", "string?").kind,
        ExprKind::Field { .. }
    ));
    assert_eq!(convert("null", "int?").kind, ExprKind::Lit(Value::Null));
    assert!(matches!(
        convert("\"2026-01-31\"", "date").kind,
        ExprKind::Convert { .. }
    ));
    assert!(matches!(
        convert("\"2026-01-31T10:00:00+01:00\"", "timestamp?").kind,
        ExprKind::Convert { .. }
    ));
    assert!(matches!(
        convert(".Tags ?? []", "[string?]").kind,
        ExprKind::Convert { .. }
    ));
    convert("[1, 2]", "[decimal]");
    convert("[{ sku = \"a\", qty = 1 }]", "[Line]");
    convert("[]", "[Line]");
    convert(".Address", "Address?");
}

#[test]
fn expect_reports_mismatches() {
    let (_, diags) = expected("\"12.5\"", "decimal");
    let d = only(&diags);
    assert_diag(d, "AQ0601", "expected `decimal` for `x`, found `string`");
    assert_eq!(
        d.help.as_deref(),
        Some("convert it with `to_decimal(…)`, which gives null when it is not a number")
    );
    let (_, diags) = expected("\"2026-13-01\"", "date");
    assert_diag(
        only(&diags),
        "AQ0601",
        "`\"2026-13-01\"` is not a valid date for `x`: there is no month 13",
    );
    let (_, diags) = expected("\"2026-01-01\"", "timestamp");
    assert!(only(&diags).message.contains("it has no time"));
    let (_, diags) = expected(".Employees", "int");
    assert_diag(
        only(&diags),
        "AQ0603",
        "`.Employees` may be null but `x` is required",
    );
    let (_, diags) = expected("null", "string");
    assert_diag(
        only(&diags),
        "AQ0603",
        "`x` is required, so it cannot be `null`",
    );
    let (_, diags) = expected(".Raw", "string");
    assert_diag(
        only(&diags),
        "AQ0601",
        "expected `string` for `x`, found `json`",
    );
    let (_, diags) = expected(".AnnualRevenue", "int?");
    assert_diag(
        only(&diags),
        "AQ0601",
        "expected `int?` for `x`, found `decimal?`",
    );
    let (_, diags) = expected("[\"a\"]", "[int]");
    assert_diag(
        only(&diags),
        "AQ0601",
        "expected `int` for an element of `x`, found `string`",
    );
}
