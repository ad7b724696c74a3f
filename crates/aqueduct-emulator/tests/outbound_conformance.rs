//! The outbound-messaging conformance fixture
//! (`tests/conformance/outbound/notifications.yaml`, written from
//! Salesforce's outbound messaging WSDL) against the emulator's driver: the
//! notification it posts has the documented shape, headers and values, and
//! the documented Ack, answered by a listener written here, settles it.
//! The connector's side of the same fixture is
//! `crates/aqueduct-salesforce/tests/outbound_conformance.rs`.

mod common;
#[path = "conformance/outbound/shape.rs"]
mod shape;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use axum::routing::any;
use common::Client;
use regex::Regex;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The fixture as YAML.
fn fixture() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance/outbound/notifications.yaml");
    let text = std::fs::read_to_string(&path).expect("the fixture");
    let fixture: Value = serde_yaml::from_str(&text).expect("fixture YAML");
    assert!(
        fixture["source"].as_str().is_some_and(|s| !s.is_empty()),
        "the fixture names its documentation source"
    );
    fixture
}

fn text(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("fixture: no `{key}`"))
        .to_string()
}

type Received = Arc<Mutex<Vec<(Method, HeaderMap, String)>>>;

/// A listener that records each request and answers the fixture's Ack.
async fn listen(ack: String) -> (String, Received) {
    let received: Received = Arc::default();
    let r = received.clone();
    let app = Router::new().route(
        "/outbound",
        any(move |method: Method, headers: HeaderMap, body: Bytes| {
            let (r, ack) = (r.clone(), ack.clone());
            async move {
                r.lock().expect("listener").push((
                    method,
                    headers,
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                ([("content-type", "text/xml; charset=utf-8")], ack)
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
    (format!("http://{addr}/outbound"), received)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_posts_the_documented_notification_and_takes_the_documented_ack() {
    let fixture = fixture();
    let documented = shape::parse(&text(&fixture, "notification")).expect("the fixture's XML");
    let values: BTreeMap<String, String> =
        serde_json::from_value(fixture["values"].clone()).expect("values");
    let (endpoint, received) = listen(text(&fixture, "ack")).await;
    // the documented message's outbound action: Account, sending Name
    let seed = format!(
        "
outbound:
  - {{name: AccountToErp, object: Account, fields: [Name], endpoint: \"{endpoint}\"}}
objects:
  - name: Account
    fields:
      - {{name: Name, type: string}}
"
    );
    let emulator = common::start_yaml(&seed).await;
    let client = Client::new(emulator.instance_url());
    let token = common::token(&client).await;
    let r = client
        .json(
            "POST",
            "/services/data/v62.0/sobjects/Account/",
            &token,
            &json!({"Name": "Acme & Sons"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().expect("id").to_string();

    let delivered = wait_for(Duration::from_secs(20), || {
        !received.lock().expect("listener").is_empty()
    })
    .await;
    assert!(delivered, "no notification reached the listener");
    let (method, headers, body) = received.lock().expect("listener")[0].clone();

    // HTTP: method, content type, SOAPAction
    let http = &fixture["http"];
    assert_eq!(method.as_str(), text(http, "method"));
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let wanted = Regex::new(&text(http, "content_type")).expect("pattern");
    assert!(wanted.is_match(content_type), "content type {content_type}");
    for h in http["headers"].as_array().expect("headers") {
        let h = h.as_str().expect("a header name");
        assert!(headers.contains_key(h), "no {h} header in {headers:?}");
    }

    // the body: the documented elements, namespaces, types and values
    let got = shape::parse(&body).unwrap_or_else(|e| panic!("{e}:\n{body}"));
    if let Err(e) = shape::matches(&got, &documented, &values) {
        panic!("the notification differs from the documentation: {e}\n{body}");
    }
    // and its values are this org's
    let of = |local: &str| got.find(local).map(|e| e.text.trim().to_string());
    assert_eq!(of("OrganizationId"), Some(emulator.org_id().to_string()));
    let sobject = got.find("sObject").expect("an sObject");
    assert_eq!(
        sobject.find("Id").map(|e| e.text.trim()),
        Some(id.as_str()),
        "{body}"
    );
    let instance = emulator.instance_url();
    assert!(
        of("EnterpriseUrl").is_some_and(|u| u.starts_with(&format!("{instance}/services/Soap/c/"))),
        "{body}"
    );

    // the documented Ack settles it: acknowledged, not sent again
    let deadline = Instant::now() + Duration::from_secs(20);
    let state = loop {
        let state = client
            .send("GET", "/_emulator/outbound", &[], None, false)
            .await
            .json();
        if state[0]["acknowledged"] == json!(true) || Instant::now() >= deadline {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let acked = state[0]["acknowledged"] == json!(true) && state[0]["attempts"] == json!(1);
    assert!(
        acked,
        "the documented Ack did not settle the notification: {state}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received.lock().expect("listener").len(), 1, "sent again");
    emulator.shutdown().await;
}

#[test]
fn the_shape_check_catches_what_the_documentation_rules_out() {
    // a guard on the checker itself: each change to the documented
    // message must be caught, or the test above proves nothing
    let fixture = fixture();
    let notification = text(&fixture, "notification");
    let documented = shape::parse(&notification).expect("the fixture's XML");
    let values: BTreeMap<String, String> =
        serde_json::from_value(fixture["values"].clone()).expect("values");
    assert_eq!(shape::matches(&documented, &documented, &values), Ok(()));
    let broken = [
        // another namespace
        notification.replace("2005/09/outbound", "2005/09/inbound"),
        // elements out of order
        notification.replace(
            "<ActionId>04kXX00000000blAAA</ActionId>\n   <SessionId xsi:nil=\"true\"/>",
            "<SessionId xsi:nil=\"true\"/>\n   <ActionId>04kXX00000000blAAA</ActionId>",
        ),
        // a missing element
        notification.replace("<SessionId xsi:nil=\"true\"/>", ""),
        // an id that is not 18 characters
        notification.replace("04lXX000000CaSdAAK", "04lXX000000CaSd"),
        // an sObject typed outside the enterprise sobject namespace
        notification.replace(
            "urn:sobject.enterprise.soap.sforce.com",
            "urn:partner.soap.sforce.com",
        ),
        // a different field value
        notification.replace("Acme &amp; Sons", "Acme"),
    ];
    for (i, xml) in broken.iter().enumerate() {
        assert_ne!(xml, &notification, "case {i} changes nothing");
        let got = shape::parse(xml).expect("still XML");
        assert!(
            shape::matches(&got, &documented, &values).is_err(),
            "case {i} passes:\n{xml}"
        );
    }
    // two notifications in one message are the documented shape too
    let two = notification.replacen(
        "</Notification>",
        "</Notification>\n   <Notification><Id>04lXX000000CaSeAAK</Id><sObject xsi:type=\"sf:Account\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\"><sf:Id>001XX000003DGb3AAG</sf:Id><sf:Name>Acme &amp; Sons</sf:Name></sObject></Notification>",
        1,
    );
    let got = shape::parse(&two).expect("XML");
    assert_eq!(shape::matches(&got, &documented, &values), Ok(()));
}
