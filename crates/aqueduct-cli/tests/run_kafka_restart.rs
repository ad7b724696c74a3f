//! `kafka.consume` through a broker restart: a tansu broker of the test's
//! own (its own port and SQLite storage, so the shared broker of the other
//! tests is never touched), 3000 messages published by rdkafka, aqueduct
//! consuming into an upsert table; the broker is killed with SIGKILL
//! mid-stream and started again on the same storage. librdkafka reconnects
//! and the member rejoins its group: every message lands, none twice at
//! the upsert target, and the group's committed offset reaches the end of
//! the topic. Offsets are committed only after the targets commit, so
//! what the flow had not made safe when the broker died is read again.
//! A consumer whose connections are all cut at a random moment by a
//! fault-injecting proxy (which the private broker advertises as its
//! address) over 20,000 messages loses nothing either.
//! And `kafka.publish` through the same kind of restart: 2,000 records
//! published by a batch flow with `retry` (`support::publish`), every one
//! in the topic afterwards.
//!
//! The tansu binary is the one `.ci/services` installs
//! (`${AQUEDUCT_CI_CACHE:-~/.cache/aqueduct-ci}/bin/tansu`, or
//! `AQUEDUCT_TEST_TANSU`); the test
//! runs when `AQUEDUCT_TEST_KAFKA_URL` is set, as the other Kafka tests do.
#![cfg(feature = "kafka")]

mod support;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{Project, drain, wait_until};

const TIMEOUT: Duration = Duration::from_secs(30);
/// Guards against hangs on a loaded machine, not timings. The rejoin after
/// the restart took about 3 minutes here (a whole run: 214 s), so the
/// finish guard leaves room for a slower machine.
const PROGRESS_LIMIT: Duration = Duration::from_secs(120);
const FINISH_LIMIT: Duration = Duration::from_secs(480);

/// A tansu broker of this test, killed when dropped.
struct Tansu {
    binary: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// The port it tells clients to connect to (its own, or a proxy's).
    advertised: u16,
    child: Option<Child>,
}

impl Tansu {
    fn start(binary: PathBuf) -> Tansu {
        let port = support::free_port();
        Tansu::start_on(binary, port, port)
    }

    /// Starts it on `port`, advertising `advertised` as its address.
    fn start_on(binary: PathBuf, port: u16, advertised: u16) -> Tansu {
        let mut tansu = Tansu {
            binary,
            dir: tempfile::tempdir().expect("a directory for tansu"),
            port,
            advertised,
            child: None,
        };
        tansu.spawn();
        tansu
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker on the storage of the earlier run (if any) and
    /// waits until it accepts connections.
    fn spawn(&mut self) {
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!("tcp://127.0.0.1:{}", self.advertised);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tansu.log"))
            .expect("a log file");
        let child = Command::new(&self.binary)
            .current_dir(self.dir.path())
            .args(["broker", "--listener-url", &listener])
            .args(["--advertised-listener-url", &advertised])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starts tansu");
        self.child = Some(child);
        let port = self.port;
        assert!(
            wait_until(Duration::from_secs(60), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            }),
            "tansu did not listen; log:\n{}",
            self.log()
        );
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The tansu binary `.ci/kafka` installs, when there is one: under
/// `$AQUEDUCT_CI_CACHE/bin` when that is set and not empty (as the script's
/// `${AQUEDUCT_CI_CACHE:-…}` reads it), else `~/.cache/aqueduct-ci/bin`.
fn tansu_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("AQUEDUCT_TEST_TANSU") {
        return Some(PathBuf::from(path));
    }
    let cache = match std::env::var("AQUEDUCT_CI_CACHE") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(&std::env::var("HOME").ok()?).join(".cache/aqueduct-ci"),
    };
    let path = cache.join("bin/tansu");
    path.exists().then_some(path)
}

fn create_topic(rt: &tokio::runtime::Runtime, bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("an admin client");
    let results = rt
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, 2, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        ))
        .expect("creates the topic");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("topic {t}: {e}"));
    }
}

