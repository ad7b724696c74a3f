//! Built-in function calls.

use super::*;
use aqueduct_graph::{ExprKind, Func};

#[test]
fn string_functions() {
    assert_eq!(ty("trim(.Name)"), Type::String);
    assert_eq!(ty("upper(.BillingCity)"), Type::String.optional());
    assert_eq!(ty("replace(.Name, \"a\", \"b\")"), Type::String);
    assert_eq!(
        ty("split(.Name, \" \")"),
        Type::List(Box::new(Type::String))
    );
    assert_eq!(ty("join(.Tags, \",\")"), Type::String.optional());
    assert_eq!(ty("substring(.Name, 0, 3)"), Type::String);
    assert_eq!(ty("substring(.Name, 2)"), Type::String);
    assert_eq!(
        ty("contains(.Name, \"x\") and starts_with(.Id, \"0\") and ends_with(.Id, \"1\")"),
        Type::Bool
    );
    assert_eq!(ty("len(.Name) + len(.Tags ?? [])"), Type::Int);
    assert_eq!(ty("len(.Raw)"), Type::Int.optional());
    assert_eq!(ty("sha256(.Id) + uuid()"), Type::String);
}

#[test]
fn concat_joins_strings_or_lists_and_skips_null() {
    assert_eq!(ty("concat(\"a\", .BillingCity, \"b\")"), Type::String);
    assert_eq!(
        ty("concat(.Tags ?? [], [\"x\"])"),
        Type::List(Box::new(Type::String))
    );
    let (_, diags) = typed("concat(\"a\", 1)");
    assert_diag(
        only(&diags),
        "AQ0601",
        "`concat` needs strings, or lists of one type, found `string`, `int`",
    );
}

#[test]
fn numeric_functions_keep_their_type() {
    assert_eq!(ty("round(.AnnualRevenue, 2)"), Type::Decimal.optional());
    assert_eq!(ty("abs(-3)"), Type::Int);
    assert_eq!(ty("min(1, 2.5)"), Type::Decimal);
    let (expr, _) = typed("max(.Employees, 2.5)");
    assert_eq!(expr.ty, Type::Decimal.optional());
    let ExprKind::Call {
        func: Func::Max,
        args,
    } = expr.kind
    else {
        panic!("a call")
    };
    assert!(matches!(args[0].kind, ExprKind::Convert { .. }));
    let (_, diags) = typed("max(.AnnualRevenue, .Score)");
    assert_diag(
        only(&diags),
        "AQ0601",
        "`max` needs numbers of one kind, found `decimal?`, `float?`",
    );
}

#[test]
fn time_and_conversion_functions() {
    assert_eq!(ty("now()"), Type::Timestamp);
    assert_eq!(ty("parse_timestamp(.Name)"), Type::Timestamp.optional());
    assert_eq!(
        ty("format_timestamp(.LastModifiedDate, \"%Y\")"),
        Type::String
    );
    assert_eq!(
        ty("format_timestamp(\"2026-01-01T00:00:00Z\", \"%Y\")"),
        Type::String
    );
    // `to_string(null)` is "", so the result is never null.
    assert_eq!(ty("to_string(.BillingCity)"), Type::String);
    assert_eq!(ty("to_json(.Address)"), Type::String);
    assert_eq!(ty("to_int(\"12\")"), Type::Int.optional());
    assert_eq!(ty("to_decimal(.Raw.amount)"), Type::Decimal.optional());
    assert_eq!(ty("to_float(.Employees)"), Type::Float.optional());
    assert_eq!(ty("parse_json(.Name)"), Type::Json);
}

#[test]
fn unknown_functions_suggest_a_name() {
    let text = "uper(.Name)";
    let (expr, diags) = typed(text);
    assert!(Typer::is_error(&expr));
    let d = only(&diags);
    assert_diag(d, "AQ0208", "there is no function `uper`");
    assert_eq!(primary(d), span(text, "uper"));
    assert_eq!(d.help.as_deref(), Some("did you mean `upper`?"));
    let (_, diags) = typed("secret(\"KEY\")");
    assert_diag(
        only(&diags),
        "AQ0208",
        "`secret()` can only be used as the value of a `system` option",
    );
}

#[test]
fn wrong_number_of_arguments() {
    let text = "substring(.Name)";
    let (expr, diags) = typed(text);
    // The result type is known, so nothing else is reported.
    assert_eq!(expr.ty, Type::String);
    let d = only(&diags);
    assert_diag(d, "AQ0604", "`substring` takes 2 or 3 arguments, got 1");
    assert_eq!(primary(d), span(text, text));
    assert_eq!(
        d.help.as_deref(),
        Some("call it as `substring(text, start, length?)`")
    );
    let (_, diags) = typed("upper(.Name, .Id)");
    assert_diag(only(&diags), "AQ0604", "`upper` takes 1 argument, got 2");
    let (_, diags) = typed("now(1)");
    assert_diag(only(&diags), "AQ0604", "`now` takes no arguments, got 1");
    let (_, diags) = typed("concat()");
    assert_diag(
        only(&diags),
        "AQ0604",
        "`concat` takes at least 1 argument, got 0",
    );
    let (_, diags) = typed("round(.AnnualRevenue, digits: 2)");
    assert_diag(only(&diags), "AQ0604", "`round` takes no named arguments");
}

#[test]
fn wrong_argument_types() {
    let text = "upper(.Employees)";
    let (_, diags) = typed(text);
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0601",
        "expected `string` for argument 1 of `upper`, found `int?`",
    );
    assert_eq!(primary(d), span(text, ".Employees"));
    assert_eq!(
        d.help.as_deref(),
        Some("convert it with `to_string(…)`, or write it inside a string: `\"{…}\"`")
    );
    assert_eq!(d.notes, ["`upper` is called as `upper(text)`"]);
    let (_, diags) = typed("round(.Name)");
    assert_diag(
        only(&diags),
        "AQ0601",
        "expected a number for argument 1 of `round`, found `string`",
    );
    let (_, diags) = typed("len(1)");
    assert_diag(
        only(&diags),
        "AQ0601",
        "expected a string or a list for argument 1 of `len`, found `int`",
    );
    let (_, diags) = typed("format_timestamp(.Name, \"%Y\")");
    assert_diag(
        only(&diags),
        "AQ0601",
        "expected `timestamp` for argument 1 of `format_timestamp`, found `string`",
    );
    let (_, diags) = typed("upper(.Raw.name)");
    assert_eq!(
        only(&diags).help.as_deref(),
        Some("convert it with `to_string(…)`")
    );
}
