//! Bulk API 2.0 through HTTP with a processing delay: clients really see
//! `InProgress` and must poll, and Bulk writes publish change events with a
//! `bulkapi` change origin.

mod common;

use common::Client;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_closed_job_is_in_progress_until_processed() {
    let emulator = common::start_yaml(
        "bulk: {processing_delay_ms: 400}\nstreaming: {connect_timeout_ms: 200}\nobjects:\n  - name: Account\n    fields: [{name: Name, type: string}]\n",
    )
    .await;
    let client = Client::new(emulator.instance_url());
    let token = common::token(&client).await;
    let r = client
        .json(
            "POST",
            "/cometd/62.0",
            &token,
            &json!([{"channel": "/meta/handshake", "version": "1.0"}]),
        )
        .await;
    let cid = r.json()[0]["clientId"]
        .as_str()
        .expect("client")
        .to_string();
    client.json("POST", "/cometd/62.0", &token, &json!([{"channel": "/meta/subscribe", "clientId": cid, "subscription": "/data/AccountChangeEvent"}, {"channel": "/meta/connect", "clientId": cid}])).await;

    let job = client
        .json(
            "POST",
            "/services/data/v62.0/jobs/ingest",
            &token,
            &json!({"object": "Account", "operation": "insert"}),
        )
        .await
        .json();
    let id = job["id"].as_str().expect("job id").to_string();
    let r = client
        .send(
            "PUT",
            &format!("/services/data/v62.0/jobs/ingest/{id}/batches"),
            &[common::auth(&token)],
            Some(("text/csv".into(), b"Name\nBulk One\nBulk Two\n".to_vec())),
            true,
        )
        .await;
    assert_eq!(r.status, 201);
    client
        .json(
            "PATCH",
            &format!("/services/data/v62.0/jobs/ingest/{id}"),
            &token,
            &json!({"state": "UploadComplete"}),
        )
        .await;

    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = client
            .get(&format!("/services/data/v62.0/jobs/ingest/{id}"), &token)
            .await
            .json()["state"]
            .clone();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        if state == "JobComplete" || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.last(), Some(&json!("JobComplete")), "{seen:?}");
    assert!(
        seen.contains(&json!("InProgress")),
        "the delay makes InProgress visible: {seen:?}"
    );

    let events = client
        .json(
            "POST",
            "/cometd/62.0",
            &token,
            &json!([{"channel": "/meta/connect", "clientId": cid}]),
        )
        .await
        .json();
    let origins: Vec<Value> = events
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            m["data"]["payload"]["ChangeEventHeader"]
                .get("changeOrigin")
                .cloned()
        })
        .collect();
    assert_eq!(
        origins,
        [
            json!("com/salesforce/api/bulkapi/62.0"),
            json!("com/salesforce/api/bulkapi/62.0")
        ],
        "{events}"
    );
    emulator.shutdown().await;
}
