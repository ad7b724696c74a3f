//! `mqtt` through `aqueduct run` against the Mosquitto broker of
//! `AQUEDUCT_TEST_MQTT_URL`, with rumqttc as the independent client:
//! `subscribe` at QoS 1 delivers into SQLite (bad JSON to the dead letter
//! once); a subscriber killed with SIGKILL mid-stream loses nothing after
//! restart (its persistent session keeps what was not acknowledged);
//! `publish` at QoS 1 returns after the broker's PUBACK and the messages
//! reach a subscriber.

mod support;

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::json;
use std::time::Duration;
use support::{Project, drain, wait_until};

fn url(test: &str) -> Option<String> {
    aqueduct_test_support::service_url("AQUEDUCT_TEST_MQTT_URL", test)
}

fn options(url: &str, client_id: &str) -> MqttOptions {
    let sep = if url.contains('?') { '&' } else { '?' };
    MqttOptions::parse_url(format!("{url}{sep}client_id={client_id}")).expect("an mqtt url")
}

/// Publishes every payload at QoS 1 and waits for all PUBACKs.
fn publish_all(url: &str, topic: &str, payloads: Vec<String>) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(async {
        let id = aqueduct_test_support::unique_name("pub");
        let (client, mut eventloop) = AsyncClient::new(options(url, &id), 100);
        let n = payloads.len();
        let sender = client.clone();
        let topic = topic.to_string();
        tokio::spawn(async move {
            for p in payloads {
                sender
                    .publish(topic.clone(), QoS::AtLeastOnce, false, p.into_bytes())
                    .await
                    .expect("publishes");
            }
        });
        let mut acked = 0;
        while acked < n {
            match tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Incoming::PubAck(_)))) => acked += 1,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("publishing failed: {e}"),
                Err(_) => panic!("no PUBACK for {} messages", n - acked),
            }
        }
        let _ = client.disconnect().await;
    });
}

const SYSTEM: &str =
    "system devices: mqtt {\n  url = secret(\"MQTT_URL\")\n  client_id = \"CLIENT\"\n}\n";

/// A flow subscribed to `topic` at QoS 1 as `client`, into `out/items.db`
/// (see `support::drain`).
fn ingest_flow(topic: &str, client: &str) -> String {
    format!(
        r#"{}
type Item {{ id: int, name: string }}

flow ingest {{
  mode async
  from devices.subscribe("{topic}", 1) as Item
  to sqlite("out/items.db").upsert("items", key: [id])
  dead_letter file("out").append("dead.jsonl")
  rate_limit 200 per 1s
}}
"#,
        SYSTEM.replace("CLIENT", client)
    )
}

/// Waits until `running` subscribed, then publishes `n` items to `topic`.
fn subscribed_then_publish(running: &mut support::Running, url: &str, topic: &str, n: i64) {
    wait_subscribed(running);
    publish_all(url, topic, (0..n).map(drain::item_json).collect());
}

fn wait_subscribed(running: &mut support::Running) {
    assert!(
        wait_until(Duration::from_secs(20), || running
            .stderr()
            .contains("subscribed")),
        "not subscribed; stderr:\n{}",
        running.stderr()
    );
}

#[test]
fn subscribe_at_qos1_delivers_and_dead_letters_bad_json_once() {
    let Some(url) = url("subscribe_at_qos1_delivers_and_dead_letters_bad_json_once") else {
        return;
    };
    let topic = aqueduct_test_support::unique_name("aq/sub");
    let client = aqueduct_test_support::unique_name("aq-sub");
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{}
type Item {{ id: int, name: string }}

flow ingest {{
  mode async
  from devices.subscribe("{topic}/+", 1) as Item
  to sqlite("out/items.db").upsert("items", key: [id])
  dead_letter file("out").append("dead.jsonl")
}}
"#,
            SYSTEM.replace("CLIENT", &client)
        ),
    );
    // QoS 1 acknowledges on receipt: nothing to wait for at the broker
    let (r, _) = drain::deliver_and_stop(
        &p,
        ("MQTT_URL", &url),
        |running| {
            wait_subscribed(running);
            publish_all(
                &url,
                &format!("{topic}/a"),
                vec![
                    r#"{"id":1,"name":"a"}"#.into(),
                    "oops".into(),
                    r#"{"id":2,"name":"b"}"#.into(),
                ],
            );
        },
        (2, 1),
        "not all delivered",
        || true,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("ingest"),
        "ingest: 3 in, 2 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead[0]["raw"], json!("oops"));
}

