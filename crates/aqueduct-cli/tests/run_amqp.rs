//! `amqp` through `aqueduct run` against the RabbitMQ server of
//! `AQUEDUCT_TEST_AMQP_URL`, with lapin as the independent client:
//! `consume` delivers every message into SQLite and acks it only then (the
//! queue is empty after the run), a payload that is not JSON goes to the
//! dead letter once with its raw text and is acked; `publish` waits for
//! publisher confirms and an unroutable message is an error; a consumer
//! killed with SIGKILL at a random moment of 20,000 messages and started
//! again, or whose connection is cut, loses nothing and upserts each once.

mod support;

use lapin::options::{BasicGetOptions, QueueDeleteOptions};
use serde_json::json;
use std::time::Duration;
use support::rabbit::Rabbit;
use support::{Project, drain, publish, sqlite_count, wait_until};

impl Rabbit {
    /// Takes every message of the queue (acking each).
    fn drain(&self, queue: &str) -> Vec<String> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            while let Some(m) = self
                .channel
                .basic_get(queue.into(), BasicGetOptions { no_ack: true })
                .await
                .expect("basic.get")
            {
                out.push(String::from_utf8_lossy(&m.delivery.data).into_owned());
            }
            out
        })
    }

    /// A new durable queue named after `prefix`, holding items `0..n`
    /// (see `support::drain`).
    fn queue_of_items(&self, prefix: &str, n: i64) -> String {
        let queue = aqueduct_test_support::unique_name(prefix);
        self.declare(&queue);
        self.publish(&queue, (0..n).map(drain::item_json));
        queue
    }

    fn delete(&self, queue: &str) {
        self.rt.block_on(async {
            let _ = self
                .channel
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await;
        });
    }
}

fn url(test: &str) -> Option<String> {
    aqueduct_test_support::service_url("AQUEDUCT_TEST_AMQP_URL", test)
}

fn system() -> &'static str {
    "system broker: amqp {\n  url = secret(\"AMQP_URL\")\n}\n"
}

/// A flow draining `queue` into `out/items.db` (see `support::drain`).
fn drain_flow(queue: &str, prefetch: u32, per_second: u32) -> String {
    format!(
        r#"{}
type Item {{ id: int, name: string }}

flow drain {{
  mode async
  from broker.consume("{queue}", prefetch: {prefetch}) as Item
  to sqlite("out/items.db").upsert("items", key: [id])
  dead_letter file("out").append("dead.jsonl")
  rate_limit {per_second} per 1s
}}
"#,
        system()
    )
}

