//! CometD behaviour that depends on time and concurrency: a held connect
//! woken by a write, session expiry after 40 s of emulated silence,
//! retention of events, gap events, the `drop_session` fault, and token
//! revocation while subscribed.

mod common;

use common::{Client, Reply};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SEED: &str = r#"
streaming: {connect_timeout_ms: 20000, retention_hours: 72}
auth: {token_ttl_seconds: 31536000}
objects:
  - name: Account
    fields: [{name: Name, type: string}]
"#;

async fn bayeux(client: &Client, token: &str, messages: Value) -> Reply {
    client.json("POST", "/cometd/62.0", token, &messages).await
}

/// Handshake, subscribe, first connect; returns the client id and the
/// events the first connect already delivered.
async fn handshake_and_subscribe(
    client: &Client,
    token: &str,
    channel: &str,
    replay: i64,
) -> (String, Vec<Value>) {
    let r = bayeux(client, token, json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]}])).await;
    let id = r.json()[0]["clientId"]
        .as_str()
        .expect("clientId")
        .to_string();
    let r = bayeux(client, token, json!([{"channel": "/meta/subscribe", "clientId": id, "subscription": channel, "ext": {"replay": {channel: replay}}}])).await;
    assert_eq!(r.json()[0]["successful"], true, "{}", r.text);
    let mut first = connect(client, token, &id).await;
    assert_eq!(
        first.pop().map(|m| m["successful"].clone()),
        Some(json!(true))
    );
    (id, first)
}

async fn connect(client: &Client, token: &str, id: &str) -> Vec<Value> {
    let r = bayeux(
        client,
        token,
        json!([{"channel": "/meta/connect", "clientId": id, "connectionType": "long-polling"}]),
    )
    .await;
    r.json().as_array().cloned().unwrap_or_default()
}