fn produce(rt: &tokio::runtime::Runtime, bootstrap: &str, topic: &str, n: i64) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .create()
        .expect("a producer");
    rt.block_on(async {
        for start in (0..n).step_by(500) {
            let messages: Vec<(String, String)> = (start..(start + 500).min(n))
                .map(|i| (i.to_string(), drain::item_json(i)))
                .collect();
            let pending = messages.iter().map(|(key, payload)| {
                producer.send(FutureRecord::to(topic).payload(payload).key(key), TIMEOUT)
            });
            for d in futures::future::join_all(pending).await {
                d.unwrap_or_else(|(e, _)| panic!("delivered: {e}"));
            }
        }
    });
}

/// (committed offset, end) of each partition.
fn positions(bootstrap: &str, topic: &str, group: &str) -> Option<Vec<(i64, i64)>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .ok()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(tpl, TIMEOUT).ok()?;
    (0..2)
        .map(|p| {
            let at = match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            };
            let end = consumer.fetch_watermarks(topic, p, TIMEOUT).ok()?.1;
            Some((at, end))
        })
        .collect()
}

/// The tansu binary for `test`, or `None` (a skip, or a failure under
/// `AQUEDUCT_REQUIRE_SERVICES=1`) when Kafka is not configured or no
/// binary is installed.
fn tansu_for(test: &str) -> Option<PathBuf> {
    aqueduct_test_support::service_url("AQUEDUCT_TEST_KAFKA_URL", test)?;
    let binary = tansu_binary();
    if binary.is_none() {
        assert!(
            std::env::var("AQUEDUCT_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "AQUEDUCT_REQUIRE_SERVICES=1 but no tansu binary (needed by {test})"
        );
        println!(
            "SKIP: {test} (no tansu binary under $AQUEDUCT_CI_CACHE/bin or ~/.cache/aqueduct-ci/bin; set AQUEDUCT_TEST_TANSU)"
        );
    }
    binary
}

/// The sum of the end offsets of the topic's two partitions.
fn stored_count(bootstrap: &str, topic: &str) -> i64 {
    let Ok(consumer) = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create::<BaseConsumer>()
    else {
        return 0;
    };
    (0..2)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, TIMEOUT)
                .map_or(0, |(_, end)| end)
        })
        .sum()
}

/// The payloads of every message of the topic, read from the beginning.
fn stored(bootstrap: &str, topic: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", aqueduct_test_support::unique_name("aq_reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_uncommitted")
        .create()
        .expect("a consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("an offset");
    }
    consumer.assign(&tpl).expect("assigns the partitions");
    let want = stored_count(bootstrap, topic);
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    while (out.len() as i64) < want && started.elapsed() < Duration::from_secs(60) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    out
}

/// `kafka.publish` through a restart of the broker (`support::publish`;
/// killed with SIGKILL, down 3 s, started again on its storage): every
/// record is in the topic afterwards.
/// Whether the group's committed offsets reached the end of both partitions.
fn at_end(bootstrap: &str, topic: &str, group: &str) -> bool {
    positions(bootstrap, topic, group).is_some_and(|ps| ps.iter().all(|(at, end)| at == end))
}

/// A new 2-partition topic named after `prefix` holding `n` items, and a
/// new group name: (topic, group).
fn topic_of_items(bootstrap: &str, prefix: &str, n: i64) -> (String, String) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let topic = aqueduct_test_support::unique_name(prefix);
    create_topic(&rt, bootstrap, &topic);
    if n > 0 {
        produce(&rt, bootstrap, &topic, n);
    }
    (topic, aqueduct_test_support::unique_name("aq_group"))
}

const SYSTEM: &str = "system broker: kafka {\n  url = env(\"KAFKA_URL\")\n}\n";

