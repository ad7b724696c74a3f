//! `if`, conditions and null narrowing.

use super::*;
use aqueduct_graph::ExprKind;

fn narrowings(text: &str) -> Vec<String> {
    let env = env();
    let mut diags = Vec::new();
    Typer::new(&env, FileId(0), &mut diags).narrowings(&parse_expr(text))
}

#[test]
fn conditions_prove_paths_present() {
    assert_eq!(narrowings(".AnnualRevenue != null"), [".AnnualRevenue"]);
    assert_eq!(narrowings("null != $x.y"), ["$x.y"]);
    assert_eq!(
        narrowings(".a != null and not ($x.y == null)"),
        ["$x.y", ".a"]
    );
    assert_eq!(narrowings(".a > 5 and .b == \"x\""), [".a", ".b"]);
    assert_eq!(narrowings("not (.a == null or .b == null)"), [".a", ".b"]);
    assert_eq!(
        narrowings(".(\"Billing Zip\") != null"),
        [".(\"Billing Zip\")"]
    );
    assert!(narrowings(".a != null or .b != null").is_empty());
    assert!(narrowings(".a == .b").is_empty());
    assert!(narrowings(".a == null").is_empty());
    assert!(narrowings(".Tags[0] != null").is_empty());
}

#[test]
fn if_unifies_its_branches() {
    assert_eq!(
        ty("if .AnnualRevenue > 1_000_000 { \"gold\" } else { \"standard\" }"),
        Type::String
    );
    assert_eq!(ty("if .Active { 1 } else { 2.5 }"), Type::Decimal);
    assert_eq!(
        ty("if .Active { \"a\" } else { null }"),
        Type::String.optional()
    );
    assert_eq!(ty("if .Active { 1 }"), Type::Int.optional());
    assert_eq!(
        ty("if .Active { 1 } else if .Name == \"x\" { 2 } else { 3 }"),
        Type::Int
    );
}

#[test]
fn if_branches_of_different_types() {
    let text = "if .Active { \"a\" } else { 1 }";
    let (_, diags) = typed(text);
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0601",
        "the branches of `if` have different types: `string` and `int`",
    );
    assert_eq!(primary(d), span(text, "1"));
    assert_eq!(d.labels[1].span, span(text, "\"a\""));
    assert!(!d.labels[1].primary);
}

#[test]
fn branches_see_what_the_condition_proved() {
    let (expr, diags) = typed("if .BillingCity != null { upper(.BillingCity) } else { \"none\" }");
    assert!(diags.is_empty());
    assert_eq!(expr.ty, Type::String);
    assert_eq!(
        ty("if .BillingCity == null { \"none\" } else { .BillingCity }"),
        Type::String
    );
    // Without the test the value may be null.
    assert_eq!(
        ty("if .Active { upper(.BillingCity) } else { \"none\" }"),
        Type::String.optional()
    );
}

#[test]
fn and_sees_what_its_left_side_proved() {
    let (expr, diags) = typed(".BillingCity != null and upper(.BillingCity) == \"X\"");
    assert!(diags.is_empty());
    let ExprKind::Binary { rhs, .. } = expr.kind else {
        panic!("binary")
    };
    let ExprKind::Binary { lhs: call, .. } = rhs.kind else {
        panic!("binary")
    };
    assert_eq!(call.ty, Type::String);
}

#[test]
fn conditions_must_be_bool() {
    let env = env();
    let mut diags = Vec::new();
    let mut typer = Typer::new(&env, FileId(0), &mut diags);
    for ok in [".Active", ".Name == \"x\"", ".Employees > 3 or .Active"] {
        typer.condition(&parse_expr(ok), &account());
    }
    let refused = typer.condition(&parse_expr(".Name"), &account());
    assert!(Typer::is_error(&refused));
    typer.condition(&parse_expr(".BillingCity"), &account());
    typer.condition(&parse_expr(".Raw.ok"), &account());
    assert_eq!(diags.len(), 3, "{diags:#?}");
    assert_diag(
        &diags[0],
        "AQ0602",
        "a condition must be `bool`, found `string`",
    );
    assert_eq!(primary(&diags[0]), span(".Name", ".Name"));
    assert_eq!(
        diags[0].help.as_deref(),
        Some("compare it, e.g. `… != \"\"` or `… == \"yes\"`")
    );
    assert_eq!(
        diags[1].help.as_deref(),
        Some("to test for a value, write `.BillingCity != null`")
    );
    assert_eq!(
        diags[2].help.as_deref(),
        Some("a json value may hold anything: compare it, e.g. `.Raw.ok == true`")
    );

    let (_, diags) = typed("if .Name { 1 } else { 2 }");
    assert_diag(
        only(&diags),
        "AQ0602",
        "a condition must be `bool`, found `string`",
    );
}