async fn admin(client: &Client, method: &str, path: &str, body: Value) -> Reply {
    client
        .send(
            method,
            path,
            &[],
            Some(("application/json".into(), body.to_string().into_bytes())),
            false,
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_connect_is_answered_as_soon_as_a_write_commits() {
    let emulator = common::start_yaml(SEED).await;
    let client = std::sync::Arc::new(Client::new(emulator.instance_url()));
    let token = common::token(&client).await;
    let (id, _) = handshake_and_subscribe(&client, &token, "/data/AccountChangeEvent", -1).await;
    let started = Instant::now();
    let poll = {
        let (client, token, id) = (client.clone(), token.clone(), id.clone());
        tokio::spawn(async move { connect(&client, &token, &id).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = client
        .json(
            "POST",
            "/services/data/v62.0/sobjects/Account/",
            &token,
            &json!({"Name": "Wake up"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let messages = poll.await.expect("connect finishes");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered by the write, not by the 20 s timeout"
    );
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["data"]["payload"]["Name"], "Wake up");
    emulator.shutdown().await;
}

#[tokio::test]
async fn sessions_expire_after_forty_seconds_without_a_connect() {
    let emulator = common::start_yaml(&SEED.replace("20000", "200")).await;
    let client = Client::new(emulator.instance_url());
    let token = common::token(&client).await;
    let (id, _) = handshake_and_subscribe(&client, &token, "/data/AccountChangeEvent", -1).await;
    admin(
        &client,
        "POST",
        "/_emulator/clock/advance",
        json!({"seconds": 39}),
    )
    .await;
    assert_eq!(
        connect(&client, &token, &id)
            .await
            .last()
            .map(|m| m["successful"].clone()),
        Some(json!(true)),
        "39 s is within the timeout"
    );
    admin(
        &client,
        "POST",
        "/_emulator/clock/advance",
        json!({"seconds": 41}),
    )
    .await;
    let reply = connect(&client, &token, &id).await;
    assert_eq!(
        reply,
        vec![
            json!({"channel": "/meta/connect", "clientId": id, "successful": false, "error": "403::Unknown client", "advice": {"reconnect": "handshake", "interval": 0}})
        ]
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn events_are_retained_for_72_hours_and_old_replay_ids_become_invalid() {
    let emulator = common::start_yaml(&SEED.replace("20000", "200")).await;
    let client = Client::new(emulator.instance_url());
    let token = common::token(&client).await;
    let r = client
        .json(
            "POST",
            "/services/data/v62.0/sobjects/Account/",
            &token,
            &json!({"Name": "Old"}),
        )
        .await;
    assert_eq!(r.status, 201);
    admin(
        &client,
        "POST",
        "/_emulator/clock/advance",
        json!({"seconds": 71 * 3600}),
    )
    .await;
    client
        .json(
            "POST",
            "/services/data/v62.0/sobjects/Account/",
            &token,
            &json!({"Name": "Recent"}),
        )
        .await;
    // 71 h later both are retained.
    let (_, first) = handshake_and_subscribe(&client, &token, "/data/AccountChangeEvent", -2).await;
    let names: Vec<Value> = first
        .iter()
        .filter_map(|m| m["data"]["payload"].get("Name").cloned())
        .collect();
    assert_eq!(names, [json!("Old"), json!("Recent")]);
    // Two more hours: the first is gone, and so is resuming from before it.
    admin(
        &client,
        "POST",
        "/_emulator/clock/advance",
        json!({"seconds": 2 * 3600}),
    )
    .await;
    let (id, first) =
        handshake_and_subscribe(&client, &token, "/data/AccountChangeEvent", -2).await;
    let names: Vec<Value> = first
        .iter()
        .filter_map(|m| m["data"]["payload"].get("Name").cloned())
        .collect();
    assert_eq!(names, [json!("Recent")]);
    let r = bayeux(&client, &token, json!([{"channel": "/meta/subscribe", "clientId": id, "subscription": "/data/AccountChangeEvent", "ext": {"replay": {"/data/AccountChangeEvent": 0}}}])).await;
    assert_eq!(
        r.json()[0]["error"],
        "400::The replayId 0 you provided was invalid. Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn gap_events_drop_session_faults_and_revoked_tokens() {
    let emulator = common::start_yaml(&SEED.replace("20000", "200")).await;
    let client = Client::new(emulator.instance_url());
    let token = common::token(&client).await;
    let (id, _) = handshake_and_subscribe(&client, &token, "/data/ChangeEvents", -1).await;

    let r = admin(&client, "POST", "/_emulator/events/gap", json!({"object": "Account", "change_type": "GAP_UPDATE", "record_ids": ["001000000000001AAA"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    admin(
        &client,
        "POST",
        "/_emulator/events/gap",
        json!({"object": "Account", "change_type": "GAP_OVERFLOW"}),
    )
    .await;
    let messages = connect(&client, &token, &id).await;
    let headers: Vec<Value> = messages
        .iter()
        .filter_map(|m| m["data"]["payload"].get("ChangeEventHeader").cloned())
        .collect();
    assert_eq!(headers.len(), 2, "{messages:?}");
    assert_eq!(
        (
            headers[0]["changeType"].clone(),
            headers[0]["recordIds"].clone()
        ),
        (json!("GAP_UPDATE"), json!(["001000000000001AAA"]))
    );
    assert_eq!(headers[1]["changeType"], "GAP_OVERFLOW");
    assert_eq!(messages[0]["channel"], "/data/ChangeEvents");
    assert!(
        messages[0]["data"]["payload"]
            .as_object()
            .is_some_and(|p| p.len() == 1),
        "gap events carry only the header"
    );

    // A fault rule drops the session on the next connect.
    let r = admin(
        &client,
        "POST",
        "/_emulator/faults",
        json!({"fault": "drop_session"}),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        connect(&client, &token, &id).await[0]["error"],
        "403::Unknown client"
    );

    // A revoked token: connect answers 401 with reconnect none.
    let (id, _) = handshake_and_subscribe(&client, &token, "/data/ChangeEvents", -1).await;
    let form = format!("token={token}").into_bytes();
    let r = client
        .send(
            "POST",
            "/services/oauth2/revoke",
            &[],
            Some(("application/x-www-form-urlencoded".into(), form)),
            false,
        )
        .await;
    assert_eq!(r.status, 200);
    let reply = connect(&client, &token, &id).await;
    assert_eq!(reply[0]["error"], "401::Authentication invalid");
    assert_eq!(
        reply[0]["advice"],
        json!({"reconnect": "none", "interval": 0})
    );
    emulator.shutdown().await;
}
