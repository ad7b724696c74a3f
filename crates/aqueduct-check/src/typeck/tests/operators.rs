//! Operators: arithmetic, comparisons, logic, `in`, `??`.

use super::*;
use aqueduct_graph::ExprKind;

#[test]
fn arithmetic_widens_int() {
    assert_eq!(ty("1 + 2 * 3 % 4"), Type::Int);
    assert_eq!(ty(".Employees * 2"), Type::Int.optional());
    assert_eq!(ty(".Score + 1"), Type::Float.optional());
    assert_eq!(ty(".Score * 1.5"), Type::Float.optional());
    assert_eq!(ty("-.AnnualRevenue"), Type::Decimal.optional());
    let (expr, diags) = typed("1 + 2.5");
    assert!(diags.is_empty());
    assert_eq!(expr.ty, Type::Decimal);
    let ExprKind::Binary { lhs, .. } = expr.kind else {
        panic!("binary")
    };
    assert!(
        matches!(
            lhs.kind,
            ExprKind::Convert {
                to: Type::Decimal,
                ..
            }
        ),
        "{lhs:?}"
    );
}

#[test]
fn decimal_and_float_do_not_mix() {
    let text = ".AnnualRevenue + .Score";
    let (expr, diags) = typed(text);
    assert!(Typer::is_error(&expr));
    let d = only(&diags);
    assert_diag(d, "AQ0606", "`+` does not apply to `decimal?` and `float?`");
    assert_eq!(primary(d), span(text, "+"));
    assert_eq!(d.labels[1].span, span(text, ".AnnualRevenue"));
    assert_eq!(
        d.help.as_deref(),
        Some("convert one side with `to_decimal(…)` or `to_float(…)`")
    );
}

#[test]
fn strings_and_timestamps_have_their_operators() {
    assert_eq!(ty("\"a\" + .Name"), Type::String);
    assert_eq!(ty(".LastModifiedDate + 5m"), Type::Timestamp);
    assert_eq!(ty(".LastModifiedDate - 1d"), Type::Timestamp);
    let (_, diags) = typed("\"total: \" + 1");
    let d = only(&diags);
    assert_diag(d, "AQ0606", "`+` does not apply to `string` and `int`");
    assert_eq!(
        d.help.as_deref(),
        Some("build text with interpolation instead: `\"{.a}{.b}\"`")
    );
    let (_, diags) = typed(".Raw * 2");
    assert_diag(
        only(&diags),
        "AQ0606",
        "`*` does not apply to `json` and `int`",
    );
}

#[test]
fn comparisons_accept_optionals_and_mixed_numbers() {
    assert_eq!(ty(".AnnualRevenue > 1_000_000"), Type::Bool);
    assert_eq!(ty(".Employees <= 2.5"), Type::Bool);
    assert_eq!(ty(".Name >= \"M\""), Type::Bool);
    assert_eq!(ty(".Signup < \"2026-01-31\""), Type::Bool);
    let (expr, diags) = typed(".LastModifiedDate > \"2026-01-01T00:00:00Z\"");
    assert!(diags.is_empty());
    let ExprKind::Binary { rhs, .. } = expr.kind else {
        panic!("binary")
    };
    assert!(matches!(
        rhs.kind,
        ExprKind::Convert {
            to: Type::Timestamp,
            ..
        }
    ));

    let text = ".LastModifiedDate > \"yesterday\"";
    let (_, diags) = typed(text);
    let d = only(&diags);
    assert_eq!(d.code.as_str(), "AQ0601");
    assert_eq!(primary(d), span(text, "\"yesterday\""));

    let (_, diags) = typed(".Name < 3");
    assert_diag(
        only(&diags),
        "AQ0606",
        "`<` does not apply to `string` and `int`",
    );
}

#[test]
fn equality_compares_compatible_types_and_null() {
    assert_eq!(ty(".BillingCity == \"Paris\""), Type::Bool);
    assert_eq!(ty(".Name != null"), Type::Bool);
    assert_eq!(ty("null == .Address"), Type::Bool);
    assert_eq!(ty(".Employees == 1.0"), Type::Bool);
    assert_eq!(ty(".Raw == 1"), Type::Bool);
    let (_, diags) = typed(".Name == 1");
    assert_diag(
        only(&diags),
        "AQ0606",
        "`==` does not apply to `string` and `int`",
    );
}

#[test]
fn logic_needs_bools() {
    assert_eq!(ty(".Active and not .Active or true"), Type::Bool);
    let text = ".Name != null and .Name";
    let (_, diags) = typed(text);
    let d = only(&diags);
    assert_diag(d, "AQ0606", "`and` needs `bool` operands, found `string`");
    assert_eq!(primary(d), last_span(text, ".Name"));
    let (_, diags) = typed("not .Name");
    assert_diag(only(&diags), "AQ0606", "`not` needs `bool`, found `string`");
    let (_, diags) = typed("-.Name");
    assert_diag(only(&diags), "AQ0606", "`-` needs a number, found `string`");
}

#[test]
fn membership() {
    assert_eq!(ty(".Name in .Tags"), Type::Bool);
    assert_eq!(ty(".BillingCity in [\"Paris\", \"Lyon\"]"), Type::Bool);
    assert_eq!(ty("\"Ac\" in .Name"), Type::Bool);
    let (_, diags) = typed("1 in .Tags");
    assert_diag(
        only(&diags),
        "AQ0606",
        "`in` does not apply to `int` and `[string]?`",
    );
}

#[test]
fn coalesce_removes_null() {
    assert_eq!(ty(".BillingCity ?? \"unknown\""), Type::String);
    assert_eq!(ty(".Employees ?? 1.5"), Type::Decimal);
    assert_eq!(ty(".BillingCity ?? .Address.city"), Type::String.optional());
    assert_eq!(ty(".Raw ?? 1"), Type::Json);
    let text = ".BillingCity ?? 1";
    let (_, diags) = typed(text);
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0601",
        "the fallback after `??` must be `string`, found `int`",
    );
    assert_eq!(primary(d), span(text, "1"));
}

#[test]
fn coalesce_on_a_required_value_warns() {
    let text = ".Name ?? \"x\"";
    let (expr, diags) = typed(text);
    assert_eq!(expr.ty, Type::String);
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0609",
        "`.Name` is never null, so the fallback after `??` is never used",
    );
    assert_eq!(primary(d), span(text, ".Name"));
    assert_eq!(d.help.as_deref(), Some("remove `?? …`"));
}

#[test]
fn one_mistake_gives_one_diagnostic() {
    let (expr, diags) = typed("upper(.Nme + 1) == \"x\" and .Nme > 2");
    assert_eq!(expr.ty, Type::Bool);
    let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["AQ0206", "AQ0206"], "{diags:#?}");
    let (expr, diags) = typed("(if .Nme { 1 } else { 2 }) + 1");
    assert_eq!(expr.ty, Type::Int);
    assert_eq!(diags.len(), 1, "{diags:#?}");
}
