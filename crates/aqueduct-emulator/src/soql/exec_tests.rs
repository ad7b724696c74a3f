//! Unit tests of running SOQL against a small seeded org: filters with
//! null semantics, ordering with nulls and ties, OFFSET/LIMIT, relationship
//! paths, deleted rows, typed literals, and the errors of wrong names.

use super::{parse, prepare, run};
use crate::org::State;
use crate::seed::Seed;
use serde_json::{Value, json};

const SEED: &str = r#"
objects:
  - name: Account
    fields:
      - {name: Name, type: string}
      - {name: Industry, type: picklist}
      - {name: Revenue__c, type: currency}
      - {name: Active__c, type: boolean}
      - {name: Since__c, type: date}
      - {name: ParentId, type: reference, reference_to: [Account], relationship_name: Parent, child_relationship_name: ChildAccounts}
    records:
      - {Name: acme, Industry: Energy, Revenue__c: 300, Active__c: true, Since__c: "2020-05-01"}
      - {Name: Globex, Industry: Retail, Revenue__c: 100, Since__c: "2019-01-01", ParentId: 001000000000001AAA}
      - {Name: Initech, Revenue__c: 200, ParentId: 001000000000002AAA}
      - {Name: Umbrella, Industry: energy}
"#;

/// The day date literals count from in these tests.
fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2020, 5, 3).expect("a date")
}

fn state() -> State {
    State::from_seed(&Seed::parse(SEED, "t").expect("seed")).expect("org")
}

/// Runs a query and returns one column of the rendered rows.
fn column(st: &State, soql: &str, field: &str) -> Vec<Value> {
    let q = parse(soql).unwrap_or_else(|e| panic!("{soql}: {}", e.message));
    let p = prepare(&st.schema, &q, today()).unwrap_or_else(|e| panic!("{soql}: {}", e.message));
    run(&st.schema, &st.data, &p, false)
        .iter()
        .map(|r| {
            let v = p.render(&st.schema, &st.data, r, "/services/data/v62.0", false);
            field
                .split('.')
                .fold(v, |acc, part| acc.get(part).cloned().unwrap_or(Value::Null))
        })
        .collect()
}

fn names(st: &State, soql: &str) -> Vec<Value> {
    column(st, soql, "Name")
}

#[test]
fn comparisons_treat_null_as_a_value() {
    let st = state();
    assert_eq!(
        names(&st, "SELECT Name FROM Account WHERE Industry = 'ENERGY'"),
        [json!("acme"), json!("Umbrella")]
    );
    assert_eq!(
        names(&st, "SELECT Name FROM Account WHERE Industry != 'Energy'"),
        [json!("Globex"), json!("Initech")]
    );
    assert_eq!(
        names(&st, "SELECT Name FROM Account WHERE Revenue__c > 150"),
        [json!("acme"), json!("Initech")]
    );
    assert_eq!(
        names(&st, "SELECT Name FROM Account WHERE Revenue__c <= 150"),
        [json!("Globex")]
    );
    assert_eq!(
        names(
            &st,
            "SELECT Name FROM Account WHERE Industry NOT IN ('Energy') AND Revenue__c != null"
        ),
        [json!("Globex"), json!("Initech")]
    );
    assert_eq!(
        names(
            &st,
            "SELECT Name FROM Account WHERE Active__c = true OR Since__c < 2020-01-01"
        ),
        [json!("acme"), json!("Globex")]
    );
    assert_eq!(
        names(
            &st,
            "SELECT Name FROM Account WHERE NOT (Industry = null OR Name LIKE 'A%')"
        ),
        [json!("Globex"), json!("Umbrella")]
    );
    assert_eq!(
        names(&st, "SELECT Name FROM Account WHERE Id = '001000000000002'"),
        [json!("Globex")]
    );
}

#[test]
fn ordering_nulls_ties_offset_and_limit() {
    let st = state();
    assert_eq!(
        names(&st, "SELECT Name FROM Account ORDER BY Industry, Name"),
        [
            json!("Initech"),
            json!("acme"),
            json!("Umbrella"),
            json!("Globex")
        ]
    );
    assert_eq!(
        names(&st, "SELECT Name FROM Account ORDER BY Revenue__c DESC"),
        [
            json!("acme"),
            json!("Initech"),
            json!("Globex"),
            json!("Umbrella")
        ]
    );
    assert_eq!(
        names(
            &st,
            "SELECT Name FROM Account ORDER BY Revenue__c DESC NULLS FIRST LIMIT 2"
        ),
        [json!("Umbrella"), json!("acme")]
    );
    assert_eq!(
        names(
            &st,
            "SELECT Name FROM Account ORDER BY Name LIMIT 2 OFFSET 1"
        ),
        [json!("Globex"), json!("Initech")]
    );
    assert_eq!(
        names(
            &st,
            "SELECT Name FROM Account WHERE Id > '001000000000002AAA' ORDER BY Id"
        ),
        [json!("Initech"), json!("Umbrella")]
    );
}

