//! `bulk_query` against the emulator: a Bulk API 2.0 query job created,
//! polled until complete, and its result read page by page through
//! `Sforce-Locator`, CSV cells converted to the declared types.

mod common;

use common::*;

const SEED: &str = "
bulk:
  processing_delay_ms: 300
objects:
  - name: Account
    fields:
      - { name: Name, type: string, required: true }
      - { name: AnnualRevenue, type: currency }
      - { name: NumberOfEmployees, type: int }
      - { name: Ext_Id__c, type: string, external_id: true, unique: true }
    records:
      - { Name: Parent, Ext_Id__c: P-1, AnnualRevenue: 12.50 }
    generate:
      - count: 2345
        fields: { Name: \"Generated {n}\", Ext_Id__c: \"G-{n}\", NumberOfEmployees: 7 }
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_query_streams_every_result_page_as_typed_records() {
    let emulator = start_yaml(SEED).await;
    let s = schemas(&[(
        "Row",
        &[
            ("Id", "string"),
            ("Name", "string"),
            ("AnnualRevenue", "decimal?"),
            ("NumberOfEmployees", "int?"),
            ("CreatedDate", "timestamp"),
        ],
    )]);
    let (cx, _stop) = context(
        client_credentials(emulator.instance_url()),
        "bulk_query",
        vec![(
            "soql",
            lit(
                "SELECT Id, Name, AnnualRevenue, NumberOfEmployees, CreatedDate FROM Account ORDER BY Name",
            ),
        )],
        "Row",
        &s,
        false,
    );
    // 1,000 rows a page: three locators, then the literal `null`
    let f = connector().with_bulk_page_rows(1000);
    let rows = drain(source(&f, &cx)).await.expect("bulk query runs");
    assert_eq!(rows.len(), 2346);
    let rows: Vec<_> = rows.into_iter().map(|r| r.expect("decoded")).collect();
    let parent = rows
        .iter()
        .find(|r| r.field("Name").to_text() == "Parent")
        .expect("parent row");
    assert_eq!(parent.field("AnnualRevenue").to_text(), "12.5");
    assert!(parent.field("NumberOfEmployees").is_null());
    let generated = rows
        .iter()
        .find(|r| r.field("Name").to_text() == "Generated 1")
        .expect("generated row");
    assert_eq!(generated.field("NumberOfEmployees").to_text(), "7");
    let jobs = soql_jobs(&emulator).await;
    assert_eq!(jobs, ["JobComplete"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_does_not_fit_the_type_is_a_decode_error_the_others_flow() {
    let emulator = start_yaml(SEED).await;
    // Name is not an int: every row fails to decode, with the reason.
    let s = schemas(&[("Row", &[("Ext_Id__c", "string"), ("Name", "int")])]);
    let (cx, _stop) = context(
        client_credentials(emulator.instance_url()),
        "bulk_query",
        vec![(
            "soql",
            lit("SELECT Ext_Id__c, Name FROM Account WHERE Ext_Id__c = 'P-1'"),
        )],
        "Row",
        &s,
        false,
    );
    let rows = drain(source(&connector(), &cx)).await.expect("runs");
    assert_eq!(rows.len(), 1);
    let reason = rows[0].clone().expect_err("does not fit");
    assert!(reason.starts_with("field `Name`:"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_bulk_refuses_fails_at_job_creation() {
    let emulator = start_yaml(SEED).await;
    let s = schemas(&[("Row", &[("Id", "string")])]);
    let (cx, _stop) = context(
        client_credentials(emulator.instance_url()),
        "bulk_query",
        vec![("soql", lit("SELECT COUNT() FROM Account"))],
        "Row",
        &s,
        false,
    );
    let e = drain(source(&connector(), &cx)).await.expect_err("refused");
    assert!(
        e.to_string().starts_with("`crm`: bulk query job: HTTP 400"),
        "{e}"
    );
}

/// The states of the org's query jobs.
async fn soql_jobs(emulator: &aqueduct_emulator::Emulator) -> Vec<String> {
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(emulator.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "aqueduct-emulator"),
            ("client_secret", "emulator-secret"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let jobs: serde_json::Value = http
        .get(format!(
            "{}/services/data/v62.0/jobs/query",
            emulator.instance_url()
        ))
        .bearer_auth(token["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("jobs")
        .json()
        .await
        .expect("json");
    jobs["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|j| j["state"].as_str().unwrap_or_default().to_string())
        .collect()
}
