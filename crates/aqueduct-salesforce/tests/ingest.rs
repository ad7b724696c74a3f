//! Large `batch` groups as Bulk API 2.0 ingest jobs against the emulator:
//! the upload, close and poll, and the failed results read back into the
//! group's records by their cells.

mod common;

use aqueduct_runtime::value::{Schemas, Value};
use common::*;

const SEED: &str = "
bulk:
  processing_delay_ms: 200
objects:
  - name: Contact
    fields:
      - { name: FirstName, type: string }
      - { name: LastName, type: string, required: true }
      - { name: Ext_Id__c, type: string, external_id: true, unique: true }
";

/// `n` contacts whose first names need CSV quoting; every
/// `missing_every`th (from the 8th) has no LastName.
fn contacts(s: &Schemas, n: usize, missing_every: usize, last: &str) -> Vec<Value> {
    contact_records(
        s,
        n,
        |i| format!("Fïrst, \"{i}\""),
        |i| (missing_every == 0 || i % missing_every != 7).then(|| format!("{last} {i}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_above_2000_records_is_one_ingest_job_with_failed_rows_rejected() {
    let emulator = start_yaml(SEED).await;
    let s = contact_schemas();
    let insert = contact_writer(&emulator, "insert", vec![], &s);
    let records = contacts(&s, 2500, 1000, "Last");
    let rejected = insert.write_partial(&records).await.expect("job ran");
    let indexes: Vec<usize> = rejected.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [7, 1007, 2007]);
    assert_eq!(
        rejected[0].error.to_string(),
        "`crm`: bulk insert Contact refused the record: REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]:LastName"
    );
    let saved = soql(&emulator, "SELECT Id FROM Contact").await;
    assert_eq!(saved.len(), 2497);
    // the quoted, comma-holding, non-ASCII cells came through intact
    let one = soql(
        &emulator,
        "SELECT FirstName FROM Contact WHERE Ext_Id__c = 'E-5'",
    )
    .await;
    assert_eq!(one[0]["FirstName"], "Fïrst, \"5\"");

    // upsert on the external id through a job: every record updated
    let upsert = contact_writer(
        &emulator,
        "upsert",
        vec![("external_id", lit("Ext_Id__c"))],
        &s,
    );
    let again = contacts(&s, 2500, 0, "Renamed");
    let rejected = upsert.write_partial(&again).await.expect("job ran");
    assert!(
        rejected.is_empty(),
        "{:?}",
        &rejected[..rejected.len().min(3)]
    );
    let renamed = soql(
        &emulator,
        "SELECT Id FROM Contact WHERE LastName LIKE 'Renamed%'",
    )
    .await;
    assert_eq!(renamed.len(), 2500);
}