#[test]
fn relationship_paths_go_through_several_hops() {
    let st = state();
    assert_eq!(
        column(
            &st,
            "SELECT Parent.Parent.Name FROM Account WHERE Name = 'Initech'",
            "Parent.Parent.Name"
        ),
        [json!("acme")]
    );
    assert_eq!(
        column(
            &st,
            "SELECT Parent.Name FROM Account WHERE Name = 'acme'",
            "Parent"
        ),
        [Value::Null]
    );
    assert_eq!(
        names(
            &st,
            "SELECT Name FROM Account WHERE Parent.Industry = 'Retail'"
        ),
        [json!("Initech")]
    );
    assert_eq!(
        column(
            &st,
            "SELECT Name, (SELECT Name FROM ChildAccounts) FROM Account WHERE Name = 'acme'",
            "ChildAccounts.totalSize"
        ),
        [json!(1)]
    );
    assert_eq!(
        column(
            &st,
            "SELECT Account.Name FROM Account WHERE Name = 'Globex'",
            "Name"
        ),
        [json!("Globex")]
    );
}

#[test]
fn names_and_literals_are_checked_against_the_schema() {
    let st = state();
    let err = |soql: &str| {
        let q = parse(soql).expect("parses");
        prepare(&st.schema, &q, today())
            .map(|_| ())
            .expect_err(soql)
    };
    assert_eq!(err("SELECT Nope FROM Account").code, "INVALID_FIELD");
    assert_eq!(err("SELECT Owner.Name FROM Account").code, "INVALID_FIELD");
    assert_eq!(err("SELECT Id FROM Nope").code, "INVALID_TYPE");
    assert_eq!(
        err("SELECT Id, (SELECT Id FROM Nope) FROM Account").code,
        "INVALID_TYPE"
    );
    assert_eq!(
        err("SELECT Id FROM Account WHERE Revenue__c = '1'").code,
        "INVALID_QUERY_FILTER_OPERATOR"
    );
    assert_eq!(
        err("SELECT Id FROM Account WHERE Name = 1").code,
        "INVALID_QUERY_FILTER_OPERATOR"
    );
    assert_eq!(
        err("SELECT Id FROM Account WHERE Since__c = 2020-01-01T00:00:00Z").code,
        "INVALID_QUERY_FILTER_OPERATOR"
    );
    assert_eq!(
        err("SELECT Id FROM Account WHERE Id = 'nope'").message,
        "invalid ID field: nope"
    );
    assert_eq!(
        err("SELECT Id FROM Account WHERE Revenue__c > null").code,
        "INVALID_QUERY_FILTER_OPERATOR"
    );
    assert_eq!(
        err("SELECT Id FROM Account WHERE Revenue__c LIKE '1%'").code,
        "INVALID_QUERY_FILTER_OPERATOR"
    );
    assert_eq!(
        err("SELECT COUNT(), Name FROM Account").code,
        "MALFORMED_QUERY"
    );
}

#[test]
fn deleted_rows_only_in_query_all() {
    let mut st = state();
    let ctx = crate::dml::WriteCtx {
        user_id: st.default_user(),
        ..Default::default()
    };
    crate::dml::delete(&mut st, 1, "001000000000004AAA", &ctx).expect("deletes");
    let q = parse("SELECT Name FROM Account WHERE Name = 'Umbrella'").expect("parses");
    let p = prepare(&st.schema, &q, today()).expect("prepares");
    assert_eq!(run(&st.schema, &st.data, &p, false).len(), 0);
    assert_eq!(run(&st.schema, &st.data, &p, true).len(), 1);
}

#[test]
fn day_literals_are_ranges_of_whole_days_up_to_today() {
    let st = state();
    let names = |soql: &str| column(&st, soql, "Name");
    // today is 2020-05-03: Since__c 2020-05-01 is two days ago
    assert_eq!(
        names("SELECT Name FROM Account WHERE Since__c = LAST_N_DAYS:2"),
        [json!("acme")]
    );
    assert!(names("SELECT Name FROM Account WHERE Since__c = LAST_N_DAYS:1").is_empty());
    assert!(names("SELECT Name FROM Account WHERE Since__c = TODAY").is_empty());
    assert!(names("SELECT Name FROM Account WHERE Since__c = YESTERDAY").is_empty());
    // `<` is before the range's first day, `>` after its last
    assert_eq!(
        names("SELECT Name FROM Account WHERE Since__c < LAST_N_DAYS:2"),
        [json!("Globex")]
    );
    assert!(names("SELECT Name FROM Account WHERE Since__c > YESTERDAY").is_empty());
    assert_eq!(
        names("SELECT Name FROM Account WHERE Since__c = LAST_90_DAYS"),
        [json!("acme")]
    );
    assert!(names("SELECT Name FROM Account WHERE Since__c = NEXT_N_DAYS:5").is_empty());
    // datetimes: the records were created at the real time now, years
    // after these tests' today
    let created = |soql: &str| column(&st, soql, "Name").len();
    assert_eq!(
        created("SELECT Name FROM Account WHERE CreatedDate > TODAY"),
        4
    );
    assert_eq!(
        created("SELECT Name FROM Account WHERE CreatedDate = TODAY"),
        0
    );
    let e = parse("SELECT Id FROM Account WHERE Since__c = LAST_N_DAYS:x").expect_err("no number");
    assert!(
        e.message.contains("LAST_N_DAYS needs a whole number"),
        "{}",
        e.message
    );
    let q = parse("SELECT Id FROM Account WHERE Name = TODAY").expect("parses");
    let e = prepare(&st.schema, &q, today()).expect_err("a text field");
    assert_eq!(e.code, "INVALID_QUERY_FILTER_OPERATOR");
}
