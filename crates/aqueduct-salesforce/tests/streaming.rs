//! `changes` and `events` over CometD against the emulator: records read
//! back complete, deletes skipped, overflow surfaced, the replay id saved
//! only after acknowledgement and resumed from, and a dropped session or an
//! expired token survived.

mod common;

use aqueduct_runtime::connector::{Envelope, StateStore};
use aqueduct_runtime::state::MemoryStore;
use aqueduct_runtime::value::Value;
use common::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const SEED: &str = "
streaming:
  connect_timeout_ms: 300
objects:
  - name: Account
    fields:
      - { name: Name, type: string, required: true }
      - { name: Industry, type: string }
      - { name: Ext_Id__c, type: string, external_id: true, unique: true }
  - name: Low_Ink__e
    fields:
      - { name: Printer_Model__c, type: string }
";

async fn next(rx: &mut mpsc::Receiver<Envelope>) -> Envelope {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("source still running")
}

async fn nothing(rx: &mut mpsc::Receiver<Envelope>) {
    if let Ok(Some(env)) = tokio::time::timeout(Duration::from_millis(800), rx.recv()).await {
        panic!(
            "unexpected record: {:?}",
            env.record.map(|r| r.to_json_string())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_deliver_complete_records_and_resume_after_the_last_acknowledged_one() {
    let emulator = start_yaml(SEED).await;
    let s = schemas(&[
        (
            "Account",
            &[
                ("Id", "string"),
                ("Name", "string"),
                ("Industry", "string?"),
                ("_op", "string"),
                ("_commit_time", "timestamp"),
            ],
        ),
        ("New", &[("Name", "string"), ("Industry", "string?")]),
        ("Upd", &[("Id", "string"), ("Industry", "string?")]),
    ]);
    let f = connector();
    let state = Arc::new(MemoryStore::default());
    let (cx, stop) = context_with_state(
        client_credentials(emulator.instance_url()),
        "changes",
        vec![("object", lit("Account")), ("replay", lit("earliest"))],
        "Account",
        &s,
        false,
        state.clone(),
    );
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(source(&f, &cx).run(tx));

    let (icx, _istop) = context(
        client_credentials(emulator.instance_url()),
        "insert",
        vec![("object", lit("Account"))],
        "New",
        &s,
        false,
    );
    let insert = target(&f, &icx);
    insert
        .write(&[record(
            &s,
            "New",
            serde_json::json!({"Name": "Acme", "Industry": "Retail"}),
        )])
        .await
        .expect("insert");
    let created = next(&mut rx).await;
    let value = created.record.as_ref().expect("decoded").clone();
    assert_eq!(value.field("Name").to_text(), "Acme");
    assert_eq!(value.field("_op").to_text(), "insert");
    let id = value.field("Id").to_text();
    created.ack.done();

    // an update carries only Industry; the record arrives complete
    write_one(
        &emulator,
        &f,
        "update",
        vec![("object", lit("Account"))],
        "Upd",
        &s,
        serde_json::json!({"Id": id, "Industry": "Energy"}),
    )
    .await;
    let updated = next(&mut rx).await;
    let value = updated.record.as_ref().expect("decoded").clone();
    assert_eq!(
        (
            value.field("Name").to_text(),
            value.field("Industry").to_text(),
            value.field("_op").to_text()
        ),
        ("Acme".into(), "Energy".into(), "update".into())
    );
    // not acknowledged: its replay id must not be saved
    let saved_after_first =
        wait_saved(&state, "salesforce:test_flow:/data/AccountChangeEvent").await;
    drop(updated);

    // a dropped session and an expired token are survived
    admin(&emulator, "POST", "cometd/drop", serde_json::json!({})).await;
    admin(&emulator, "POST", "tokens/expire", serde_json::json!({})).await;
    insert
        .write(&[record(&s, "New", serde_json::json!({"Name": "Globex"}))])
        .await
        .expect("insert");
    let globex = next(&mut rx).await;
    assert_eq!(
        globex
            .record
            .as_ref()
            .expect("decoded")
            .field("Name")
            .to_text(),
        "Globex"
    );
    globex.ack.done();

    // an overflow is surfaced, not skipped
    admin(
        &emulator,
        "POST",
        "events/gap",
        serde_json::json!({"object": "Account", "change_type": "GAP_OVERFLOW", "record_ids": []}),
    )
    .await;
    let gap = next(&mut rx).await;
    let reason = gap
        .record
        .as_ref()
        .expect_err("a decode error")
        .reason
        .clone();
    assert!(
        reason.starts_with("GAP_OVERFLOW on /data/AccountChangeEvent"),
        "{reason}"
    );
    gap.ack.done();

    stop.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the source stops")
        .expect("task")
        .expect("source ends cleanly");
    // the update was never acknowledged: the position stays at the insert
    let saved = state
        .get("salesforce:test_flow:/data/AccountChangeEvent")
        .await
        .expect("state");
    assert_eq!(saved, Some(saved_after_first.clone()));

    // a restart resumes after the insert: the update comes again
    let (cx, stop) = context_with_state(
        client_credentials(emulator.instance_url()),
        "changes",
        vec![("object", lit("Account"))],
        "Account",
        &s,
        false,
        state.clone(),
    );
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(source(&f, &cx).run(tx));
    let again = next(&mut rx).await;
    let value = again.record.as_ref().expect("decoded").clone();
    assert_eq!(value.field("Industry").to_text(), "Energy");
    assert_eq!(value.field("_op").to_text(), "update");
    again.ack.done();
    stop.send(true).expect("stop");
    drop(rx);
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the source stops")
        .expect("task")
        .expect("ends cleanly");
}

async fn wait_saved(state: &MemoryStore, key: &str) -> String {
    for _ in 0..200 {
        if let Some(v) = state.get(key).await.expect("state") {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no position saved under {key}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_deliver_platform_event_payloads() {
    let emulator = start_yaml(SEED).await;
    let s = schemas(&[(
        "LowInk",
        &[
            ("Printer_Model__c", "string"),
            ("ReplayId", "int"),
            ("CreatedDate", "timestamp"),
        ],
    )]);
    let f = connector();
    // published before the subscription: `earliest` still gets it
    let ps = schemas(&[("P", &[("Printer_Model__c", "string")])]);
    write_one(
        &emulator,
        &f,
        "publish",
        vec![("event", lit("Low_Ink__e"))],
        "P",
        &ps,
        serde_json::json!({"Printer_Model__c": "XZO-1"}),
    )
    .await;
    let (cx, stop) = context(
        client_credentials(emulator.instance_url()),
        "events",
        vec![("name", lit("Low_Ink__e")), ("replay", lit("earliest"))],
        "LowInk",
        &s,
        false,
    );
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(source(&f, &cx).run(tx));
    let first = next(&mut rx).await;
    let value = first.record.as_ref().expect("decoded").clone();
    assert_eq!(value.field("Printer_Model__c").to_text(), "XZO-1");
    assert!(matches!(value.field("ReplayId"), Value::Int(n) if n > 0));
    first.ack.done();
    nothing(&mut rx).await;
    stop.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the source stops")
        .expect("task")
        .expect("ends cleanly");
}