/// The flow of the kill and cut tests: `queue` drained fast (see
/// `support::drain::fast_flow`), with enough prefetch to fill its groups.
fn fast_flow(queue: &str) -> String {
    drain::fast_flow(
        system(),
        &format!(r#"broker.consume("{queue}", prefetch: 1000)"#),
        500,
    )
}

#[test]
fn consume_delivers_acks_after_commit_and_dead_letters_bad_json_once() {
    let Some(url) = url("consume_delivers_acks_after_commit_and_dead_letters_bad_json_once") else {
        return;
    };
    let rabbit = Rabbit::connect(&url);
    let queue = aqueduct_test_support::unique_name("aq_consume");
    rabbit.declare(&queue);
    rabbit.publish(
        &queue,
        [
            r#"{"id":1,"name":"a"}"#.to_string(),
            "not json".to_string(),
            r#"{"id":2,"name":"b"}"#.to_string(),
            r#"{"id":3}"#.to_string(),
            r#"{"id":4,"name":"d"}"#.to_string(),
        ],
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{}
type Item {{ id: int, name: string }}

flow drain {{
  mode async
  from broker.consume("{queue}", prefetch: 2) as Item
  to sqlite("out/items.db").upsert("items", key: [id])
  dead_letter file("out").append("dead.jsonl")
}}
"#,
            system()
        ),
    );
    // acks follow the commits: wait until the broker has none left
    let (r, emptied) = drain::deliver_and_stop(
        &p,
        ("AMQP_URL", &url),
        |_| {},
        (3, 2),
        "not all delivered",
        || rabbit.ready(&queue) == 0,
    );
    assert!(emptied);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("drain"),
        "drain: 5 in, 3 delivered, 0 filtered, 2 failed, 2 dead-lettered"
    );
    assert!(
        !r.stderr.contains("guest:guest"),
        "the URL leaked: {}",
        r.stderr
    );
    // after the consumer closed, nothing came back unacknowledged
    assert_eq!(rabbit.ready(&queue), 0, "every message was acknowledged");
    let dead = p.jsonl("out/dead.jsonl");
    let bad = dead
        .iter()
        .find(|d| d["raw"] == json!("not json"))
        .unwrap_or_else(|| panic!("the bad payload in {dead:#?}"));
    assert!(
        bad["error"]
            .as_str()
            .unwrap_or("")
            .contains("malformed JSON"),
        "{bad}"
    );
    let missing = dead
        .iter()
        .find(|d| d["raw"] == json!(r#"{"id":3}"#))
        .unwrap_or_else(|| panic!("the record without name in {dead:#?}"));
    assert!(
        missing["error"].as_str().unwrap_or("").contains("name"),
        "{missing}"
    );
    assert_eq!(
        p.sqlite("out/items.db", "select id, name from items order by id"),
        vec![
            vec![json!(1), json!("a")],
            vec![json!(2), json!("b")],
            vec![json!(4), json!("d")]
        ]
    );
    rabbit.delete(&queue);
}

#[test]
fn publish_waits_for_confirms_and_an_unroutable_message_is_an_error() {
    let Some(url) = url("publish_waits_for_confirms_and_an_unroutable_message_is_an_error") else {
        return;
    };
    let rabbit = Rabbit::connect(&url);
    let queue = aqueduct_test_support::unique_name("aq_publish");
    rabbit.declare(&queue);
    let p = Project::new();
    p.file(
        "in/items.jsonl",
        "{\"id\":1,\"name\":\"a\",\"to\":\"QUEUE\"}\n{\"id\":2,\"name\":\"b\",\"to\":\"QUEUE\"}\n{\"id\":3,\"name\":\"c\",\"to\":\"nowhere\"}\n"
            .replace("QUEUE", &queue),
    )
    .file(
        "main.aq",
        format!(
            r#"{}
type Item {{ id: int, name: string, to: string }}

flow send {{
  mode batch
  from file("in").read("items.jsonl") as Item
  to broker.publish("", "{{.to}}")
  dead_letter file("out").append("dead.jsonl")
}}
"#,
            system()
        ),
    );
    let r = p.run_with_env(&[], &[("AMQP_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("send"),
        "send: 3 in, 2 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    let got = rabbit.drain(&queue);
    assert_eq!(
        got,
        vec![
            format!(r#"{{"id":1,"name":"a","to":"{queue}"}}"#),
            format!(r#"{{"id":2,"name":"b","to":"{queue}"}}"#),
        ]
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:#?}");
    let error = dead[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("could not route")
            && error.contains("routing key `nowhere`")
            && error.contains("312 NO_ROUTE"),
        "{error}"
    );
    rabbit.delete(&queue);
}

#[test]
fn consumer_killed_with_sigkill_mid_stream_loses_nothing_after_restart() {
    let Some(url) = url("consumer_killed_with_sigkill_mid_stream_loses_nothing_after_restart")
    else {
        return;
    };
    const N: i64 = drain::FAULT_MESSAGES;
    let rabbit = Rabbit::connect(&url);
    let queue = rabbit.queue_of_items("aq_kill", N);
    let p = Project::new();
    p.file("main.aq", fast_flow(&queue));
    drain::kill_and_restart(
        &p,
        ("AMQP_URL", &url),
        N,
        |_| {},
        || {},
        || rabbit.ready(&queue) == 0,
    );
    rabbit.delete(&queue);
}

#[test]
fn a_missing_queue_stops_the_flow_at_start_up_naming_it() {
    let Some(url) = url("a_missing_queue_stops_the_flow_at_start_up_naming_it") else {
        return;
    };
    let queue = aqueduct_test_support::unique_name("aq_missing");
    let r = drain::run_consume_once(
        system(),
        &format!(r#"broker.consume("{queue}")"#),
        true,
        ("AMQP_URL", &url),
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "`broker.consume`: queue `{queue}` is not available"
        )) && r.stderr.contains("NOT_FOUND"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("guest:guest"),
        "the URL leaked: {}",
        r.stderr
    );
}

#[test]
fn consume_reconnects_after_a_cut_connection_and_loses_nothing() {
    let Some(url) = url("consume_reconnects_after_a_cut_connection_and_loses_nothing") else {
        return;
    };
    const N: i64 = drain::FAULT_MESSAGES;
    let rabbit = Rabbit::connect(&url);
    let queue = rabbit.queue_of_items("aq_cut", N);
    let proxy = aqueduct_test_support::FaultProxy::start("127.0.0.1:5672");
    let proxied = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port());
    let p = Project::new();
    p.file("main.aq", fast_flow(&queue));
    let r = drain::cut_and_recover(
        &p,
        ("AMQP_URL", &proxied),
        &proxy,
        N,
        |_| {},
        || rabbit.ready(&queue) == 0,
    );
    assert!(r.stderr.contains("reconnecting"), "{}", r.stderr);
    rabbit.delete(&queue);
}

/// A RabbitMQ node of the test's own (`aqueduct_test_support::rabbitmq`),
/// for a test that restarts it, and its URL.
fn private_rabbit() -> (aqueduct_test_support::Daemon, String) {
    let node = aqueduct_test_support::rabbitmq().expect("a private RabbitMQ node starts");
    let url = aqueduct_test_support::amqp_url(&node);
    (node, url)
}

/// The broker restarted (SIGTERM, started again on the same port) while a
/// consumer drains 3,000 persistent messages of a durable queue: the
/// consumer logs the failure, reconnects with backoff, declares nothing
/// it should not, and every message lands once, with nothing left in the
/// queue.
#[test]
fn consume_recovers_from_a_broker_restart_and_loses_nothing() {
    if url("consume_recovers_from_a_broker_restart_and_loses_nothing").is_none() {
        return;
    }
    let (mut broker, url) = private_rabbit();
    const N: i64 = 3000;
    let queue = Rabbit::connect(&url).queue_of_items("aq_restart", N);
    let p = Project::new();
    // paced, so that the restart comes mid-stream
    p.file("main.aq", drain_flow(&queue, 100, 1000));
    let r = drain::strike_and_recover(
        &p,
        ("AMQP_URL", &url),
        N,
        "a broker restart",
        |_| {},
        || broker.restart().expect("the broker starts again"),
        // the test's connection died with the broker: a new one each time
        || Rabbit::connect(&url).ready(&queue) == 0,
    );
    assert!(r.stderr.contains("reconnecting"), "{}", r.stderr);
}

/// `publish` through a restart of the broker (`support::publish`): the
/// writes that fail while it is down are retried, the next one connects
/// and opens its channel again, and every item is in the durable queue
/// afterwards.
#[test]
fn publish_recovers_from_a_broker_restart_and_loses_nothing() {
    if url("publish_recovers_from_a_broker_restart_and_loses_nothing").is_none() {
        return;
    }
    let (mut broker, url) = private_rabbit();
    let queue = aqueduct_test_support::unique_name("aq_pubrestart");
    Rabbit::connect(&url).declare(&queue);
    let p = publish::project(system(), &format!(r#"broker.publish("", "{queue}")"#));
    publish::through_restart(
        &p,
        ("AMQP_URL", &url),
        || i64::from(Rabbit::connect(&url).ready(&queue)),
        || broker.restart().expect("the broker starts again"),
        || publish::ids(&Rabbit::connect(&url).drain(&queue)),
    );
}

#[test]
fn three_replicas_share_a_queue_and_one_killed_loses_nothing() {
    let Some(url) = url("three_replicas_share_a_queue_and_one_killed_loses_nothing") else {
        return;
    };
    const N: i64 = 3000;
    let rabbit = Rabbit::connect(&url);
    let queue = rabbit.queue_of_items("aq_replicas", N);
    drain::three_replicas(
        |_| drain_flow(&queue, 20, 300),
        ("AMQP_URL", &url),
        N,
        || rabbit.ready(&queue) == 0,
    );
    rabbit.delete(&queue);
}

#[test]
fn a_slow_flow_leaves_the_backlog_in_the_queue() {
    let Some(url) = url("a_slow_flow_leaves_the_backlog_in_the_queue") else {
        return;
    };
    const N: u32 = 5000;
    const PREFETCH: u32 = 20;
    let rabbit = Rabbit::connect(&url);
    let queue = aqueduct_test_support::unique_name("aq_backlog");
    rabbit.declare(&queue);
    rabbit.publish(
        &queue,
        (0..N).map(|i| format!(r#"{{"id":{i},"name":"n{i}"}}"#)),
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{}
type Item {{ id: int, name: string }}

flow drain {{
  mode async
  from broker.consume("{queue}", prefetch: {PREFETCH}) as Item
  to sqlite("out/items.db").upsert("items", key: [id])
  dead_letter file("out").append("dead.jsonl")
  rate_limit 50 per 1s
}}
"#,
            system()
        ),
    );
    let table = p.path("out/items.db");
    let count = || sqlite_count(&table, "select count(*) from items").unwrap_or(0);
    let mut running = p.spawn_with_env(&[], &[("AMQP_URL", &url)]);
    assert!(
        wait_until(Duration::from_secs(30), || count() >= 100),
        "no progress; stderr:\n{}",
        running.stderr()
    );
    // everything not yet delivered is still in the queue, but for at most
    // `prefetch` messages handed to aqueduct and not yet acknowledged
    for _ in 0..5 {
        let before = count() as u32;
        let ready = rabbit.ready(&queue);
        let after = count() as u32;
        assert!(
            ready + PREFETCH + (after - before) + 1 >= N - before,
            "aqueduct holds more than prefetch: ready {ready}, delivered {before}..{after} of {N}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    rabbit.delete(&queue);
}

#[test]
fn the_work_queue_example_is_drained_by_three_replicas() {
    let Some(url) = url("the_work_queue_example_is_drained_by_three_replicas") else {
        return;
    };
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/work-queue");
    let queue = aqueduct_test_support::unique_name("work_queue_jobs");
    let p = Project::new();
    for rel in ["aqueduct.yaml", "queue.aq", "input/jobs.jsonl"] {
        let text = std::fs::read_to_string(example.join(rel)).expect("reads the example");
        p.file(rel, text.replace("work_queue_jobs", &queue));
    }
    let rabbit = Rabbit::connect(&url);
    rabbit.declare(&queue);
    let env = [("AMQP_URL", url.as_str())];
    let r = p.run_with_env(&["--flow", "enqueue"], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("enqueue"),
        "enqueue: 1000 in, 1000 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    // one after another, as the README says: the replicas share one SQLite
    // file, whose set-up at start-up takes a lock a parallel start can hit
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let replica = p.spawn_with_env(&["--flow", "work"], &env);
        let started = wait_until(Duration::from_secs(20), || {
            replica.stderr().contains("consuming")
        });
        assert!(started, "stderr:\n{}", replica.stderr());
        replicas.push(replica);
    }
    let db = p.path("out/jobs.db");
    let done = wait_until(Duration::from_secs(60), || {
        sqlite_count(&db, "select count(*) from jobs") == Some(1000)
    });
    assert!(done, "stderr:\n{}", replicas[0].stderr());
    let emptied = wait_until(Duration::from_secs(10), || rabbit.ready(&queue) == 0);
    let mut taken = Vec::new();
    for r in replicas.iter_mut() {
        let out = r.terminate(Duration::from_secs(20));
        assert_eq!(out.code, 0, "{}", out.stderr);
        taken.push(out.received("work"));
    }
    assert!(emptied, "the queue still holds messages");
    assert_eq!(
        taken.iter().sum::<i64>(),
        1000,
        "each job taken once: {taken:?}"
    );
    assert_eq!(
        p.sqlite(
            "out/jobs.db",
            "select count(distinct id), min(id), max(id) from jobs"
        ),
        vec![vec![json!(1000), json!(1), json!(1000)]]
    );
    assert_eq!(
        p.sqlite(
            "out/jobs.db",
            "select id, customer, amount from jobs where id = 42"
        ),
        vec![vec![json!(42), json!("c8"), json!("52.42")]]
    );
    println!("jobs taken per replica: {taken:?}");
    rabbit.delete(&queue);
}

/// Stopped with SIGTERM mid-stream, the consumer acknowledges every record
/// it delivered while draining: what landed and what is still in the queue
/// add up to what was published, nothing comes back a second time. The
/// channel used to be closed (its last handle dropped) when consuming
/// stopped, before the drained records' acks went out on it, so those
/// messages were delivered again to the next consumer.
#[test]
fn a_consumer_stopped_mid_stream_acknowledges_what_it_drained() {
    let Some(url) = url("a_consumer_stopped_mid_stream_acknowledges_what_it_drained") else {
        return;
    };
    const N: i64 = 300;
    let rabbit = Rabbit::connect(&url);
    let queue = rabbit.queue_of_items("aq_stop", N);
    let p = Project::new();
    // paced, so that records are in flight when the stop comes
    p.file("main.aq", drain_flow(&queue, 50, 40));
    let table = p.path("out/items.db");
    let count = || sqlite_count(&table, "select count(*) from items").unwrap_or(0);
    let mut running = p.spawn_with_env(&[], &[("AMQP_URL", &url)]);
    assert!(
        wait_until(Duration::from_secs(30), || count() >= 20),
        "no progress; stderr:\n{}",
        running.stderr()
    );
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let landed = count();
    assert!(landed < N, "the stop came after the end: {landed} landed");
    let ready = i64::from(rabbit.ready(&queue));
    assert_eq!(
        landed + ready,
        N,
        "{landed} landed and {ready} still in the queue: {} delivered and not acknowledged; stderr:\n{}",
        landed + ready - N,
        r.stderr
    );
    rabbit.delete(&queue);
}
