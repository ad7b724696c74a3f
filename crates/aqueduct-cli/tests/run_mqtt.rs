//! `mqtt` through `aqueduct run` against the Mosquitto broker of
//! `AQUEDUCT_TEST_MQTT_URL`, with rumqttc as the independent client:
//! `subscribe` at QoS 1 delivers into SQLite (bad JSON to the dead letter
//! once); a subscriber at QoS 1 or 2 killed with SIGKILL at a random
//! moment of 20,000 messages, or whose connection is cut, loses nothing and
//! upserts each once (its persistent session keeps what was not
//! acknowledged);
//! `publish` at QoS 1 returns after the broker's PUBACK and the messages
//! reach a subscriber, and at QoS 2 large groups arrive whole; a subscriber stopped after a flood leaves nothing
//! unacknowledged, and one living through a broker restart loses nothing.
//! The fault tests run against a Mosquitto of their own that keeps every
//! message (`aqueduct_test_support::Mosquitto`).

mod support;

use rumqttc::{AsyncClient, Event, Incoming, QoS};
use serde_json::json;
use std::time::Duration;
use support::mqtt::{
    create_session, items, options, paced_publisher, private_broker, publish_all, queued_backlog,
    unacknowledged, wait_subscribed,
};
use support::{Project, drain, publish, wait_until};

fn url(test: &str) -> Option<String> {
    aqueduct_test_support::service_url("AQUEDUCT_TEST_MQTT_URL", test)
}

const SYSTEM: &str =
    "system devices: mqtt {\n  url = secret(\"MQTT_URL\")\n  client_id = \"CLIENT\"\n}\n";

/// A Mosquitto of the test's own that keeps every message and saves its
/// sessions across a restart, for a test that restarts it.
fn persistent_broker() -> aqueduct_test_support::Mosquitto {
    aqueduct_test_support::Mosquitto::start(&format!(
        "{}{}",
        aqueduct_test_support::KEEP_EVERYTHING,
        aqueduct_test_support::PERSISTENT
    ))
    .expect("a private mosquitto starts")
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
                QoS::AtLeastOnce,
                vec![
                    br#"{"id":1,"name":"a"}"#.to_vec(),
                    b"oops".to_vec(),
                    br#"{"id":2,"name":"b"}"#.to_vec(),
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

/// The flow of the kill and cut tests: `topic` at `qos` as `client` into
/// `out/items.db` (see `support::drain::fast_flow`), in groups of 20, the
/// messages Mosquitto has in flight to a client at once
/// (`max_inflight_messages`): the next ones come only after the acks.
fn fast_flow(topic: &str, client: &str, qos: u8) -> String {
    drain::fast_flow(
        &SYSTEM.replace("CLIENT", client),
        &format!(r#"devices.subscribe("{topic}", {qos})"#),
        20,
    )
}

/// A subscriber at `qos` killed with SIGKILL at a random moment of 20,000
/// messages and started again: its persistent session keeps what it had
/// not acknowledged, so every message lands, each once at the upsert.
fn killed_and_restarted(test: &str, qos: QoS) {
    let Some(broker) = private_broker(test) else {
        return;
    };
    let url = broker.url();
    const N: i64 = drain::FAULT_MESSAGES;
    let topic = aqueduct_test_support::unique_name("aq/kill");
    let client = aqueduct_test_support::unique_name("aq-kill");
    let p = Project::new();
    p.file("main.aq", fast_flow(&topic, &client, qos as u8));
    let mut publisher = None;
    // the persistent session holds what was not acknowledged; nothing to ask the broker
    drain::kill_and_restart(
        &p,
        ("MQTT_URL", &url),
        N,
        |first| {
            wait_subscribed(first);
            publisher = Some(paced_publisher(
                &url,
                &topic,
                qos,
                N,
                vec![p.path(drain::ITEMS_DB)],
                400,
            ));
        },
        || {},
        || true,
    );
    let published = publisher
        .expect("started")
        .join()
        .expect("the publisher ran");
    assert_eq!(published, Ok(()));
}

#[test]
fn subscriber_at_qos1_killed_with_sigkill_at_random_loses_nothing_after_restart() {
    killed_and_restarted(
        "subscriber_at_qos1_killed_with_sigkill_at_random_loses_nothing_after_restart",
        QoS::AtLeastOnce,
    );
}

#[test]
fn subscriber_at_qos2_killed_with_sigkill_at_random_loses_nothing_after_restart() {
    killed_and_restarted(
        "subscriber_at_qos2_killed_with_sigkill_at_random_loses_nothing_after_restart",
        QoS::ExactlyOnce,
    );
}

/// Runs `project` with `url` as `MQTT_URL` while a subscriber at `qos`,
/// subscribed to `topic/#` before the run starts, listens: the run's exit
/// code and stderr, and the messages received as (topic, payload), up to
/// `n` or until none came for 10 s.
fn run_while_listening(
    url: &str,
    topic: &str,
    qos: QoS,
    project: Project,
    n: usize,
) -> (i32, String, Vec<(String, String)>) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let (client, mut eventloop) = AsyncClient::new(
        options(url, &aqueduct_test_support::unique_name("listener")),
        100,
    );
    rt.block_on(async {
        client
            .subscribe(format!("{topic}/#"), qos)
            .await
            .expect("subscribes");
        loop {
            if let Ok(Event::Incoming(Incoming::SubAck(_))) = eventloop.poll().await {
                break;
            }
        }
        let mqtt_url = url.to_string();
        let run = tokio::task::spawn_blocking(move || {
            let r = project.run_with_env(&[], &[("MQTT_URL", &mqtt_url)]);
            (r.code, r.stderr)
        });
        let mut got = Vec::new();
        while got.len() < n {
            match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Incoming::Publish(m)))) => got.push((
                    m.topic.clone(),
                    String::from_utf8_lossy(&m.payload).into_owned(),
                )),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let (code, stderr) = run.await.expect("the run ends");
        (code, stderr, got)
    })
}

