//! Paths, bindings and bare names.

use super::*;
use aqueduct_graph::ExprKind;

#[test]
fn fields_carry_their_slot_and_type() {
    let (expr, diags) = typed(".Name");
    assert!(diags.is_empty());
    assert_eq!(expr.ty, Type::String);
    let ExprKind::Field { base, name, slot } = expr.kind else {
        panic!("a field")
    };
    assert_eq!((name.as_str(), slot), ("Name", Some(1)));
    assert_eq!(base.kind, ExprKind::Current);
    assert_eq!(ty("."), Type::Record("Account".into()));
    assert_eq!(ty(".BillingCity"), Type::String.optional());
    assert_eq!(ty(".(\"Billing Zip\")"), Type::String.optional());
}

#[test]
fn unknown_field_suggests_and_lists_fields() {
    let text = ".Nme";
    let (expr, diags) = typed(text);
    assert!(Typer::is_error(&expr));
    let d = only(&diags);
    assert_diag(d, "AQ0206", "`Account` has no field `Nme`");
    assert_eq!(primary(d), span(text, "Nme"));
    assert_eq!(d.help.as_deref(), Some("did you mean `Name`?"));
    assert!(
        d.notes[0].starts_with("the fields of `Account` are `Id`, `Name`, `BillingCity`"),
        "{:?}",
        d.notes
    );
    assert!(d.notes[0].contains("`(\"Billing Zip\")`"), "{:?}", d.notes);
}

#[test]
fn optional_records_propagate_null() {
    assert_eq!(ty(".Address.street"), Type::String.optional());
    assert_eq!(ty(".Address.city"), Type::String.optional());
    let scope = account().narrowed([".Address".to_string()]);
    let (expr, diags) = typed_in(".Address.street", &scope);
    assert!(diags.is_empty());
    assert_eq!(expr.ty, Type::String);
}

#[test]
fn narrowed_paths_lose_their_optional() {
    let scope = account().narrowed([
        ".AnnualRevenue".to_string(),
        ".(\"Billing Zip\")".to_string(),
    ]);
    assert_eq!(typed_in(".AnnualRevenue", &scope).0.ty, Type::Decimal);
    assert_eq!(typed_in(".(\"Billing Zip\")", &scope).0.ty, Type::String);
    assert_eq!(
        typed_in(".BillingCity", &scope).0.ty,
        Type::String.optional()
    );
}

#[test]
fn json_fields_are_read_by_name() {
    let (expr, diags) = typed(".Raw.items[0].name");
    assert!(diags.is_empty());
    assert_eq!(expr.ty, Type::Json);
    let ExprKind::Field { slot, name, .. } = expr.kind else {
        panic!("a field")
    };
    assert_eq!((name.as_str(), slot), ("name", None));
}

#[test]
fn indexing_gives_optional_elements() {
    assert_eq!(ty(".Tags[0]"), Type::String.optional());
    let text = ".Tags[\"first\"]";
    let (_, diags) = typed(text);
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0601",
        "expected `int` for a list index, found `string`",
    );
    assert_eq!(primary(d), span(text, "\"first\""));
}

#[test]
fn fields_and_indexes_of_scalars_are_refused() {
    let text = ".Name.first";
    let (_, diags) = typed(text);
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0610",
        "`.Name` is `string`, not a record, so it has no field `first`",
    );
    assert_eq!(primary(d), span(text, "first"));

    let text = ".Name[0]";
    let (_, diags) = typed(text);
    assert_diag(
        only(&diags),
        "AQ0610",
        "`.Name` is `string`, not a list, so it cannot be indexed",
    );

    let (_, diags) = typed(".Tags.first");
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0610",
        "`.Tags` is `[string]?`, not a record, so it has no field `first`",
    );
    assert_eq!(
        d.help.as_deref(),
        Some("pick an element first, e.g. `.Tags[0].first`")
    );
}

#[test]
fn bindings_come_from_the_scope() {
    let mut scope = account();
    scope
        .bindings
        .push(("addr".into(), Type::Record("Address".into())));
    assert_eq!(typed_in("$addr.city", &scope).0.ty, Type::String.optional());
    assert_eq!(
        typed_in("$addr.city", &scope.narrowed(["$addr.city".to_string()]))
            .0
            .ty,
        Type::String
    );

    let text = "$adr.city";
    let (expr, diags) = typed_in(text, &scope);
    assert!(Typer::is_error(&expr));
    let d = only(&diags);
    assert_diag(d, "AQ0209", "there is no binding `$adr` here");
    assert_eq!(d.help.as_deref(), Some("did you mean `$addr`?"));

    let (_, diags) = typed("$rate");
    assert_eq!(
        only(&diags).help.as_deref(),
        Some("bind it in an earlier step with `let rate = …` or `enrich rate = …`")
    );
}

#[test]
fn dot_needs_a_current_record() {
    let text = ".Name";
    let (_, diags) = typed_in(text, &Scope::default());
    let d = only(&diags);
    assert_diag(
        d,
        "AQ0206",
        "there is no current record here, so `.` cannot be read",
    );
    assert_eq!(primary(d), span(text, ".Name"));
}

#[test]
fn bare_names_suggest_a_field() {
    let text = "upper(Name)";
    let (_, diags) = typed(text);
    let d = only(&diags);
    assert_diag(d, "AQ0608", "`Name` is a bare name, not a value");
    assert_eq!(primary(d), span(text, "Name"));
    assert_eq!(
        d.help.as_deref(),
        Some("did you mean `.Name`? Fields of the current record are read with a leading dot")
    );

    let (_, diags) = typed("gold");
    assert_eq!(
        only(&diags).help.as_deref(),
        Some("did you mean `.gold`? Write `\"gold\"` for text")
    );
}
