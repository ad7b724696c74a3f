//! The flow and test of the design sketch, typed the way the checker uses
//! the typer: the `where` condition narrows the `map` that follows it.

use super::*;
use aqueduct_graph::Value;

const SKETCH: &str = r#"
flow accounts_to_erp {
  mode async
  from crm.changes("Account") as Account
  where .AnnualRevenue != null
  map Customer {
    external_id = .Id
    name = trim(.Name)
    city = .BillingCity ?? "unknown"
    tier = if .AnnualRevenue > 1_000_000 { "gold" } else { "standard" }
  }
  to erp.upsert("customers", key: [external_id])
  retry 5 backoff exponential(1s, 1m)
  dead_letter file("dlq").append("accounts.jsonl")
}

test gold_accounts for accounts_to_erp {
  given Account { Id = "001", Name = " Acme ", AnnualRevenue = 2000000,
                  LastModifiedDate = "2026-01-01T00:00:00Z" }
  expect Customer { external_id = "001", name = "Acme", city = "unknown", tier = "gold" }
}
"#;

/// The `where` condition and the `map` block of the sketch's flow, and the
/// `given` and `expect` records of its test.
fn sketch() -> (ast::Expr, ast::RecordLit, ast::Expr, ast::Expr) {
    let file = parse_file(SKETCH);
    let ast::Decl::Flow(flow) = &file.decls[0] else {
        panic!("a flow")
    };
    let steps: Vec<&ast::StepKind> = flow
        .items
        .iter()
        .filter_map(|i| match i {
            ast::FlowItem::Step(s) => Some(&s.kind),
            _ => None,
        })
        .collect();
    let (ast::StepKind::Where(cond), ast::StepKind::Map(map)) = (steps[0], steps[1]) else {
        panic!("where, map")
    };
    let ast::Decl::Test(test) = &file.decls[1] else {
        panic!("a test")
    };
    let ast::TestItem::Given { record: given, .. } = &test.items[0] else {
        panic!("given")
    };
    let ast::TestItem::Expect {
        what: ast::Expectation::Record(expect),
        ..
    } = &test.items[1]
    else {
        panic!("expect")
    };
    (cond.clone(), map.clone(), given.clone(), expect.clone())
}

#[test]
fn the_sketch_flow_type_checks() {
    let (cond, map, _, _) = sketch();
    let env = env();
    let mut diags = Vec::new();
    let mut typer = Typer::new(&env, FileId(0), &mut diags);
    let scope = account();
    let typed_cond = typer.condition(&cond, &scope);
    assert_eq!(typed_cond.ty, Type::Bool);
    let scope = scope.narrowed(typer.narrowings(&cond));
    assert!(scope.non_null.contains(".AnnualRevenue"));
    let customer = typer.map_block(&map, &scope);
    assert_eq!(customer.ty, Type::Record("Customer".into()));
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn without_the_where_the_map_still_checks() {
    // `>` treats null as false, so the `if` does not need the narrowing.
    let (_, map, _, _) = sketch();
    let env = env();
    let mut diags = Vec::new();
    Typer::new(&env, FileId(0), &mut diags).map_block(&map, &account());
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn the_sketch_test_records_are_constants() {
    let (_, _, given, expect) = sketch();
    let env = env();
    let mut diags = Vec::new();
    let mut typer = Typer::new(&env, FileId(0), &mut diags);
    let account = typer.constant(&given, Some(&Type::Record("Account".into())));
    let customer = typer.constant(&expect, None);
    assert!(diags.is_empty(), "{diags:#?}");
    let Some(Value::Record { fields, .. }) = account else {
        panic!("a record")
    };
    assert_eq!(fields[3], Value::Decimal("2000000".into()));
    assert_eq!(
        customer,
        Some(Value::Record {
            ty: "Customer".into(),
            fields: ["001", "Acme", "unknown", "gold"]
                .map(|s| Value::String(s.into()))
                .to_vec(),
        })
    );
}
