//! Outbound messaging end to end: a loopback SOAP listener written here
//! receives the emulator's notifications, fails the first deliveries, and
//! acknowledges later ones; the emulator retries until it gets the Ack.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::Client;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ACK: &str = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#;

#[derive(Default)]
struct Listener {
    received: Vec<(HeaderMap, String)>,
    fail_first: usize,
}

async fn listen(fail_first: usize) -> (String, Arc<Mutex<Listener>>) {
    let state = Arc::new(Mutex::new(Listener {
        fail_first,
        ..Default::default()
    }));
    let s = state.clone();
    let app = Router::new().route(
        "/outbound",
        post(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                let mut l = s.lock().expect("listener");
                l.received
                    .push((headers, String::from_utf8_lossy(&body).into_owned()));
                if l.received.len() <= l.fail_first {
                    (StatusCode::INTERNAL_SERVER_ERROR, "busy".to_string())
                } else {
                    (StatusCode::OK, ACK.to_string())
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/outbound"), state)
}

async fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

fn seed(endpoint: &str, extra: &str) -> String {
    format!(
        r#"
outbound:
  - name: AccountToErp
    object: Account
    fields: [Name, Industry, Founded__c]
    endpoint: {endpoint}
    when: "Industry = 'Energy'"
    retry_initial_ms: 40
    retry_max_ms: 200
{extra}
objects:
  - name: Account
    fields:
      - {{name: Name, type: string}}
      - {{name: Industry, type: picklist}}
      - {{name: Founded__c, type: datetime}}
"#
    )
}

async fn outbound_state(client: &Client) -> Value {
    client
        .send("GET", "/_emulator/outbound", &[], None, false)
        .await
        .json()
}

#[tokio::test]
async fn notifications_are_retried_until_acknowledged() {
    let (endpoint, listener) = listen(2).await;
    let emulator = common::start_yaml(&seed(&endpoint, "")).await;
    let client = Client::new(emulator.instance_url());
    let token = common::token(&client).await;

    // Not matching the criteria: no notification.
    let r = client
        .json(
            "POST",
            "/services/data/v62.0/sobjects/Account/",
            &token,
            &json!({"Name": "Quiet", "Industry": "Retail"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = client.json("POST", "/services/data/v62.0/sobjects/Account/", &token, &json!({"Name": "Acme & Sons", "Industry": "Energy", "Founded__c": "2001-02-03T04:05:06Z"})).await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_str().expect("id").to_string();

    let delivered = wait_for(Duration::from_secs(20), || {
        listener.lock().expect("l").received.len() >= 3
    })
    .await;
    let count = listener.lock().expect("l").received.len();
    assert!(
        delivered,
        "three deliveries: {count} received, {}",
        outbound_state(&client).await
    );
    let (headers, body) = listener.lock().expect("l").received[2].clone();
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/xml; charset=utf-8")
    );
    assert!(headers.get("soapaction").is_some(), "a SOAPAction header");
    for needle in [
        r#"<notifications xmlns="http://soap.sforce.com/2005/09/outbound">"#,
        &format!("<OrganizationId>{}</OrganizationId>", emulator.org_id()),
        "<ActionId>04k000000000001AAA</ActionId>",
        r#"<SessionId xsi:nil="true"/>"#,
        "<Notification><Id>04l000000000001AAA</Id>",
        r#"<sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">"#,
        &format!("<sf:Id>{id}</sf:Id>"),
        "<sf:Name>Acme &amp; Sons</sf:Name>",
        "<sf:Industry>Energy</sf:Industry>",
        "<sf:Founded__c>2001-02-03T04:05:06.000Z</sf:Founded__c>",
        "/services/Soap/c/62.0/00D000000000001</EnterpriseUrl>",
    ] {
        assert!(body.contains(needle), "missing {needle} in {body}");
    }
    let state = outbound_state(&client).await;
    assert_eq!(state[0]["attempts"], 3, "{state}");
    assert_eq!(state[0]["acknowledged"], true, "{state}");
    assert_eq!(
        state.as_array().map(Vec::len),
        Some(1),
        "only the matching change notifies: {state}"
    );

    // A duplicate delivery on demand, as Salesforce may make.
    let r = client
        .send(
            "POST",
            "/_emulator/outbound/04l000000000001AAA/redeliver",
            &[],
            None,
            false,
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(
        wait_for(Duration::from_secs(10), || listener
            .lock()
            .expect("l")
            .received
            .len()
            >= 4)
        .await,
        "redelivered"
    );
    assert!(
        listener.lock().expect("l").received[3]
            .1
            .contains("<Id>04l000000000001AAA</Id>")
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_retry_carries_the_latest_data_and_gives_up_after_the_window() {
    // The listener never acknowledges.
    let (endpoint, listener) = listen(usize::MAX).await;
    let emulator = common::start_yaml(&seed(&endpoint, "    give_up_after_seconds: 3600\n")).await;
    let client = Client::new(emulator.instance_url());
    let token = common::token(&client).await;
    let r = client
        .json(
            "POST",
            "/services/data/v62.0/sobjects/Account/",
            &token,
            &json!({"Name": "First", "Industry": "Energy"}),
        )
        .await;
    let id = r.json()["id"].as_str().expect("id").to_string();
    assert!(
        wait_for(Duration::from_secs(10), || !listener
            .lock()
            .expect("l")
            .received
            .is_empty())
        .await
    );
    let r = client
        .json(
            "PATCH",
            &format!("/services/data/v62.0/sobjects/Account/{id}"),
            &token,
            &json!({"Name": "Second"}),
        )
        .await;
    assert_eq!(r.status, 204);
    // The update queued its own notification; retries of the first one now
    // carry the latest name too.
    assert!(
        wait_for(Duration::from_secs(10), || {
            let l = listener.lock().expect("l");
            l.received
                .iter()
                .filter(|(_, b)| {
                    b.contains("<Id>04l000000000001AAA</Id>")
                        && b.contains("<sf:Name>Second</sf:Name>")
                })
                .count()
                >= 1
        })
        .await,
        "a retry with the latest data"
    );
    // Past the retry window the notifications are dropped.
    client
        .send(
            "POST",
            "/_emulator/clock/advance",
            &[],
            Some(("application/json".into(), br#"{"seconds": 3601}"#.to_vec())),
            false,
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut state = outbound_state(&client).await;
    while !state
        .as_array()
        .is_some_and(|a| a.iter().all(|n| n["given_up"] == true))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = outbound_state(&client).await;
    }
    assert!(
        state
            .as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|n| n["given_up"] == true)),
        "given up: {state}"
    );
    let before = listener.lock().expect("l").received.len();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        listener.lock().expect("l").received.len(),
        before,
        "no deliveries after giving up"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_record_deleted_before_delivery_is_sent_with_its_id_only() {
    let (endpoint, listener) = listen(1).await;
    let emulator = common::start_yaml(
        &seed(&endpoint, "    retry_initial_ms: 300\n").replace("    retry_initial_ms: 40\n", ""),
    )
    .await;
    let client = Client::new(emulator.instance_url());
    let token = common::token(&client).await;
    let r = client
        .json(
            "POST",
            "/services/data/v62.0/sobjects/Account/",
            &token,
            &json!({"Name": "Gone", "Industry": "Energy"}),
        )
        .await;
    let id = r.json()["id"].as_str().expect("id").to_string();
    assert!(
        wait_for(Duration::from_secs(10), || !listener
            .lock()
            .expect("l")
            .received
            .is_empty())
        .await
    );
    let r = client
        .send(
            "DELETE",
            &format!("/services/data/v62.0/sobjects/Account/{id}"),
            &[common::auth(&token)],
            None,
            false,
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(
        wait_for(Duration::from_secs(10), || listener
            .lock()
            .expect("l")
            .received
            .len()
            >= 2)
        .await,
        "retried"
    );
    let body = listener.lock().expect("l").received[1].1.clone();
    assert!(
        body.contains(&format!("<sf:Id>{id}</sf:Id></sObject>")),
        "{body}"
    );
    assert!(!body.contains("<sf:Name>"), "{body}");
    emulator.shutdown().await;
}
