//! `kafka` through `aqueduct run` against the Kafka-protocol broker of
//! `AQUEDUCT_TEST_KAFKA_URL` (tansu in CI, see `.ci/services`), with
//! rdkafka used directly as the independent client: `publish` waits for
//! delivery and its key picks the partition, and sends a json field as the
//! message headers (a record whose field is not an object of strings goes
//! to the dead letter, alone even in a `batch` group); `consume` hands keys and
//! headers to declared fields, commits offsets only after the targets
//! committed (the group's committed offsets reach the end of the topic, and
//! a restart reads nothing again), sends a payload that is not JSON to the
//! dead letter once; a consumer killed with SIGKILL mid-stream and started
//! again loses nothing; two consumers in one group share the partitions.
#![cfg(feature = "kafka")]

mod support;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::kafka::{Kafka, TIMEOUT};
use support::{Project, drain, sqlite_count, wait_until};

/// One message as the independent client read it.
#[derive(Debug)]
struct Read {
    partition: i32,
    key: Option<String>,
    /// Name and value of each header, in order (`None`: no value).
    headers: Vec<(String, Option<String>)>,
    payload: String,
}

impl Kafka {
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
                    headers: m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| {
                                    let value =
                                        h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                                    (h.key.to_string(), value)
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    payload: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                }),
                Some(Err(e)) => panic!("reading {topic}: {e}"),
                None => {}
            }
        }
        out
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

/// `headers_field:` on `publish`, one record at a time (`send`) and in
/// `batch` groups (`grouped`): an object of strings becomes the headers
/// (a null member a header without a value) and leaves the JSON payload,
/// a null or absent field sends none, and a record whose field is anything
/// else goes to the dead letter with the reason while the records around
/// it are published.
#[test]
fn publish_sends_a_json_field_as_the_message_headers() {
    let Some(url) = url("publish_sends_a_json_field_as_the_message_headers") else {
        return;
    };
    let kafka = Kafka::connect(&url);
    let (single, grouped) = (
        aqueduct_test_support::unique_name("aq_headers"),
        aqueduct_test_support::unique_name("aq_headers_grouped"),
    );
    kafka.create_topic(&single, 1);
    kafka.create_topic(&grouped, 1);
    let p = Project::new();
    p.file(
        "in/orders.jsonl",
        concat!(
            "{\"id\":1,\"headers\":{\"trace\":\"t-1\",\"tenant\":\"acme\"}}\n",
            "{\"id\":2,\"headers\":null}\n",
            "{\"id\":3}\n",
            "{\"id\":4,\"headers\":{\"trace\":4}}\n",
            "{\"id\":5,\"headers\":\"t-5\"}\n",
            "{\"id\":6,\"headers\":{\"flag\":null}}\n",
        ),
    )
    .file(
        "main.aq",
        format!(
            r#"{}
type Order {{ id: int, headers: json? }}

flow send {{
  mode batch
  from file("in").read("orders.jsonl") as Order
  to broker.publish("{single}", headers_field: "headers")
  dead_letter file("out").append("send.jsonl")
}}

flow grouped {{
  mode async
  from file("in").read("orders.jsonl") as Order
  batch 10 within 50ms
  to broker.publish("{grouped}", headers_field: "headers")
  dead_letter file("out").append("grouped.jsonl")
}}
"#,
            system()
        ),
    );
    let r = p.run_with_env(&[], &[("KAFKA_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let header = |k: &str, v: Option<&str>| (k.to_string(), v.map(str::to_string));
    for (flow, topic) in [("send", &single), ("grouped", &grouped)] {
        assert_eq!(
            r.summary(flow),
            format!("{flow}: 6 in, 4 delivered, 0 filtered, 2 failed, 2 dead-lettered"),
            "{}",
            r.stderr
        );
        let mut got = kafka.read(topic, 1, 4);
        got.sort_by_key(|m| {
            serde_json::from_str::<serde_json::Value>(&m.payload).expect("JSON")["id"]
                .as_i64()
                .unwrap_or_default()
        });
        let seen: Vec<_> = got
            .iter()
            .map(|m| {
                let payload: serde_json::Value = serde_json::from_str(&m.payload).expect("JSON");
                let mut headers = m.headers.clone();
                headers.sort();
                (payload["id"].clone(), headers)
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (
                    json!(1),
                    vec![header("tenant", Some("acme")), header("trace", Some("t-1"))]
                ),
                (json!(2), vec![]),
                (json!(3), vec![]),
                (json!(6), vec![header("flag", None)]),
            ],
            "{flow}: {got:#?}"
        );
        // the headers travel as headers, not in the payload
        let payloads: Vec<&str> = got.iter().map(|m| m.payload.as_str()).collect();
        assert_eq!(
            payloads,
            [r#"{"id":1}"#, r#"{"id":2}"#, r#"{"id":3}"#, r#"{"id":6}"#],
            "{flow}"
        );
        let dead = p.jsonl(&format!("out/{flow}.jsonl"));
        let reasons: Vec<(serde_json::Value, String)> = dead
            .iter()
            .map(|d| {
                (
                    d["record"]["id"].clone(),
                    d["error"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert_eq!(reasons.len(), 2, "{flow}: {dead:#?}");
        assert_eq!(reasons[0].0, json!(4), "{flow}: {dead:#?}");
        assert!(
            reasons[0].1.contains(
                "`broker.publish`: headers_field: header `trace` in `headers` must be a string, not a number"
            ),
            "{flow}: {dead:#?}"
        );
        assert_eq!(reasons[1].0, json!(5), "{flow}: {dead:#?}");
        assert!(
            reasons[1].1.contains(
                "`broker.publish`: headers_field: `headers` must hold an object of strings, not a string"
            ),
            "{flow}: {dead:#?}"
        );
    }
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
        (0..N).map(|i| {
            (
                Some(format!("k{}", i % 7)),
                vec![],
                format!(r#"{{"id":{i},"name":"n{i}"}}"#),
            )
        }),
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
/// This needs the consumer's cooperative-sticky assignment: with the eager
/// `range` strategy tansu 0.6.0 kept the survivors on their own partitions
/// for good (2,073 of 3,000 landed in 120 s; docs/connectors.md, kafka).
#[test]
fn three_replicas_share_a_group_and_one_killed_loses_nothing() {
    let Some(url) = url("three_replicas_share_a_group_and_one_killed_loses_nothing") else {
        return;
    };
    const N: i64 = 3000;
    let kafka = Kafka::connect(&url);
    let (topic, group) = kafka.new_topic("aq_replicas", 3);
    kafka.produce(
        &topic,
        (0..N).map(|i| (Some(format!("k{i}")), vec![], drain::item_json(i))),
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
        // what a member holds now (`added` and `revoked` say what changed)
        let holds = |line: &str| !line.contains("partitions=[]");
        matches!((last(&ea), last(&eb)), (Some(x), Some(y)) if holds(&x) && holds(&y))
    });
    assert!(
        settled && assigned(&first) && assigned(&second),
        "the group did not settle; first:\n{}\nsecond:\n{}",
        first.stderr(),
        second.stderr()
    );
    kafka.produce(
        &topic,
        (0..N).map(|i| {
            (
                Some(format!("k{i}")),
                vec![],
                format!(r#"{{"id":{i},"name":"n{i}"}}"#),
            )
        }),
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
    kafka.produce(&topic, (0..N).map(|i| (None, vec![], drain::item_json(i))));
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
