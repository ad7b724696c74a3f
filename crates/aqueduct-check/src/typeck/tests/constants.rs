//! Constant evaluation for test records and stub answers.

use super::*;
use aqueduct_graph::Value;

fn constant(text: &str, expected: Option<&str>) -> (Option<Value>, Vec<Diagnostic>) {
    let env = env();
    let mut diags = Vec::new();
    let expected = expected.map(|t| Type::parse(t).expect("test types parse"));
    let value =
        Typer::new(&env, FileId(0), &mut diags).constant(&parse_expr(text), expected.as_ref());
    (value, diags)
}

fn value(text: &str, expected: Option<&str>) -> Value {
    let (value, diags) = constant(text, expected);
    assert!(diags.is_empty(), "{text}: {diags:#?}");
    value.expect("no diagnostics, so a value")
}

#[test]
fn literals_convert_to_the_expected_type() {
    assert_eq!(value("12", Some("decimal")), Value::Decimal("12".into()));
    assert_eq!(
        value("-12.50", Some("decimal")),
        Value::Decimal("-12.50".into())
    );
    assert_eq!(value("2", Some("float")), Value::Float(2.0));
    assert_eq!(value("2.5", Some("float?")), Value::Float(2.5));
    assert_eq!(value("-3", None), Value::Int(-3));
    assert_eq!(
        value("\"2026-01-31\"", Some("date")),
        Value::Date("2026-01-31".into())
    );
    assert_eq!(value("30s", None), Value::Duration(30_000));
    assert_eq!(value("null", Some("string?")), Value::Null);
    assert_eq!(
        value("[1, 2]", Some("[decimal]")),
        Value::List(vec![Value::Decimal("1".into()), Value::Decimal("2".into())])
    );
    assert_eq!(value("\"x\"", Some("json")), Value::String("x".into()));
}

#[test]
fn records_fill_every_slot() {
    let text = "Account { Id = \"001\", Name = \" Acme \", AnnualRevenue = 2000000,
                LastModifiedDate = \"2026-01-01T00:00:00Z\" }";
    let Value::Record { ty, fields } = value(text, Some("Account")) else {
        panic!("a record")
    };
    assert_eq!(ty, "Account");
    assert_eq!(fields.len(), 13);
    assert_eq!(fields[0], Value::String("001".into()));
    assert_eq!(fields[3], Value::Decimal("2000000".into()));
    assert_eq!(fields[4], Value::Timestamp("2026-01-01T00:00:00Z".into()));
    assert_eq!(fields[2], Value::Null);
    // Typed by the context when the literal does not name its type.
    let Value::Record { ty, .. } = value("{ sku = \"a\", qty = 1 }", Some("Line")) else {
        panic!("a record")
    };
    assert_eq!(ty, "Line");
    let nested = value("[{ sku = \"a\", qty = 1 }]", Some("[Line]"));
    assert!(matches!(&nested, Value::List(items) if matches!(&items[0], Value::Record { .. })));
}

#[test]
fn untyped_records_are_objects() {
    assert_eq!(
        value("{ rate = 1.5, tags = [\"a\"] }", None),
        Value::Object(vec![
            ("rate".into(), Value::Decimal("1.5".into())),
            ("tags".into(), Value::List(vec![Value::String("a".into())])),
        ])
    );
    let (_, diags) = constant("{ a = 1, a = 2 }", None);
    assert_diag(only(&diags), "AQ0207", "field `a` is assigned twice");
}

#[test]
fn record_problems_are_reported() {
    let (value, diags) = constant("Account { Id = \"1\", Name = \"x\" }", Some("Account"));
    assert_eq!(value, None);
    assert_diag(
        only(&diags),
        "AQ0605",
        "this `Account` record is missing required field `LastModifiedDate`",
    );
    let text = "Line { sku = \"a\", qty = 1, qtty = 2 }";
    let (_, diags) = constant(text, None);
    let d = only(&diags);
    assert_diag(d, "AQ0206", "`Line` has no field `qtty`");
    assert_eq!(d.help.as_deref(), Some("did you mean `qty`?"));
    let (_, diags) = constant("Line { sku = null, qty = 1 }", None);
    assert_diag(
        only(&diags),
        "AQ0603",
        "field `sku` of `Line` is required, so it cannot be `null`",
    );
    let (_, diags) = constant("Line { sku = 1, qty = 1 }", None);
    assert_diag(
        only(&diags),
        "AQ0601",
        "expected `string` for field `sku` of `Line`, found `int`",
    );
    let (_, diags) = constant("[1]", Some("string"));
    assert_diag(
        only(&diags),
        "AQ0601",
        "expected `string` for this value, found a list",
    );
}

#[test]
fn timestamps_are_checked() {
    let (_, diags) = constant("\"2026-01-01 noon\"", Some("timestamp"));
    let d = only(&diags);
    assert_eq!(d.code.as_str(), "AQ0601");
    assert!(
        d.message
            .starts_with("`\"2026-01-01 noon\"` is not a valid timestamp for this value"),
        "{d:#?}"
    );
}

#[test]
fn computed_values_are_refused() {
    for text in [
        ".Name",
        "upper(\"a\")",
        "1 + 2",
        "\"a{.Id}\"",
        "Line { ..., sku = \"a\", qty = 1 }",
    ] {
        let (value, diags) = constant(text, None);
        assert_eq!(value, None);
        let d = only(&diags);
        assert_eq!(d.code.as_str(), "AQ0805", "{text}");
        assert!(
            d.message.starts_with("test values must be constants"),
            "{d:#?}"
        );
    }
    let text = "Line { sku = .Name, qty = 1 }";
    let (_, diags) = constant(text, None);
    assert_eq!(primary(only(&diags)), span(text, ".Name"));
}