#[test]
fn publish_at_qos1_reaches_a_subscriber() {
    let Some(url) = url("publish_at_qos1_reaches_a_subscriber") else {
        return;
    };
    let topic = aqueduct_test_support::unique_name("aq/pub");
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
    let (code, stderr, received) = run_while_listening(&url, &topic, QoS::AtLeastOnce, p, 2);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        received,
        vec![
            (format!("{topic}/1"), r#"{"id":1,"name":"a"}"#.to_string()),
            (format!("{topic}/2"), r#"{"id":2,"name":"b"}"#.to_string()),
        ]
    );
}

/// 500 records published at QoS 2 in groups of 250 to a Mosquitto that
/// keeps every message (`max_queued_messages 0`, as a subscriber that
/// must not lose messages needs): every one reaches a subscriber. Mosquitto
/// takes at most `max_inflight_messages` (20) incoming QoS 2 messages of
/// an MQTT 3.1.1 client at once: with rumqttc's default of 100 in flight
/// it reset the publisher's connection here and the flow failed (and an
/// earlier test publisher with 50 in flight lost messages silently), so
/// `publish` at QoS 2 keeps at most 20 in flight.
#[test]
fn publish_at_qos2_of_large_groups_loses_nothing() {
    let Some(broker) = private_broker("publish_at_qos2_of_large_groups_loses_nothing") else {
        return;
    };
    const N: usize = 500;
    let topic = aqueduct_test_support::unique_name("aq/pub2");
    let p = Project::new();
    let items: String = (0..N as i64).map(|i| drain::item_json(i) + "\n").collect();
    p.file("in/items.jsonl", items).file(
        "main.aq",
        format!(
            r#"{}
type Item {{ id: int, name: string }}

flow send {{
  mode async
  from file("in").read("items.jsonl") as Item
  batch 250 within 1s
  to devices.publish("{topic}/items", 2)
}}
"#,
            SYSTEM.replace("CLIENT", &aqueduct_test_support::unique_name("aq-pub2"))
        ),
    );
    let (code, stderr, received) =
        run_while_listening(&broker.url(), &topic, QoS::ExactlyOnce, p, N);
    assert_eq!(code, 0, "{stderr}");
    let ids = publish::ids(received.iter().map(|(_, payload)| payload));
    let missing: Vec<i64> = (0..N as i64).filter(|i| !ids.contains(i)).collect();
    assert!(
        missing.is_empty(),
        "{} of {N} never arrived: {missing:?}",
        missing.len()
    );
}

/// A subscriber at `qos` whose connection is cut at a random moment of
/// 20,000 messages by a fault-injecting proxy: it reconnects, resumes its
/// session, and every message lands, each once at the upsert.
fn cut_and_recovered(test: &str, qos: QoS) {
    let Some(broker) = private_broker(test) else {
        return;
    };
    let url = broker.url();
    const N: i64 = drain::FAULT_MESSAGES;
    let proxy = aqueduct_test_support::FaultProxy::start(&format!("127.0.0.1:{}", broker.port()));
    let proxied = format!("mqtt://127.0.0.1:{}", proxy.port());
    let topic = aqueduct_test_support::unique_name("aq/cut");
    let client = aqueduct_test_support::unique_name("aq-cut");
    let p = Project::new();
    p.file("main.aq", fast_flow(&topic, &client, qos as u8));
    let mut publisher = None;
    drain::cut_and_recover(
        &p,
        ("MQTT_URL", &proxied),
        &proxy,
        N,
        |running| {
            wait_subscribed(running);
            publisher = Some(paced_publisher(
                &url,
                &topic,
                qos,
                N,
                vec![p.path(drain::ITEMS_DB)],
                400,
            ));
        },
        || true,
    );
    let published = publisher
        .expect("started")
        .join()
        .expect("the publisher ran");
    assert_eq!(published, Ok(()));
}

#[test]
fn subscriber_at_qos1_recovers_from_a_cut_connection_and_loses_nothing() {
    cut_and_recovered(
        "subscriber_at_qos1_recovers_from_a_cut_connection_and_loses_nothing",
        QoS::AtLeastOnce,
    );
}

#[test]
fn subscriber_at_qos2_recovers_from_a_cut_connection_and_loses_nothing() {
    cut_and_recovered(
        "subscriber_at_qos2_recovers_from_a_cut_connection_and_loses_nothing",
        QoS::ExactlyOnce,
    );
}

/// Counts the messages on `filter` as they come, on a thread of its own,
/// until its connection fails (the broker restarting); returns once it
/// is subscribed.
fn live_count(url: &str, filter: &str) -> std::sync::Arc<std::sync::atomic::AtomicI64> {
    let count = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let (counter, url, filter) = (count.clone(), url.to_string(), filter.to_string());
    let (subscribed, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
        rt.block_on(async move {
            let id = aqueduct_test_support::unique_name("counter");
            let (c, mut eventloop) = AsyncClient::new(options(&url, &id), 10);
            let _ = c.subscribe(filter, QoS::AtMostOnce).await;
            while let Ok(event) = eventloop.poll().await {
                match event {
                    Event::Incoming(Incoming::SubAck(_)) => {
                        let _ = subscribed.send(());
                    }
                    Event::Incoming(Incoming::Publish(_)) => {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    _ => {}
                }
            }
        });
    });
    ready
        .recv_timeout(Duration::from_secs(20))
        .expect("the counter subscribes");
    count
}

/// Resumes the persistent session `client_id` and takes (acknowledging)
/// every message it holds, until none came for 3 s: the items' ids.
fn take_session(url: &str, client_id: &str) -> std::collections::BTreeSet<i64> {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(async {
        let mut options = options(url, client_id);
        options.set_clean_session(false);
        let (_client, mut eventloop) = AsyncClient::new(options, 100);
        let mut ids = std::collections::BTreeSet::new();
        while let Ok(Ok(event)) =
            tokio::time::timeout(Duration::from_secs(3), eventloop.poll()).await
        {
            if let Event::Incoming(Incoming::Publish(m)) = event
                && let Ok(item) = serde_json::from_slice::<serde_json::Value>(&m.payload)
                && let Some(id) = item["id"].as_i64()
            {
                ids.insert(id);
            }
        }
        ids
    })
}

/// `publish` at QoS 1 through a restart of the broker (`support::publish`;
/// a Mosquitto of the test's own that keeps its sessions): the writes
/// that fail while it is down are retried on the next connection, and a
/// persistent session subscribed before the run holds every item
/// afterwards.
#[test]
fn publish_recovers_from_a_broker_restart_and_loses_nothing() {
    if url("publish_recovers_from_a_broker_restart_and_loses_nothing").is_none() {
        return;
    }
    let mut broker = persistent_broker();
    let url = broker.url();
    let topic = aqueduct_test_support::unique_name("aq/pubrestart");
    let session = aqueduct_test_support::unique_name("aq-pubrestart-session");
    create_session(&url, &session, &format!("{topic}/#"));
    let seen = live_count(&url, &format!("{topic}/#"));
    let p = publish::project(
        &SYSTEM.replace(
            "CLIENT",
            &aqueduct_test_support::unique_name("aq-pubrestart"),
        ),
        &format!(r#"devices.publish("{topic}/items", 1)"#),
    );
    publish::through_restart(
        &p,
        ("MQTT_URL", &url),
        || seen.load(std::sync::atomic::Ordering::SeqCst),
        || broker.restart().expect("the broker starts again"),
        || take_session(&url, &session),
    );
}

/// A backlog far over `max_inflight_messages` queued for a session: the
/// broker sends it all at once when the session resumes. Stopped with
/// SIGTERM once everything landed, the subscriber leaves nothing
/// unacknowledged. The release build in the broker benchmark (60,000 to
/// 100,000 messages) used to leave thousands: it closed its socket right
/// after the DISCONNECT with data unread in it, the kernel reset the
/// connection and the broker dropped the acks it had not read yet. This
/// debug-build test did not reproduce that race (it passed before the fix
/// too); it holds the guarantee.
#[test]
fn a_subscriber_stopped_after_a_flood_leaves_nothing_unacknowledged() {
    let test = "a_subscriber_stopped_after_a_flood_leaves_nothing_unacknowledged";
    let Some(broker) = private_broker(test) else {
        return;
    };
    let url = broker.url();
    const N: i64 = 30_000;
    let (topic, client) = queued_backlog(&url, "flood", items(N));
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            "{}\n{}\nflow drain {{\n  mode async\n  from devices.subscribe(\"{topic}/#\", 1) as Item\n  to file(\"out\").append(\"items.jsonl\")\n}}\n",
            SYSTEM.replace("CLIENT", &client),
            "type Item { id: int, name: string }"
        ),
    );
    let mut running = p.spawn_with_env(&[], &[("MQTT_URL", &url)]);
    let out = p.path("out/items.jsonl");
    let landed = || {
        std::fs::read_to_string(&out)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(60), || landed() >= N as usize),
        "{} of {N} landed; stderr:\n{}",
        landed(),
        running.stderr()
    );
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        unacknowledged(&url, &client),
        0,
        "messages came again after a clean stop"
    );
}

