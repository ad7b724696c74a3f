//! `kafka` through `aqueduct run` against the Kafka-protocol broker of
//! `AQUEDUCT_TEST_KAFKA_URL` (tansu in CI, see `.ci/services`), with
//! rdkafka used directly as the independent client: `publish` waits for
//! delivery and its key picks the partition; `consume` hands keys and
//! headers to declared fields, commits offsets only after the targets
//! committed (the group's committed offsets reach the end of the topic, and
//! a restart reads nothing again), sends a payload that is not JSON to the
//! dead letter once; a consumer killed with SIGKILL mid-stream and started
//! again loses nothing; two consumers in one group share the partitions.
#![cfg(feature = "kafka")]

mod support;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::{Project, drain, sqlite_count, wait_until};

const TIMEOUT: Duration = Duration::from_secs(30);

/// An rdkafka admin client and producer, and the runtime they run on.
struct Kafka {
    rt: tokio::runtime::Runtime,
    bootstrap: String,
    producer: FutureProducer,
}

/// A message the independent client sends: key, headers, payload.
type Outgoing = (Option<String>, Vec<(&'static str, &'static str)>, String);

/// One message as the independent client read it.
#[derive(Debug)]
struct Read {
    partition: i32,
    key: Option<String>,
    payload: String,
}

impl Kafka {
    fn connect(url: &str) -> Kafka {
        let bootstrap = url.trim_start_matches("kafka://").to_string();
        let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let producer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("acks", "all")
            .create()
            .expect("a producer");
        Kafka {
            rt,
            bootstrap,
            producer,
        }
    }

    /// A new topic named after `prefix` with `partitions`, and a new
    /// group name: (topic, group).
    fn new_topic(&self, prefix: &str, partitions: i32) -> (String, String) {
        let topic = aqueduct_test_support::unique_name(prefix);
        self.create_topic(&topic, partitions);
        (topic, aqueduct_test_support::unique_name("aq_group"))
    }

    fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("an admin client");
        let results = self
            .rt
            .block_on(admin.create_topics(
                &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
            ))
            .expect("creates the topic");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("topic {t}: {e}"));
        }
    }

    /// Produces `(key, headers, payload)` messages and waits for each delivery.
    fn produce(&self, topic: &str, messages: Vec<Outgoing>) {
        self.rt.block_on(async {
            let mut pending = Vec::new();
            for (key, headers, payload) in &messages {
                let mut owned = OwnedHeaders::new();
                for (name, value) in headers {
                    owned = owned.insert(Header {
                        key: name,
                        value: Some(*value),
                    });
                }
                let mut record = FutureRecord::<String, String>::to(topic)
                    .payload(payload)
                    .headers(owned);
                if let Some(key) = key {
                    record = record.key(key);
                }
                pending.push(self.producer.send(record, TIMEOUT));
                if pending.len() >= 500 {
                    for d in futures::future::join_all(pending.drain(..)).await {
                        d.unwrap_or_else(|(e, _)| panic!("delivered: {e}"));
                    }
                }
            }
            for d in futures::future::join_all(pending).await {
                d.unwrap_or_else(|(e, _)| panic!("delivered: {e}"));
            }
        });
    }

    /// Reads `n` messages of `topic` from the start of every partition.
    fn read(&self, topic: &str, partitions: i32, n: usize) -> Vec<Read> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", aqueduct_test_support::unique_name("aq_reader"))
            .set("enable.auto.commit", "false")
            .create()
            .expect("a consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("a partition");
        }
        consumer.assign(&tpl).expect("assigns");
        let deadline = Instant::now() + TIMEOUT;
        let mut out = Vec::new();
        while out.len() < n && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => out.push(Read {
                    partition: m.partition(),
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    payload: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                }),
                Some(Err(e)) => panic!("reading {topic}: {e}"),
                None => {}
            }
        }
        out
    }

    /// The offsets `group` committed on each partition (-1: none).
    fn committed(&self, topic: &str, group: &str, partitions: i32) -> Vec<i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .create()
            .expect("a consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let committed = consumer
            .committed_offsets(tpl, TIMEOUT)
            .expect("committed offsets");
        (0..partitions)
            .map(
                |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => -1,
                },
            )
            .collect()
    }

    /// One past the last offset of each partition.
    fn ends(&self, topic: &str, partitions: i32) -> Vec<i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("a consumer");
        (0..partitions)
            .map(|p| {
                consumer
                    .fetch_watermarks(topic, p, TIMEOUT)
                    .expect("watermarks")
                    .1
            })
            .collect()
    }
}

