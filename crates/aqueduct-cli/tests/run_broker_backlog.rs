//! Memory under a backlog: 100,000 messages of about 1 KiB each (about
//! 100 MiB) wait in RabbitMQ, NATS JetStream, a Redis stream, an MQTT
//! persistent session and a Kafka topic, and `aqueduct run` drains them
//! into a file. While
//! it works through them, the process's peak resident memory (`VmHWM`
//! from `/proc`) stays under 100 MiB, less than the backlog itself, and
//! the broker still holds what the flow has not written yet, give or take
//! the connector's bounds (prefetch, pull batch, read count) and the
//! flow's input queue: the broker keeps the backlog, not aqueduct. A
//! memory bound, not a timing.
//!
//! MQTT runs on a Mosquitto of the test's own that queues the whole
//! backlog for the session (the shared one keeps 1000); what it holds is
//! its store count, which keeps each message until the subscriber
//! acknowledged it. Kafka keeps every message in its log whatever the
//! consumers do, so what it holds for the flow is the group's lag: the
//! end of the topic less the offset the group committed. librdkafka's
//! prefetch queue is bounded (`queued.max.messages.kbytes`, 8 MiB, about
//! 8,000 of these messages), so the peak memory is what shows that aqueduct
//! does not read the log ahead without bound.

mod support;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;
use support::{Project, Running, wait_until};

/// Messages in each backlog.
const BACKLOG: u64 = 100_000;
/// Bytes of padding per message.
const PAD: usize = 1000;
/// How many must be written before the peak is read: by then a consumer
/// that buffered without bound would have taken most of the backlog.
const LANDED: u64 = 20_000;
/// The bound on the `aqueduct run` process's peak resident memory.
const PEAK_LIMIT_KIB: u64 = 100 * 1024;
/// Messages that may be out of the broker and not yet written: the
/// connectors' prefetch (100), pull batches and pending bound (1000), read
/// count (100), the flow's input queue (1024) and the group it takes at
/// once (256), rounded up generously. (Kafka's lag counts from the
/// committed offset, which never passes what was written.)
const OUT_OF_BROKER: u64 = 5_000;
/// Guards against hangs (a debug build on a loaded machine), not timings.
const PROGRESS_LIMIT: Duration = Duration::from_secs(300);

fn payload(id: u64, pad: &str) -> String {
    format!(r#"{{"id":{id},"pad":"{pad}"}}"#)
}

fn payloads() -> impl Iterator<Item = String> {
    let pad = "x".repeat(PAD);
    (0..BACKLOG).map(move |id| payload(id, &pad))
}

fn project(system: &str, from: &str) -> Project {
    let project = Project::new();
    project.file(
        "main.aq",
        format!(
            "{system}\ntype Item {{ id: int, pad: string }}\n\nflow drain {{\n  mode async\n  from {from} as Item\n  to file(\"out\").append(\"items.jsonl\")\n}}\n"
        ),
    );
    project
}

/// Counts the lines of a growing file, reading only what was added.
#[derive(Default)]
struct Lines {
    seen: u64,
    count: u64,
}

impl Lines {
    fn count(&mut self, path: &Path) -> u64 {
        let Ok(mut file) = File::open(path) else {
            return 0;
        };
        if file.seek(SeekFrom::Start(self.seen)).is_err() {
            return self.count;
        }
        let mut buf = vec![0u8; 1 << 20];
        while let Ok(n) = file.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.seen += n as u64;
            self.count += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        }
        self.count
    }
}

fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs the flow until `LANDED` records are written, then checks the peak
/// memory and, with `in_broker` (messages the broker has not handed out
/// yet), that the broker still holds the rest of the backlog; stops the run.
fn drain_part(project: &Project, env: (&str, &str), mut in_broker: impl FnMut() -> u64) {
    let out = project.path("out/items.jsonl");
    let mut lines = Lines::default();
    let mut run: Running = project.spawn_with_env(&[], &[env]);
    assert!(
        wait_until(PROGRESS_LIMIT, || lines.count(&out) >= LANDED),
        "only {} of {LANDED} records written; stderr:\n{}",
        lines.count,
        run.stderr()
    );
    let held = in_broker();
    let written = lines.count(&out);
    let peak = peak_kib(run.pid());
    run.signal("TERM");
    let _ = run.wait_exit(Duration::from_secs(30));
    assert!(
        written < BACKLOG - OUT_OF_BROKER,
        "the flow wrote {written} records before the check; the backlog is gone"
    );
    assert!(
        held + written >= BACKLOG - OUT_OF_BROKER,
        "the broker holds {held} messages with {written} written: aqueduct took {} more than it wrote",
        BACKLOG - held - written
    );
    assert!(
        peak > 0 && peak <= PEAK_LIMIT_KIB,
        "peak resident memory {:.1} MiB (limit {} MiB) with {written} of {BACKLOG} messages written",
        peak as f64 / 1024.0,
        PEAK_LIMIT_KIB / 1024
    );
    eprintln!(
        "peak {:.1} MiB, {written} written, {held} still in the broker",
        peak as f64 / 1024.0
    );
}

#[test]
fn amqp_consume_leaves_a_100k_backlog_in_the_queue_with_flat_memory() {
    use lapin::options::QueueDeleteOptions;
    let Some(url) = aqueduct_test_support::service_url(
        "AQUEDUCT_TEST_AMQP_URL",
        "amqp_consume_leaves_a_100k_backlog_in_the_queue_with_flat_memory",
    ) else {
        return;
    };
    let queue = aqueduct_test_support::unique_name("aq_backlog");
    let rabbit = support::rabbit::Rabbit::connect(&url);
    rabbit.declare(&queue);
    rabbit.publish(&queue, payloads());
    let project = project(
        "system broker: amqp {\n  url = env(\"AMQP_URL\")\n}\n",
        &format!("broker.consume(\"{queue}\")"),
    );
    drain_part(&project, ("AMQP_URL", &url), || {
        u64::from(rabbit.ready(&queue))
    });
    rabbit.rt.block_on(async {
        let _ = rabbit
            .channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
    });
}

#[test]
fn nats_durable_subscribe_leaves_a_100k_backlog_in_the_stream_with_flat_memory() {
    use async_nats::jetstream::{self, stream};
    let Some(url) = aqueduct_test_support::service_url(
        "AQUEDUCT_TEST_NATS_URL",
        "nats_durable_subscribe_leaves_a_100k_backlog_in_the_stream_with_flat_memory",
    ) else {
        return;
    };
    let name = aqueduct_test_support::unique_name("aq_backlog");
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let js = rt.block_on(async {
        let client = async_nats::connect(&url).await.expect("connects to NATS");
        let js = jetstream::new(client);
        js.create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{name}.>")],
            ..Default::default()
        })
        .await
        .expect("creates the stream");
        let mut acks = Vec::new();
        for p in payloads() {
            acks.push(
                js.publish(format!("{name}.items"), p.into())
                    .await
                    .expect("publishes"),
            );
            if acks.len() >= 1000 {
                for a in acks.drain(..) {
                    a.await.expect("stored");
                }
            }
        }
        for a in acks {
            a.await.expect("stored");
        }
        js
    });
    let project = project(
        "system bus: nats {\n  url = env(\"NATS_URL\")\n}\n",
        &format!("bus.subscribe(\"{name}.>\", durable: \"drain\")"),
    );
    drain_part(&project, ("NATS_URL", &url), || {
        rt.block_on(async {
            let stream = js.get_stream(&name).await.expect("the stream");
            let mut consumer: jetstream::consumer::PullConsumer =
                stream.get_consumer("drain").await.expect("the consumer");
            consumer.info().await.expect("consumer info").num_pending
        })
    });
    rt.block_on(async {
        let _ = js.delete_stream(&name).await;
    });
}

