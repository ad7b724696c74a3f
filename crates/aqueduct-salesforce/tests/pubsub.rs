//! `changes` and `events` with `transport: "pubsub"` against the
//! emulator's Pub/Sub API (gRPC, Avro payloads): the same records as over
//! CometD, the replay id saved only after acknowledgement and resumed
//! from, a refused token and a dropped stream survived, refusals surfaced.

mod common;

use aqueduct_runtime::connector::{ConnectorError, Envelope, StateStore};
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
  - name: Low_Ink__e
    fields:
      - { name: Printer_Model__c, type: string }
      - { name: Pages__c, type: int }
";

const KEY: &str = "salesforce-pubsub:test_flow:/data/AccountChangeEvent";

/// Client-credentials options plus the emulator as the Pub/Sub endpoint.
fn options(url: &str) -> Vec<(String, aqueduct_graph::ConfigValue)> {
    let mut o = client_credentials(url);
    o.push(("pubsub_url".into(), opt_str(url)));
    o
}

async fn next(rx: &mut mpsc::Receiver<Envelope>) -> Envelope {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("source still running")
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
async fn changes_over_pubsub_deliver_complete_records_and_resume_after_the_last_acknowledged_one() {
    let emulator = start_yaml(SEED).await;
    let url = emulator.instance_url().to_string();
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
    let args = |replay: &str| {
        vec![
            ("object", lit("Account")),
            ("replay", lit(replay)),
            ("transport", lit("pubsub")),
        ]
    };
    let (cx, stop) = context_with_state(
        options(&url),
        "changes",
        args("earliest"),
        "Account",
        &s,
        false,
        state.clone(),
    );
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(source(&f, &cx).run(tx));

    let (icx, _istop) = context(
        client_credentials(&url),
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
    assert!(matches!(value.field("_commit_time"), Value::Timestamp(_)));
    let id = value.field("Id").to_text();
    created.ack.done();

    // an update event carries only Industry; the record arrives complete
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
    let saved_after_first = wait_saved(&state, KEY).await;
    drop(updated);

    // an expired token ends the stream with UNAUTHENTICATED, and a
    // dropped stream ends with UNAVAILABLE: both are subscribed again
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
    admin(
        &emulator,
        "POST",
        "faults",
        serde_json::json!({"fault": "drop_session", "path": "/eventbus.v1.PubSub/Subscribe"}),
    )
    .await;
    insert
        .write(&[record(&s, "New", serde_json::json!({"Name": "Initech"}))])
        .await
        .expect("insert");
    let initech = next(&mut rx).await;
    assert_eq!(
        initech
            .record
            .as_ref()
            .expect("decoded")
            .field("Name")
            .to_text(),
        "Initech"
    );
    initech.ack.done();

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
    let saved = state.get(KEY).await.expect("state");
    assert_eq!(saved, Some(saved_after_first));

    // a restart resumes after the insert (CUSTOM): the update comes again,
    // though `latest` would skip it
    let (cx, stop) = context_with_state(
        options(&url),
        "changes",
        args("latest"),
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
        .expect("source ends cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_over_pubsub_deliver_platform_event_payloads() {
    let emulator = start_yaml(SEED).await;
    let url = emulator.instance_url().to_string();
    let s = schemas(&[(
        "LowInk",
        &[
            ("Printer_Model__c", "string"),
            ("Pages__c", "int?"),
            ("ReplayId", "int"),
            ("EventUuid", "string"),
            ("CreatedDate", "timestamp"),
        ],
    )]);
    let f = connector();
    // published before the subscription: `earliest` still gets it
    let ps = schemas(&[("P", &[("Printer_Model__c", "string"), ("Pages__c", "int")])]);
    write_one(
        &emulator,
        &f,
        "publish",
        vec![("event", lit("Low_Ink__e"))],
        "P",
        &ps,
        serde_json::json!({"Printer_Model__c": "XZO-1", "Pages__c": 12}),
    )
    .await;
    let (cx, stop) = context(
        options(&url),
        "events",
        vec![
            ("name", lit("Low_Ink__e")),
            ("replay", lit("earliest")),
            ("transport", lit("pubsub")),
        ],
        "LowInk",
        &s,
        false,
    );
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(source(&f, &cx).run(tx));
    let first = next(&mut rx).await;
    let value = first.record.as_ref().expect("decoded").clone();
    assert_eq!(value.field("Printer_Model__c").to_text(), "XZO-1");
    assert!(matches!(value.field("Pages__c"), Value::Int(12)));
    assert!(matches!(value.field("ReplayId"), Value::Int(n) if n > 0));
    assert!(matches!(value.field("CreatedDate"), Value::Timestamp(_)));
    assert_eq!(value.field("EventUuid").to_text().len(), 36);
    first.ack.done();
    stop.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the source stops")
        .expect("task")
        .expect("ends cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_the_org_does_not_have_stops_the_flow_with_the_status() {
    let emulator = start_yaml(SEED).await;
    let url = emulator.instance_url().to_string();
    let s = schemas(&[("E", &[("Printer_Model__c", "string")])]);
    let f = connector();
    let (cx, _stop) = context(
        options(&url),
        "events",
        vec![("name", lit("Nope__e")), ("transport", lit("pubsub"))],
        "E",
        &s,
        false,
    );
    let (tx, _rx) = mpsc::channel(16);
    let ended = tokio::time::timeout(Duration::from_secs(10), source(&f, &cx).run(tx))
        .await
        .expect("ends at once");
    match ended {
        Err(ConnectorError::Permanent(m)) => {
            assert_eq!(
                m,
                "`crm`: Pub/Sub GetTopic /event/Nope__e: NotFound: topic /event/Nope__e not found"
            );
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
}
