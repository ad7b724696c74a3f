//! The outbound-messaging conformance fixture
//! (`crates/aqueduct-emulator/tests/conformance/outbound/notifications.yaml`,
//! written from Salesforce's outbound messaging WSDL) against the
//! connector's `outbound_messages` listener: the documented notification,
//! posted as Salesforce posts it, becomes a record with the documented
//! values, and once that record is acknowledged the answer is the
//! documented Ack. The emulator's side of the same fixture is
//! `crates/aqueduct-emulator/tests/outbound_conformance.rs`.

mod common;
#[path = "../../aqueduct-emulator/tests/conformance/outbound/shape.rs"]
mod shape;

use common::*;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;

fn fixture() -> Json {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../aqueduct-emulator/tests/conformance/outbound/notifications.yaml");
    let text = std::fs::read_to_string(&path).expect("the fixture");
    serde_yaml::from_str(&text).expect("fixture YAML")
}

fn text(v: &Json, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("fixture: no `{key}`"))
        .to_string()
}

/// The listener's port: the emulator is seeded with it before the listener
/// binds it, so it must not be one the emulator's own `bind(0)` can take.
fn free_port() -> u16 {
    aqueduct_test_support::listen_port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_takes_the_documented_notification_and_answers_the_documented_ack() {
    // reqwest's rustls needs the process-wide provider `run` installs
    aqueduct_connectors::install_crypto();
    let fixture = fixture();
    let notification = text(&fixture, "notification");
    let documented_ack = shape::parse(&text(&fixture, "ack")).expect("the fixture's Ack");
    let port = free_port();
    let s = schemas(&[(
        "Account",
        &[
            ("Id", "string"),
            ("Name", "string"),
            ("_notification_id", "string"),
        ],
    )]);
    let f = connector();
    // a listener only: it never calls the org, so no emulator is needed;
    // organization_id is the documented message's (15 characters match)
    let (cx, _stop) = context(
        client_credentials("http://127.0.0.1:9"),
        "outbound_messages",
        vec![
            ("path", lit("/sf/outbound")),
            ("listen", lit(&format!("127.0.0.1:{port}"))),
            ("organization_id", lit("00DXX0000001gPF")),
        ],
        "Account",
        &s,
        false,
    );
    let (tx, mut rx) = mpsc::channel(16);
    let _run = tokio::spawn(source(&f, &cx).run(tx));

    // posted as the fixture's `http` says Salesforce posts it
    let http = &fixture["http"];
    assert_eq!(text(http, "method"), "POST");
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/sf/outbound");
    let post = {
        let (client, url, body) = (client.clone(), url.clone(), notification.clone());
        tokio::spawn(async move {
            // the listener may still be binding its port
            for _ in 0..100 {
                let sent = client
                    .post(&url)
                    .header("content-type", "text/xml; charset=utf-8")
                    .header("SOAPAction", "\"\"")
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) => return r,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            panic!("the listener never answered");
        })
    };

    let envelope = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a record within 10 s")
        .expect("listener running");
    let record = envelope.record.as_ref().expect("decoded").clone();
    assert_eq!(record.field("Id").to_text(), "001XX000003DGb2AAG");
    assert_eq!(record.field("Name").to_text(), "Acme & Sons");
    assert_eq!(
        record.field("_notification_id").to_text(),
        "04lXX000000CaSdAAK"
    );
    // no answer before the record is safe
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!post.is_finished(), "answered before the record was acked");
    envelope.ack.done();

    let response = tokio::time::timeout(Duration::from_secs(10), post)
        .await
        .expect("an answer within 10 s")
        .expect("the post task");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    let body = response.text().await.expect("the answer's body");
    let got = shape::parse(&body).unwrap_or_else(|e| panic!("{e}:\n{body}"));
    if let Err(e) = shape::matches(&got, &documented_ack, &BTreeMap::new()) {
        panic!("the answer differs from the documented Ack: {e}\n{body}");
    }
}
