//! sObject Collections writes against the emulator: groups above 200
//! split into calls, refused records reported one by one with Salesforce's
//! `statusCode` while the others are saved, update/upsert/delete, and
//! lock errors and limits retried.

mod common;

use aqueduct_runtime::value::{Schemas, Value};
use common::*;

const SEED: &str = "
objects:
  - name: Contact
    fields:
      - { name: FirstName, type: string }
      - { name: LastName, type: string, required: true }
      - { name: Ext_Id__c, type: string, external_id: true, unique: true }
";

/// `n` contacts; every `missing_every`th (from the first) has no LastName.
fn contacts(s: &Schemas, n: usize, missing_every: usize) -> Vec<Value> {
    contact_records(
        s,
        n,
        |i| format!("First {i}"),
        |i| (missing_every == 0 || i % missing_every != 0).then(|| format!("Last {i}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_saves_the_good_records_and_reports_each_refused_one() {
    let emulator = start_yaml(SEED).await;
    let s = contact_schemas();
    let insert = contact_writer(&emulator, "insert", vec![], &s);
    // 450 records: three calls (200, 200, 50); every 100th has no LastName.
    let records = contacts(&s, 450, 100);
    let rejected = insert.write_partial(&records).await.expect("group written");
    let indexes: Vec<usize> = rejected.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [0, 100, 200, 300, 400]);
    assert_eq!(
        rejected[0].error.to_string(),
        "`crm`: insert Contact refused the record: REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (fields: LastName)"
    );
    assert!(!rejected[0].error.is_retryable());
    let saved = soql(&emulator, "SELECT Id FROM Contact").await;
    assert_eq!(saved.len(), 445);

    // One record at a time (no `batch` step): a refusal is the write's error.
    let one = contacts(&s, 1, 1);
    let e = insert.write(&one).await.expect_err("refused");
    assert!(e.to_string().contains("REQUIRED_FIELD_MISSING"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_upsert_and_delete_go_through_collections() {
    let emulator = start_yaml(SEED).await;
    let s = contact_schemas();
    let records = contacts(&s, 3, 0);
    contact_writer(&emulator, "insert", vec![], &s)
        .write_partial(&records)
        .await
        .expect("inserted");
    let saved = soql(
        &emulator,
        "SELECT Id, Ext_Id__c FROM Contact ORDER BY Ext_Id__c",
    )
    .await;
    let ids: Vec<String> = saved
        .iter()
        .map(|r| r["Id"].as_str().expect("id").to_string())
        .collect();

    // update by Id; a record without Id is refused locally, the others saved
    let updates = vec![
        record(
            &s,
            "Contact",
            serde_json::json!({"Id": ids[0], "LastName": "Renamed"}),
        ),
        record(&s, "Contact", serde_json::json!({"LastName": "No id"})),
    ];
    let rejected = contact_writer(&emulator, "update", vec![], &s)
        .write_partial(&updates)
        .await
        .expect("updated");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].index, 1);
    assert!(rejected[0].error.to_string().contains("no `Id` to update"));

    // upsert on the external id: one update, one create
    let upserts = vec![
        record(
            &s,
            "Contact",
            serde_json::json!({"Ext_Id__c": "E-1", "LastName": "Upserted"}),
        ),
        record(
            &s,
            "Contact",
            serde_json::json!({"Ext_Id__c": "E-9", "LastName": "New"}),
        ),
    ];
    let rejected = contact_writer(
        &emulator,
        "upsert",
        vec![("external_id", lit("Ext_Id__c"))],
        &s,
    )
    .write_partial(&upserts)
    .await
    .expect("upserted");
    assert!(rejected.is_empty(), "{rejected:?}");
    let names: Vec<String> = soql(&emulator, "SELECT LastName FROM Contact ORDER BY Ext_Id__c")
        .await
        .iter()
        .map(|r| r["LastName"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(names, ["Renamed", "Upserted", "Last 2", "New"]);

    // delete by Id; an unknown id is refused on its own
    let deletes = vec![
        record(&s, "Contact", serde_json::json!({"Id": ids[2]})),
        record(
            &s,
            "Contact",
            serde_json::json!({"Id": "003000000000999AAA"}),
        ),
    ];
    let rejected = contact_writer(&emulator, "delete", vec![], &s)
        .write_partial(&deletes)
        .await
        .expect("deleted");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].index, 1);
    assert_eq!(soql(&emulator, "SELECT Id FROM Contact").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_errors_and_limits_are_retried_with_backoff() {
    let emulator = start_yaml(SEED).await;
    let s = contact_schemas();
    let insert = contact_writer(&emulator, "insert", vec![], &s);
    // a rate-limit answer, then a 503, then success
    for fault in [
        serde_json::json!({"fault": "request_limit_exceeded", "path": "/services/data/*/composite/*", "times": 1}),
        serde_json::json!({"fault": "service_unavailable", "path": "/services/data/*/composite/*", "times": 1}),
    ] {
        admin(&emulator, "POST", "faults", fault).await;
    }
    let records = contacts(&s, 5, 0);
    let rejected = insert
        .write_partial(&records)
        .await
        .expect("written after retries");
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(soql(&emulator, "SELECT Id FROM Contact").await.len(), 5);
    let faults = admin(&emulator, "GET", "faults", serde_json::Value::Null).await;
    let fired: Vec<u64> = faults
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["fired"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(fired, [1, 1], "{faults}");

    // An exhausted allocation that does not free up ends as a retryable error.
    admin(
        &emulator,
        "POST",
        "faults",
        serde_json::json!({"fault": "request_limit_exceeded", "path": "/services/data/*/composite/*", "times": "always"}),
    )
    .await;
    let e = insert
        .write_partial(&contacts(&s, 1, 0))
        .await
        .expect_err("limit exhausted");
    assert!(e.is_retryable(), "{e}");
    assert_eq!(
        e.to_string(),
        "`crm`: insert Contact: HTTP 403 REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_row_is_tried_again() {
    let emulator = start_yaml(SEED).await;
    let s = contact_schemas();
    let insert = contact_writer(&emulator, "insert", vec![], &s);
    admin(
        &emulator,
        "POST",
        "faults",
        serde_json::json!({"fault": "unable_to_lock_row", "object": "Contact", "times": 1}),
    )
    .await;
    let rejected = insert
        .write_partial(&contacts(&s, 3, 0))
        .await
        .expect("written");
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(soql(&emulator, "SELECT Id FROM Contact").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_inserts_platform_events_each_accepted_or_refused() {
    let emulator = start(aqueduct_emulator::Seed::builtin()).await;
    let s = schemas(&[(
        "LowInk",
        &[
            ("Printer_Model__c", "string?"),
            ("Ink_Percentage__c", "decimal?"),
            ("Serial_Number__c", "string?"),
        ],
    )]);
    let (cx, _stop) = context(
        client_credentials(emulator.instance_url()),
        "publish",
        vec![("event", lit("Low_Ink__e"))],
        "LowInk",
        &s,
        true,
    );
    let publish = target(&connector(), &cx);
    let events = vec![
        record(
            &s,
            "LowInk",
            serde_json::json!({"Printer_Model__c": "XZO-5", "Ink_Percentage__c": 4.5}),
        ),
        record(
            &s,
            "LowInk",
            // every field is the event's (the start-up preflight checks
            // that), but this value is longer than the field takes
            serde_json::json!({"Printer_Model__c": "XZO-6", "Serial_Number__c": "9".repeat(300)}),
        ),
    ];
    let rejected = publish.write_partial(&events).await.expect("published");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].index, 1);
    let text = rejected[0].error.to_string();
    assert!(
        text.starts_with("`crm`: publish Low_Ink__e refused the record: STRING_TOO_LONG:"),
        "{text}"
    );
}
