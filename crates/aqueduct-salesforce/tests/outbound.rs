//! `outbound_messages` against the emulator's outbound-message driver: the
//! Ack only after the records are acknowledged, redelivery when they were
//! not, and messages from another org refused.

mod common;

use aqueduct_runtime::connector::Envelope;
use common::*;
use std::time::Duration;
use tokio::sync::mpsc;

/// The listener's port: the emulator is seeded with it before the listener
/// binds it, so it must not be one the emulator's own `bind(0)` can take.
fn free_port() -> u16 {
    aqueduct_test_support::listen_port()
}

fn seed(port: u16) -> String {
    format!(
        "
outbound:
  - name: AccountToErp
    object: Account
    fields: [Name, Industry]
    endpoint: http://127.0.0.1:{port}/sf/outbound
    retry_initial_ms: 200
    retry_max_ms: 400
objects:
  - name: Account
    fields:
      - {{ name: Name, type: string, required: true }}
      - {{ name: Industry, type: string }}
"
    )
}

async fn next(rx: &mut mpsc::Receiver<Envelope>) -> Envelope {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a notification within 10 s")
        .expect("listener running")
}

async fn outbound_state(emulator: &aqueduct_emulator::Emulator) -> serde_json::Value {
    admin(emulator, "GET", "outbound", serde_json::Value::Null).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ack_waits_for_the_records_and_a_missing_one_is_redelivered() {
    let port = free_port();
    let emulator = start_yaml(&seed(port)).await;
    let s = schemas(&[
        (
            "Account",
            &[
                ("Id", "string"),
                ("Name", "string"),
                ("Industry", "string?"),
                ("_notification_id", "string"),
            ],
        ),
        ("New", &[("Name", "string"), ("Industry", "string?")]),
    ]);
    let f = connector();
    let (cx, stop) = context(
        client_credentials(emulator.instance_url()),
        "outbound_messages",
        vec![
            ("path", lit("/sf/outbound")),
            ("listen", lit(&format!("127.0.0.1:{port}"))),
            ("organization_id", lit(&emulator.org_id())),
        ],
        "Account",
        &s,
        false,
    );
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(source(&f, &cx).run(tx));
    tokio::time::sleep(Duration::from_millis(200)).await;

    write_one(
        &emulator,
        &f,
        "insert",
        vec![("object", lit("Account"))],
        "New",
        &s,
        serde_json::json!({"Name": "Acme & Sons", "Industry": "Energy"}),
    )
    .await;

    // first delivery: the record is not made safe (its ack dropped)
    let first = next(&mut rx).await;
    let value = first.record.as_ref().expect("decoded").clone();
    assert_eq!(value.field("Name").to_text(), "Acme & Sons");
    assert_eq!(value.field("Industry").to_text(), "Energy");
    let notification = value.field("_notification_id").to_text();
    assert!(notification.starts_with("04l"), "{notification}");
    drop(first);
    // Salesforce (the emulator) delivers it again; this time it is acked
    let second = next(&mut rx).await;
    assert_eq!(
        second
            .record
            .as_ref()
            .expect("decoded")
            .field("_notification_id")
            .to_text(),
        notification
    );
    second.ack.done();
    let mut acknowledged = false;
    for _ in 0..50 {
        let state = outbound_state(&emulator).await;
        if state.to_string().contains("\"acknowledged\":true") {
            acknowledged = true;
            let attempts = state
                .as_array()
                .and_then(|a| a.first())
                .map(|n| n["attempts"].clone());
            assert_eq!(attempts, Some(serde_json::json!(2)), "{state}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(acknowledged, "{}", outbound_state(&emulator).await);
    stop.send(true).expect("stop");
    drop(rx);
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the listener stops")
        .expect("task")
        .expect("ends cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_another_org_are_refused() {
    let port = free_port();
    let emulator = start_yaml(&seed(port)).await;
    let s = schemas(&[
        ("Account", &[("Id", "string"), ("Name", "string")]),
        ("New", &[("Name", "string")]),
    ]);
    let f = connector();
    let (cx, stop) = context(
        client_credentials(emulator.instance_url()),
        "outbound_messages",
        vec![
            ("path", lit("/sf/outbound")),
            ("listen", lit(&format!("127.0.0.1:{port}"))),
            ("organization_id", lit("00D00000000OTHER")),
        ],
        "Account",
        &s,
        false,
    );
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(source(&f, &cx).run(tx));
    tokio::time::sleep(Duration::from_millis(200)).await;
    write_one(
        &emulator,
        &f,
        "insert",
        vec![("object", lit("Account"))],
        "New",
        &s,
        serde_json::json!({"Name": "Acme"}),
    )
    .await;
    let got = tokio::time::timeout(Duration::from_millis(1500), rx.recv()).await;
    assert!(
        !run.is_finished(),
        "the listener is still running: {:?}",
        got.map(|r| r.map(|e| e.record.is_ok()))
    );
    assert!(got.is_err(), "no record from another org");
    let state = outbound_state(&emulator).await;
    assert!(
        state.to_string().contains("\"acknowledged\":false"),
        "{state}"
    );
    assert!(state.to_string().contains("403"), "{state}");
    stop.send(true).expect("stop");
    drop(rx);
    let _ = tokio::time::timeout(Duration::from_secs(10), run).await;
}