#[test]
fn subscriber_killed_with_sigkill_mid_stream_loses_nothing_after_restart() {
    let Some(url) = url("subscriber_killed_with_sigkill_mid_stream_loses_nothing_after_restart")
    else {
        return;
    };
    // Mosquitto queues at most 1000 messages per session (max_queued_messages)
    const N: i64 = 600;
    let topic = aqueduct_test_support::unique_name("aq/kill");
    let client = aqueduct_test_support::unique_name("aq-kill");
    let p = Project::new();
    p.file("main.aq", ingest_flow(&topic, &client));
    // The persistent session holds what was not acknowledged; nothing to ask the broker.
    drain::kill_and_restart(
        &p,
        ("MQTT_URL", &url),
        N,
        100,
        |first| subscribed_then_publish(first, &url, &topic, N),
        || {},
        || true,
    );
}

#[test]
fn publish_at_qos1_reaches_a_subscriber() {
    let Some(url) = url("publish_at_qos1_reaches_a_subscriber") else {
        return;
    };
    let topic = aqueduct_test_support::unique_name("aq/pub");
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let (client, mut eventloop) = AsyncClient::new(
        options(&url, &aqueduct_test_support::unique_name("listener")),
        100,
    );
    let received = rt.block_on(async {
        client
            .subscribe(format!("{topic}/#"), QoS::AtLeastOnce)
            .await
            .expect("subscribes");
        loop {
            if let Ok(Event::Incoming(Incoming::SubAck(_))) = eventloop.poll().await {
                break;
            }
        }
        let p = Project::new();
        p.file(
            "in/items.jsonl",
            "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n",
        )
        .file(
            "main.aq",
            format!(
                r#"{}
type Item {{ id: int, name: string }}

flow send {{
  mode batch
  from file("in").read("items.jsonl") as Item
  to devices.publish("{topic}/{{.id}}", 1)
}}
"#,
                SYSTEM.replace("CLIENT", &aqueduct_test_support::unique_name("aq-pub"))
            ),
        );
        let mqtt_url = url.clone();
        let run = tokio::task::spawn_blocking(move || {
            let r = p.run_with_env(&[], &[("MQTT_URL", &mqtt_url)]);
            (r.code, r.stderr)
        });
        let mut got = Vec::new();
        while got.len() < 2 {
            match tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Incoming::Publish(m)))) => got.push((
                    m.topic.clone(),
                    String::from_utf8_lossy(&m.payload).into_owned(),
                )),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let (code, stderr) = run.await.expect("the run ends");
        assert_eq!(code, 0, "{stderr}");
        got
    });
    assert_eq!(
        received,
        vec![
            (format!("{topic}/1"), r#"{"id":1,"name":"a"}"#.to_string()),
            (format!("{topic}/2"), r#"{"id":2,"name":"b"}"#.to_string()),
        ]
    );
}

#[test]
fn subscriber_recovers_from_a_cut_connection_and_loses_nothing() {
    let Some(url) = url("subscriber_recovers_from_a_cut_connection_and_loses_nothing") else {
        return;
    };
    const N: i64 = 600;
    let proxy = aqueduct_test_support::FaultProxy::start("127.0.0.1:1883");
    let proxied = format!("mqtt://127.0.0.1:{}", proxy.port());
    let topic = aqueduct_test_support::unique_name("aq/cut");
    let client = aqueduct_test_support::unique_name("aq-cut");
    let p = Project::new();
    p.file("main.aq", ingest_flow(&topic, &client));
    drain::cut_and_recover(
        &p,
        ("MQTT_URL", &proxied),
        &proxy,
        N,
        100,
        |running| subscribed_then_publish(running, &url, &topic, N),
        || true,
    );
}