#[test]
fn publish_survives_a_broker_restart_and_loses_nothing() {
    let Some(binary) = tansu_for("publish_survives_a_broker_restart_and_loses_nothing") else {
        return;
    };
    let mut tansu = Tansu::start(binary);
    let bootstrap = tansu.bootstrap();
    let (topic, _) = topic_of_items(&bootstrap, "aq_pubrestart", 0);
    let p = support::publish::project(
        SYSTEM,
        &format!(r#"broker.publish("{topic}", key: "{{.id}}")"#),
    );
    let url = format!("kafka://{bootstrap}");
    support::publish::through_restart(
        &p,
        ("KAFKA_URL", &url),
        || stored_count(&bootstrap, &topic),
        || {
            tansu.kill();
            std::thread::sleep(Duration::from_secs(3));
            tansu.spawn();
        },
        || support::publish::ids(&stored(&bootstrap, &topic)),
    );
}

/// 20,000 messages on 2 partitions consumed through a fault-injecting
/// proxy that the broker advertises as its address (so every connection
/// of librdkafka, metadata included, goes through it), every connection
/// cut at a random moment: librdkafka reconnects, and every message lands
/// once at the upsert with the committed offsets at the end of the topic.
#[test]
fn consume_recovers_from_a_cut_connection_and_loses_nothing() {
    let Some(binary) = tansu_for("consume_recovers_from_a_cut_connection_and_loses_nothing") else {
        return;
    };
    const N: i64 = drain::FAULT_MESSAGES;
    let port = support::free_port();
    let proxy = aqueduct_test_support::FaultProxy::start(&format!("127.0.0.1:{port}"));
    let _tansu = Tansu::start_on(binary, port, proxy.port());
    let bootstrap = format!("127.0.0.1:{}", proxy.port());
    let (topic, group) = topic_of_items(&bootstrap, "aq_cut", N);
    let p = Project::new();
    p.file(
        "main.aq",
        drain::fast_flow(
            SYSTEM,
            &format!(r#"broker.consume("{topic}", "{group}")"#),
            500,
        ),
    );
    drain::cut_and_recover(
        &p,
        ("KAFKA_URL", &format!("kafka://{bootstrap}")),
        &proxy,
        N,
        |_| {},
        || at_end(&bootstrap, &topic, &group),
    );
}

#[test]
fn consume_survives_a_broker_restart_and_loses_nothing() {
    let test = "consume_survives_a_broker_restart_and_loses_nothing";
    let Some(binary) = tansu_for(test) else {
        return;
    };
    const N: i64 = 3000;
    let mut tansu = Tansu::start(binary);
    let bootstrap = tansu.bootstrap();
    let (topic, group) = topic_of_items(&bootstrap, "aq_restart", N);

    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Item {{ id: int, name: string }}

flow drain {{
  mode async
  from broker.consume("{topic}", "{group}") as Item
  to sqlite("out/items.db").upsert("items", key: [id])
  rate_limit 500 per 1s
}}
"#
        ),
    );
    let db = p.path(drain::ITEMS_DB);
    let url = format!("kafka://{bootstrap}");
    let mut running = p.spawn_with_env(&[], &[("KAFKA_URL", &url)]);
    assert!(
        wait_until(PROGRESS_LIMIT, || drain::items(&db) >= 300),
        "no progress; stderr:\n{}",
        running.stderr()
    );
    tansu.kill();
    let at_kill = drain::items(&db);
    assert!(at_kill < N, "killed mid-stream: {at_kill} of {N}");
    // down long enough for the consumer to notice (its reads and commits fail)
    std::thread::sleep(Duration::from_secs(3));
    tansu.spawn();
    let all = wait_until(FINISH_LIMIT, || drain::items(&db) == N);
    assert!(
        all,
        "{} of {N} after the broker restart; stderr:\n{}\ntansu:\n{}",
        drain::items(&db),
        running.stderr(),
        tansu.log()
    );
    let settled = wait_until(Duration::from_secs(30), || {
        at_end(&bootstrap, &topic, &group)
    });
    let r = running.terminate(Duration::from_secs(30));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        settled,
        "committed offsets did not reach the end: {:?}",
        positions(&bootstrap, &topic, &group)
    );
    let distinct = support::sqlite_count(&db, "select count(distinct id) from items");
    assert_eq!(distinct, Some(N));
}