fn url(test: &str) -> Option<String> {
    aqueduct_test_support::service_url("AQUEDUCT_TEST_KAFKA_URL", test)
}

fn system() -> &'static str {
    "system broker: kafka {\n  url = env(\"KAFKA_URL\")\n}\n"
}

/// A flow `drain` consuming `topic` in `group` into `out/items.db`
/// (upserted by `id`), with `policy` lines (e.g. a `rate_limit`) after
/// its target.
fn group_flow(topic: &str, group: &str, policy: &str) -> String {
    format!(
        r#"{}
type Item {{ id: int, name: string }}

flow drain {{
  mode async
  from broker.consume("{topic}", "{group}") as Item
  to sqlite("out/items.db").upsert("items", key: [id])
{policy}}}
"#,
        system()
    )
}

#[test]
fn publish_waits_for_delivery_and_the_key_picks_the_partition() {
    let Some(url) = url("publish_waits_for_delivery_and_the_key_picks_the_partition") else {
        return;
    };
    let kafka = Kafka::connect(&url);
    let topic = aqueduct_test_support::unique_name("aq_publish");
    kafka.create_topic(&topic, 3);
    let p = Project::new();
    let lines: String = (0..30)
        .map(|i| format!("{{\"id\":{i},\"customer\":\"c{}\"}}\n", i % 5))
        .collect();
    p.file("in/orders.jsonl", lines).file(
        "main.aq",
        format!(
            r#"{}
type Order {{ id: int, customer: string }}

flow send {{
  mode batch
  from file("in").read("orders.jsonl") as Order
  to broker.publish("{topic}", key: "{{.customer}}")
}}
"#,
            system()
        ),
    );
    let r = p.run_with_env(&[], &[("KAFKA_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("send"),
        "send: 30 in, 30 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    let got = kafka.read(&topic, 3, 30);
    assert_eq!(got.len(), 30, "{got:#?}");
    let mut partition_of: BTreeMap<String, i32> = BTreeMap::new();
    let mut ids = Vec::new();
    for m in &got {
        let payload: serde_json::Value = serde_json::from_str(&m.payload).expect("JSON");
        let key = m.key.clone().expect("a key");
        assert_eq!(payload["customer"], json!(key), "{m:?}");
        let first = *partition_of.entry(key.clone()).or_insert(m.partition);
        assert_eq!(first, m.partition, "key {key} on two partitions");
        ids.push(payload["id"].as_i64().expect("an id"));
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..30).collect::<Vec<_>>());
}

#[test]
fn consume_commits_after_the_targets_and_dead_letters_bad_json_once() {
    let Some(url) = url("consume_commits_after_the_targets_and_dead_letters_bad_json_once") else {
        return;
    };
    let kafka = Kafka::connect(&url);
    let (topic, group) = kafka.new_topic("aq_consume", 1);
    let msg = |key: &str, payload: &str| (Some(key.to_string()), vec![], payload.to_string());
    kafka.produce(
        &topic,
        vec![
            (
                Some("k1".to_string()),
                vec![("trace", "t-1")],
                r#"{"id":1,"name":"a"}"#.to_string(),
            ),
            msg("k2", "not json"),
            msg("k3", r#"{"id":2,"name":"b"}"#),
            (None, vec![], r#"{"id":3,"name":"c"}"#.to_string()),
        ],
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{}
type Item {{ id: int, name: string, key: string?, headers: json? }}

flow drain {{
  mode async
  from broker.consume("{topic}", "{group}", key_field: "key", headers_field: "headers") as Item
  to sqlite("out/items.db").upsert("items", key: [id])
  dead_letter file("out").append("dead.jsonl")
}}
"#,
            system()
        ),
    );
    let items = p.path("out/items.db");
    let mut running = p.spawn_with_env(&[], &[("KAFKA_URL", &url)]);
    let done = wait_until(Duration::from_secs(60), || {
        sqlite_count(&items, "select count(*) from items") == Some(3)
            && p.jsonl("out/dead.jsonl").len() == 1
    });
    assert!(done, "not all delivered; stderr:\n{}", running.stderr());
    // offsets follow the commits: the group reaches the end of the topic
    let ends = kafka.ends(&topic, 1);
    let committed = wait_until(Duration::from_secs(20), || {
        kafka.committed(&topic, &group, 1) == ends
    });
    let r = running.terminate(Duration::from_secs(30));
    assert!(
        committed,
        "committed {:?}, end {ends:?}",
        kafka.committed(&topic, &group, 1)
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("drain"),
        "drain: 4 in, 3 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead[0]["raw"], json!("not json"), "{dead:#?}");
    assert!(
        dead[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("malformed JSON"),
        "{dead:#?}"
    );
    assert_eq!(
        p.sqlite(
            "out/items.db",
            "select id, name, key, headers from items order by id"
        ),
        vec![
            vec![
                json!(1),
                json!("a"),
                json!("k1"),
                json!(r#"{"trace":"t-1"}"#)
            ],
            vec![json!(2), json!("b"), json!("k3"), json!("{}")],
            vec![json!(3), json!("c"), json!(null), json!("{}")],
        ]
    );

    // a restart in the same group reads nothing again
    let mut again = p.spawn_with_env(&[], &[("KAFKA_URL", &url)]);
    std::thread::sleep(Duration::from_secs(5));
    let r = again.terminate(Duration::from_secs(30));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("drain"),
        "drain: 0 in, 0 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        p.jsonl("out/dead.jsonl").len(),
        1,
        "the poison message came back"
    );
}

#[test]
fn consumer_killed_with_sigkill_mid_stream_loses_nothing_after_restart() {
    let Some(url) = url("consumer_killed_with_sigkill_mid_stream_loses_nothing_after_restart")
    else {
        return;
    };
    const N: i64 = drain::FAULT_MESSAGES;
    let kafka = Kafka::connect(&url);
    let (topic, group) = kafka.new_topic("aq_kill", 2);
    kafka.produce(
        &topic,
        (0..N)
            .map(|i| {
                (
                    Some(format!("k{}", i % 7)),
                    vec![],
                    format!(r#"{{"id":{i},"name":"n{i}"}}"#),
                )
            })
            .collect(),
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{}
type Item {{ id: int, name: string }}

flow drain {{
  mode async
  from broker.consume("{topic}", "{group}") as Item
  batch 500 within 50ms
  to sqlite("out/items.db").upsert("items", key: [id])
  rate_limit 2000 per 1s
}}
"#,
            system()
        ),
    );
    let ends = kafka.ends(&topic, 2);
    // settled: the group's committed offsets reach the end of both partitions
    drain::kill_and_restart(
        &p,
        ("KAFKA_URL", &url),
        N,
        |_| {},
        // The restart waits out the killed member's session (10 s): tansu
        // can give a member that joins while a dead one still holds the
        // partitions none, and never rebalance (docs/connectors.md, kafka).
        // Waiting for the group to be empty instead is not possible there:
        // tansu 0.6.0 drops the connection on a ListGroups request.
        || std::thread::sleep(Duration::from_secs(12)),
        || kafka.committed(&topic, &group, 2) == ends,
    );
}

/// Three replicas in one group on a 3-partition topic, each taking a
/// share of 3,000 messages; one killed with SIGKILL mid-stream: once its
/// session times out the group rebalances, the other two take its
/// partition from its last committed offset, and every message lands in
/// one of their tables, the committed offsets at the end of the topic.
///
/// Ignored: tansu 0.6.0, the broker of these tests, rebalances when the
/// killed member's session expires but assigns its partition to nobody
/// (2,073 of 3,000 landed here in 120 s; the same with three
/// confluent-kafka consumers and no aqueduct: after the rebalance the
/// survivors held only their own partitions). Run it against Apache Kafka
/// with `--ignored`.
#[test]
#[ignore = "tansu 0.6.0 does not reassign a killed member's partition (docs/connectors.md, kafka)"]
fn three_replicas_share_a_group_and_one_killed_loses_nothing() {
    let Some(url) = url("three_replicas_share_a_group_and_one_killed_loses_nothing") else {
        return;
    };
    const N: i64 = 3000;
    let kafka = Kafka::connect(&url);
    let (topic, group) = kafka.new_topic("aq_replicas", 3);
    kafka.produce(
        &topic,
        (0..N)
            .map(|i| (Some(format!("k{i}")), vec![], drain::item_json(i)))
            .collect(),
    );
    let ends = kafka.ends(&topic, 3);
    drain::three_replicas(
        |_| group_flow(&topic, &group, "  rate_limit 200 per 1s\n"),
        ("KAFKA_URL", &url),
        N,
        || kafka.committed(&topic, &group, 3) == ends,
    );
}

#[test]
fn two_consumers_in_one_group_share_the_topic() {
    let Some(url) = url("two_consumers_in_one_group_share_the_topic") else {
        return;
    };
    const N: i64 = 2000;
    let kafka = Kafka::connect(&url);
    let (topic, group) = kafka.new_topic("aq_share", 2);
    let flow = group_flow(&topic, &group, "");
    let (a, b) = (Project::new(), Project::new());
    a.file("main.aq", &flow);
    b.file("main.aq", &flow);
    let mut first = a.spawn_with_env(&[], &[("KAFKA_URL", &url)]);
    let mut second = b.spawn_with_env(&[], &[("KAFKA_URL", &url)]);
    // both members hold a partition before anything is published
    let assigned = |r: &support::Running| r.stderr().contains("partitions assigned");
    let settled = wait_until(Duration::from_secs(90), || {
        let (ea, eb) = (first.stderr(), second.stderr());
        let last = |s: &str| {
            s.lines()
                .rev()
                .find(|l| l.contains("partitions assigned"))
                .map(str::to_string)
        };
        matches!((last(&ea), last(&eb)), (Some(x), Some(y)) if !x.contains("[]") && !y.contains("[]"))
    });
    assert!(
        settled && assigned(&first) && assigned(&second),
        "the group did not settle; first:\n{}\nsecond:\n{}",
        first.stderr(),
        second.stderr()
    );
    kafka.produce(
        &topic,
        (0..N)
            .map(|i| {
                (
                    Some(format!("k{i}")),
                    vec![],
                    format!(r#"{{"id":{i},"name":"n{i}"}}"#),
                )
            })
            .collect(),
    );
    let dbs = [a.path("out/items.db"), b.path("out/items.db")];
    let all = wait_until(Duration::from_secs(60), || {
        support::union_of_ids(&dbs).len() as i64 == N
    });
    let ra = first.terminate(Duration::from_secs(30));
    let rb = second.terminate(Duration::from_secs(30));
    assert!(
        all,
        "{} of {N}; first:\n{}\nsecond:\n{}",
        support::union_of_ids(&dbs).len(),
        ra.stderr,
        rb.stderr
    );
    let na = sqlite_count(&dbs[0], "select count(*) from items").unwrap_or(0);
    let nb = sqlite_count(&dbs[1], "select count(*) from items").unwrap_or(0);
    assert!(
        na > 0 && nb > 0,
        "one member took everything: {na} and {nb}"
    );
    assert_eq!(na + nb, N, "a message went to both members");
}

#[test]
fn a_missing_topic_stops_the_flow_at_start_up_naming_it() {
    let Some(url) = url("a_missing_topic_stops_the_flow_at_start_up_naming_it") else {
        return;
    };
    let topic = aqueduct_test_support::unique_name("aq_missing");
    let r = drain::run_consume_once(
        system(),
        &format!(r#"broker.consume("{topic}", "g")"#),
        false,
        ("KAFKA_URL", &url),
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("`broker.consume`: topic `{topic}` does not exist")),
        "{}",
        r.stderr
    );
}

/// Stopped with SIGTERM mid-stream, the consumer commits the offsets of
/// every record it drained: on one partition the group's committed offset
/// is the number that landed, so the group goes on with exactly the ones
/// that did not. Up to the flow's queue (1,024 records) is in flight at
/// the stop, so draining them takes seconds.
#[test]
fn a_consumer_stopped_mid_stream_commits_what_it_drained() {
    let Some(url) = url("a_consumer_stopped_mid_stream_commits_what_it_drained") else {
        return;
    };
    const N: i64 = 3000;
    let kafka = Kafka::connect(&url);
    let (topic, group) = kafka.new_topic("aq_stop", 1);
    kafka.produce(
        &topic,
        (0..N)
            .map(|i| (None, vec![], drain::item_json(i)))
            .collect(),
    );
    let p = Project::new();
    p.file(
        "main.aq",
        group_flow(&topic, &group, "  rate_limit 250 per 1s\n"),
    );
    let (landed, stderr) = drain::stop_mid_stream(&p, ("KAFKA_URL", &url), N);
    let committed = kafka.committed(&topic, &group, 1);
    assert_eq!(
        committed,
        vec![landed],
        "{landed} landed; stderr:\n{stderr}"
    );
}