/// The broker restarted (SIGTERM, started again on the same port; its
/// sessions persisted) while a subscriber drains 5,000 queued messages at
/// QoS 1: the subscriber reconnects with backoff, resumes its session and
/// every message lands once at the upsert. Once the copies the broker sent
/// again are delivered, a clean stop leaves nothing unacknowledged.
#[test]
fn subscriber_recovers_from_a_broker_restart_and_loses_nothing() {
    let test = "subscriber_recovers_from_a_broker_restart_and_loses_nothing";
    if url(test).is_none() {
        return;
    }
    let mut broker = persistent_broker();
    let url = broker.url();
    const N: i64 = 5000;
    let (topic, client) = queued_backlog(&url, "restart", items(N));
    let p = Project::new();
    // paced, so that the restart comes mid-stream; every delivery also
    // appended to `seen.jsonl`, duplicates included
    let flow = fast_flow(&format!("{topic}/#"), &client, 1)
        .replace("  dead_letter", "  rate_limit 1000 per 1s\n  dead_letter")
        .replace(
            "  to sqlite",
            "  to file(\"out\").append(\"seen.jsonl\")\n  to sqlite",
        );
    p.file("main.aq", flow);
    let seen = p.path("out/seen.jsonl");
    let mut last = (0, std::time::Instant::now());
    let r = drain::strike_and_recover(
        &p,
        ("MQTT_URL", &url),
        N,
        "a broker restart",
        |_| {},
        || broker.restart().expect("the broker starts again"),
        // Every message received before the restart still lands, but its
        // ack cannot go out any more, so the broker sends it again on the
        // new connection: wait until those copies are delivered too (no
        // delivery for 5 s).
        || {
            let delivered = std::fs::read_to_string(&seen)
                .map(|t| t.lines().count())
                .unwrap_or(0);
            if delivered != last.0 {
                last = (delivered, std::time::Instant::now());
            }
            last.1.elapsed() >= Duration::from_secs(5)
        },
    );
    assert!(
        r.stderr.contains("the broker connection failed"),
        "the restart was noticed: {}",
        r.stderr
    );
    assert_eq!(
        unacknowledged(&url, &client),
        0,
        "messages came again after a clean stop"
    );
}