#[test]
fn redis_stream_leaves_a_100k_backlog_in_the_stream_with_flat_memory() {
    let Some(url) = aqueduct_test_support::service_url(
        "AQUEDUCT_TEST_REDIS_URL",
        "redis_stream_leaves_a_100k_backlog_in_the_stream_with_flat_memory",
    ) else {
        return;
    };
    let key = aqueduct_test_support::unique_name("aq_backlog");
    let mut conn = redis::Client::open(url.as_str())
        .expect("a redis url")
        .get_connection()
        .expect("connects to Redis");
    let pad = "x".repeat(PAD);
    for start in (0..BACKLOG).step_by(1000) {
        let mut pipe = redis::pipe();
        for id in start..(start + 1000).min(BACKLOG) {
            pipe.cmd("XADD")
                .arg(&key)
                .arg("*")
                .arg("id")
                .arg(id)
                .arg("pad")
                .arg(&pad)
                .ignore();
        }
        pipe.query::<()>(&mut conn).expect("XADD");
    }
    let project = project(
        "system cache: redis {\n  url = env(\"REDIS_URL\")\n}\n",
        &format!("cache.stream(\"{key}\", \"workers\")"),
    );
    drain_part(&project, ("REDIS_URL", &url), || {
        // entries of the stream never delivered to the group
        let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&key)
            .query(&mut conn)
            .expect("XINFO GROUPS");
        match groups.first().and_then(|g| g.get("lag")) {
            Some(redis::Value::Int(n)) => *n as u64,
            other => panic!("XINFO GROUPS lag: {other:?}"),
        }
    });
    let _ = redis::cmd("DEL").arg(&key).query::<()>(&mut conn);
}

/// An MQTT client of the test's (rumqttc) on the broker at `url`.
fn mqtt_options(url: &str, client_id: &str, clean: bool) -> rumqttc::MqttOptions {
    let mut options = rumqttc::MqttOptions::parse_url(format!("{url}?client_id={client_id}"))
        .expect("an mqtt url");
    options
        .set_clean_session(clean)
        .set_keep_alive(Duration::from_secs(30));
    options
}

/// Creates the persistent session `client_id` subscribed to `filter` at
/// QoS 1, then publishes the backlog to `topic` at QoS 1 and waits for
/// every PUBACK: the session queues all of it.
fn mqtt_backlog(url: &str, client_id: &str, filter: &str, topic: &str) {
    use rumqttc::{AsyncClient, Event, Incoming, QoS};
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(async {
        let (session, mut eventloop) = AsyncClient::new(mqtt_options(url, client_id, false), 10);
        session
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribes");
        while !matches!(
            eventloop.poll().await.expect("subscribing"),
            Event::Incoming(Incoming::SubAck(_))
        ) {}
        let _ = session.disconnect().await;
        while eventloop.poll().await.is_ok() {}

        let id = aqueduct_test_support::unique_name("aq-backlog-pub");
        let (publisher, mut eventloop) = AsyncClient::new(mqtt_options(url, &id, true), 1000);
        let topic = topic.to_string();
        let sender = tokio::spawn(async move {
            for p in payloads() {
                publisher
                    .publish(topic.as_str(), QoS::AtLeastOnce, false, p.into_bytes())
                    .await
                    .expect("publishes");
            }
        });
        let mut acked = 0;
        while acked < BACKLOG {
            match tokio::time::timeout(Duration::from_secs(60), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Incoming::PubAck(_)))) => acked += 1,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("publishing failed: {e}"),
                Err(_) => panic!("no PUBACK for {} messages", BACKLOG - acked),
            }
        }
        sender.await.expect("the publisher ends");
    });
}

/// The messages the broker holds, from its `$SYS/broker/store/messages/count`
/// (published every second with `sys_interval 1`): a message stays in
/// Mosquitto's store until every session it is queued for acknowledged
/// it, so this counts what the subscriber has not acknowledged (plus the
/// broker's few retained `$SYS` messages). The first fresh value, not the
/// retained one, which may be a second old.
fn mqtt_stored(url: &str) -> u64 {
    use rumqttc::{Client, Event, Incoming, QoS};
    let id = aqueduct_test_support::unique_name("aq-backlog-sys");
    let (client, mut connection) = Client::new(mqtt_options(url, &id, true), 10);
    client
        .subscribe("$SYS/broker/store/messages/count", QoS::AtMostOnce)
        .expect("subscribes to $SYS");
    for event in connection.iter().take(1000) {
        if let Ok(Event::Incoming(Incoming::Publish(p))) = event
            && !p.retain
        {
            let _ = client.disconnect();
            return std::str::from_utf8(&p.payload)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or_else(|| panic!("a count in {:?}", p.payload));
        }
    }
    panic!("no $SYS store count from the broker");
}

