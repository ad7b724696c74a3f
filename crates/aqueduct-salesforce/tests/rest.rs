//! REST reads against the emulator: `query` past 2,000 records through
//! `nextRecordsUrl`, relationship fields, `get`, and `query` as a lookup
//! with values that try to break out of their SOQL literal.

mod common;

use aqueduct_runtime::value::Value;
use common::*;

const GENERATED: &str = "
objects:
  - name: Account
    fields:
      - { name: Name, type: string, required: true }
      - { name: AnnualRevenue, type: currency }
      - { name: Ext_Id__c, type: string, external_id: true, unique: true }
    generate:
      - count: 2500
        fields: { Name: \"Generated {n}\", Ext_Id__c: \"G-{n}\" }
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_follows_every_page_past_2000_records() {
    let emulator = start_yaml(GENERATED).await;
    let s = schemas(&[(
        "Account",
        &[
            ("Id", "string"),
            ("Name", "string"),
            ("CreatedDate", "timestamp"),
            ("Ext_Id__c", "string?"),
        ],
    )]);
    let (cx, _stop) = context(
        client_credentials(emulator.instance_url()),
        "query",
        vec![(
            "soql",
            lit("SELECT Id, Name, CreatedDate, Ext_Id__c FROM Account"),
        )],
        "Account",
        &s,
        false,
    );
    let f = connector();
    let records = drain(source(&f, &cx)).await.expect("query runs");
    assert_eq!(records.len(), 2500);
    let mut ids: Vec<String> = records
        .iter()
        .map(|r| r.as_ref().expect("decoded").field("Ext_Id__c").to_text())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2500, "every record once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_reads_relationship_fields_by_dotted_name() {
    let emulator = start(aqueduct_emulator::Seed::builtin()).await;
    let s = schemas(&[(
        "ContactRow",
        &[
            ("LastName", "string"),
            ("Account.Name", "string?"),
            ("Email", "string?"),
        ],
    )]);
    let (cx, _stop) = context(
        client_credentials(emulator.instance_url()),
        "query",
        vec![(
            "soql",
            lit("SELECT LastName, Email, Account.Name FROM Contact ORDER BY LastName"),
        )],
        "ContactRow",
        &s,
        false,
    );
    let f = connector();
    let rows: Vec<String> = drain(source(&f, &cx))
        .await
        .expect("query runs")
        .into_iter()
        .map(|r| r.expect("decoded").to_json_string())
        .collect();
    assert_eq!(
        rows,
        [
            r#"{"LastName":"Hopper","Account.Name":"Globex","Email":"grace@globex.example"}"#,
            r#"{"LastName":"Lovelace","Account.Name":"Acme","Email":"ada@acme.example"}"#,
            r#"{"LastName":"Turing","Account.Name":"Acme","Email":"alan@acme.example"}"#,
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_query_fails_with_salesforces_error() {
    let emulator = start(aqueduct_emulator::Seed::builtin()).await;
    let s = schemas(&[("Account", &[("Id", "string")])]);
    let (cx, _stop) = context(
        client_credentials(emulator.instance_url()),
        "query",
        vec![("soql", lit("SELECT Colour__c FROM Account"))],
        "Account",
        &s,
        false,
    );
    let f = connector();
    let e = drain(source(&f, &cx)).await.expect_err("refused");
    let text = e.to_string();
    assert!(
        text.starts_with("`crm`: query: HTTP 400 INVALID_FIELD:"),
        "{text}"
    );
    assert!(!e.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_reads_one_record_and_answers_null_when_missing() {
    let emulator = start(aqueduct_emulator::Seed::builtin()).await;
    let s = schemas(&[
        ("Key", &[("account_id", "string")]),
        (
            "Account",
            &[
                ("Id", "string"),
                ("Name", "string"),
                ("AnnualRevenue", "decimal?"),
            ],
        ),
    ]);
    let (cx, _stop) = context(
        client_credentials(emulator.instance_url()),
        "get",
        vec![
            ("object", lit("Account")),
            ("id", template("{.account_id}")),
            ("fields", fields(&["Id", "Name", "AnnualRevenue"])),
        ],
        "Account?",
        &s,
        false,
    );
    let f = connector();
    let get = call(&f, &cx);
    let found = get
        .call(&record(
            &s,
            "Key",
            serde_json::json!({"account_id": "001000000000002AAA"}),
        ))
        .await
        .expect("get");
    assert_eq!(
        found.to_json_string(),
        r#"{"Id":"001000000000002AAA","Name":"Globex","AnnualRevenue":800000}"#
    );
    let missing = get
        .call(&record(
            &s,
            "Key",
            serde_json::json!({"account_id": "001000000000999AAA"}),
        ))
        .await
        .expect("get");
    assert_eq!(missing, Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_values_are_quoted_and_escaped_as_soql_literals() {
    let seed = r#"
objects:
  - name: Account
    fields:
      - { name: Name, type: string, required: true }
    records:
      - { Name: "O'Brien & Sons" }
      - { Name: 'Back\slash Ltd' }
      - { Name: 'Quote "Co"' }
      - { Name: Plain }
"#;
    let emulator = start_yaml(seed).await;
    let s = schemas(&[
        ("Key", &[("name", "string")]),
        ("Account", &[("Id", "string"), ("Name", "string")]),
    ]);
    let f = connector();
    let lookup = |soql: &str| {
        let (cx, stop) = context(
            client_credentials(emulator.instance_url()),
            "query",
            vec![("soql", template(soql))],
            "Account?",
            &s,
            false,
        );
        std::mem::forget(stop);
        call(&f, &cx)
    };
    let bare = lookup("SELECT Id, Name FROM Account WHERE Name = {.name}");
    let quoted = lookup("SELECT Id, Name FROM Account WHERE Name = '{.name}'");
    for name in [
        "O'Brien & Sons",
        r"Back\slash Ltd",
        r#"Quote "Co""#,
        "Plain",
    ] {
        let key = record(&s, "Key", serde_json::json!({ "name": name }));
        for q in [&bare, &quoted] {
            let found = q.call(&key).await.expect("lookup");
            assert_eq!(found.field("Name").to_text(), name);
        }
    }
    // A value trying to end the literal and widen the filter finds nothing.
    for attack in [
        r"x' OR Name != '",
        r"x\' OR Name != \'",
        "x' OR Name LIKE '%",
    ] {
        let key = record(&s, "Key", serde_json::json!({ "name": attack }));
        for q in [&bare, &quoted] {
            assert_eq!(q.call(&key).await.expect("lookup"), Value::Null, "{attack}");
        }
    }
}