/// The MQTT backlog waits in a persistent session (QoS 1) of a Mosquitto
/// of the test's own that queues all of it (the shared one keeps 1000 per
/// session), drained at 5,000 a second. Mosquitto does not hold a resumed
/// session's queue back by its in-flight window, so what bounds aqueduct
/// here is its own reading: a subscriber that read its socket into a
/// buffer without bound would hold most of the 100 MiB by the time 20,000
/// are written. The store count cannot show that (a message stays in it
/// until acknowledged, and aqueduct acknowledges only what it wrote);
/// the peak memory does.
#[test]
fn mqtt_subscribe_leaves_a_100k_backlog_in_the_session_with_flat_memory() {
    if aqueduct_test_support::service_url(
        "AQUEDUCT_TEST_MQTT_URL",
        "mqtt_subscribe_leaves_a_100k_backlog_in_the_session_with_flat_memory",
    )
    .is_none()
    {
        return;
    }
    let broker = aqueduct_test_support::Mosquitto::start(&format!(
        "{}sys_interval 1\n",
        aqueduct_test_support::KEEP_EVERYTHING
    ))
    .expect("a private mosquitto starts");
    let url = broker.url();
    let topic = aqueduct_test_support::unique_name("aq/backlog");
    let client = aqueduct_test_support::unique_name("aq-backlog");
    let filter = format!("{topic}/#");
    mqtt_backlog(&url, &client, &filter, &format!("{topic}/items"));
    // paced: the unpaced drain is done within the second the broker takes
    // to publish a fresh store count, and a slow target is the case to test
    let project = Project::new();
    project.file(
        "main.aq",
        format!(
            "system devices: mqtt {{\n  url = env(\"MQTT_URL\")\n  client_id = \"{client}\"\n}}\n\ntype Item {{ id: int, pad: string }}\n\nflow drain {{\n  mode async\n  from devices.subscribe(\"{filter}\", 1) as Item\n  to file(\"out\").append(\"items.jsonl\")\n  rate_limit 5000 per 1s\n}}\n"
        ),
    );
    drain_part(&project, ("MQTT_URL", &url), || mqtt_stored(&url));
}

/// The Kafka backlog waits in a one-partition topic; aqueduct consumes it
/// in a group of its own. The broker's view is the group's lag (end of
/// the topic less its committed offset), read with rdkafka while the flow
/// works; the offset must have moved by then (commits go on mid-stream,
/// every 200 ms), so the lag is the part of the backlog still to do.
#[cfg(feature = "kafka")]
#[test]
fn kafka_consume_leaves_a_100k_backlog_in_the_topic_with_flat_memory() {
    let Some(url) = aqueduct_test_support::service_url(
        "AQUEDUCT_TEST_KAFKA_URL",
        "kafka_consume_leaves_a_100k_backlog_in_the_topic_with_flat_memory",
    ) else {
        return;
    };
    let kafka = support::kafka::Kafka::connect(&url);
    let (topic, group) = kafka.new_topic("aq_backlog", 1);
    kafka.produce(&topic, payloads().map(|p| (None, vec![], p)));
    let end = kafka.ends(&topic, 1)[0];
    assert_eq!(end, BACKLOG as i64, "the topic holds the backlog");
    let project = project(
        "system broker: kafka {\n  url = env(\"KAFKA_URL\")\n}\n",
        &format!("broker.consume(\"{topic}\", \"{group}\")"),
    );
    drain_part(&project, ("KAFKA_URL", &url), || {
        let committed = kafka.committed(&topic, &group, 1)[0];
        assert!(
            committed > 0,
            "no offset committed with {LANDED} or more written"
        );
        (end - committed) as u64
    });
}
