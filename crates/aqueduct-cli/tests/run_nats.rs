//! `nats` through `aqueduct run` against the NATS server (JetStream on) of
//! `AQUEDUCT_TEST_NATS_URL`, with async-nats as the independent client:
//! `subscribe` with `durable` delivers every message into SQLite and acks
//! it only then, bad JSON goes to the dead letter once; a consumer killed
//! with SIGKILL at a random moment of 20,000 messages, or whose connection
//! is cut, loses nothing and upserts each once (the unacked ones come back
//! after `ack_wait`); `publish` returns once the stream stored the
//! message and a subject no stream captures is an error; `request` answers
//! an `enrich`; core `subscribe` delivers what is published while it runs.

mod support;

use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;
use support::{Project, drain, publish, wait_until};

struct Nats {
    rt: tokio::runtime::Runtime,
    client: async_nats::Client,
    js: jetstream::Context,
}

impl Nats {
    fn connect(url: &str) -> Nats {
        let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let client = rt
            .block_on(async_nats::connect(url))
            .expect("connects to NATS");
        let js = {
            let _inside = rt.enter();
            jetstream::new(client.clone())
        };
        Nats { rt, client, js }
    }

    /// A stream named `name` capturing `subject.>`.
    fn stream(&self, name: &str, subject: &str) {
        self.rt.block_on(async {
            self.js
                .create_stream(stream::Config {
                    name: name.to_string(),
                    subjects: vec![format!("{subject}.>")],
                    ..Default::default()
                })
                .await
                .expect("creates the stream");
        });
    }

    fn publish(&self, subject: &str, payloads: impl IntoIterator<Item = String>) {
        self.rt.block_on(async {
            let mut acks = Vec::new();
            for payload in payloads {
                acks.push(
                    self.js
                        .publish(subject.to_string(), payload.into())
                        .await
                        .expect("publishes"),
                );
                if acks.len() >= 500 {
                    for a in acks.drain(..) {
                        a.await.expect("stored");
                    }
                }
            }
            for a in acks {
                a.await.expect("stored");
            }
        });
    }

    /// (messages the durable has not delivered, delivered but unacked).
    fn consumer_state(&self, stream_name: &str, durable: &str) -> (u64, usize) {
        self.rt.block_on(async {
            let stream = self.js.get_stream(stream_name).await.expect("stream");
            let mut consumer: jetstream::consumer::PullConsumer =
                stream.get_consumer(durable).await.expect("consumer");
            let info = consumer.info().await.expect("consumer info");
            (info.num_pending, info.num_ack_pending)
        })
    }

    /// The durable's state: (messages not delivered, delivered and not
    /// acked, the stream sequence every message up to which is acked).
    fn ack_state(&self, stream_name: &str, durable: &str) -> (u64, usize, u64) {
        self.rt.block_on(async {
            let stream = self.js.get_stream(stream_name).await.expect("stream");
            let mut consumer: jetstream::consumer::PullConsumer =
                stream.get_consumer(durable).await.expect("consumer");
            let info = consumer.info().await.expect("consumer info");
            (
                info.num_pending,
                info.num_ack_pending,
                info.ack_floor.stream_sequence,
            )
        })
    }

    /// The payloads stored in a stream, in order.
    fn stored(&self, stream_name: &str) -> Vec<String> {
        self.rt.block_on(async {
            let mut stream = self.js.get_stream(stream_name).await.expect("stream");
            let n = stream.info().await.expect("info").state.messages;
            let mut out = Vec::new();
            for seq in 1..=n {
                let m = stream.get_raw_message(seq).await.expect("message");
                out.push(String::from_utf8_lossy(&m.payload).into_owned());
            }
            out
        })
    }

    /// How many messages a stream holds.
    fn stored_count(&self, stream_name: &str) -> i64 {
        self.rt.block_on(async {
            let mut stream = self.js.get_stream(stream_name).await.expect("stream");
            let n = stream.info().await.expect("info").state.messages;
            i64::try_from(n).unwrap_or(i64::MAX)
        })
    }

    /// A new stream named after `prefix`, capturing `<name>.>`, holding
    /// items `0..n` on `<name>.items` (see `support::drain`); its name.
    fn stream_of_items(&self, prefix: &str, n: i64) -> String {
        let name = aqueduct_test_support::unique_name(prefix);
        self.stream(&name, &name);
        self.publish(&format!("{name}.items"), (0..n).map(drain::item_json));
        name
    }

    fn delete(&self, stream_name: &str) {
        self.rt.block_on(async {
            let _ = self.js.delete_stream(stream_name).await;
        });
    }
}

fn url(test: &str) -> Option<String> {
    aqueduct_test_support::service_url("AQUEDUCT_TEST_NATS_URL", test)
}

const SYSTEM: &str = "system bus: nats {\n  url = secret(\"NATS_URL\")\n}\n";

/// A flow draining the stream `name` with the durable `drain` into
/// `out/items.db` (see `support::drain`).
fn drain_flow(name: &str, per_second: u32) -> String {
    format!(
        r#"{SYSTEM}
type Item {{ id: int, name: string }}

flow drain {{
  mode async
  from bus.subscribe("{name}.>", durable: "drain", ack_wait: 2s) as Item
  to sqlite("out/items.db").upsert("items", key: [id])
  dead_letter file("out").append("dead.jsonl")
  rate_limit {per_second} per 1s
}}
"#
    )
}

/// The flow of the kill and cut tests: the stream `name` drained fast by the
/// durable `drain` (see `support::drain::fast_flow`).
fn fast_flow(name: &str) -> String {
    drain::fast_flow(
        SYSTEM,
        &format!(r#"bus.subscribe("{name}.>", durable: "drain", ack_wait: 5s)"#),
        500,
    )
}

#[test]
fn durable_subscribe_delivers_acks_after_commit_and_dead_letters_bad_json_once() {
    let Some(url) =
        url("durable_subscribe_delivers_acks_after_commit_and_dead_letters_bad_json_once")
    else {
        return;
    };
    let nats = Nats::connect(&url);
    let name = aqueduct_test_support::unique_name("aq_js");
    nats.stream(&name, &name);
    nats.publish(
        &format!("{name}.orders"),
        [
            r#"{"id":1,"name":"a"}"#.to_string(),
            "{bad".to_string(),
            r#"{"id":2,"name":"b"}"#.to_string(),
        ],
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Item {{ id: int, name: string }}

flow drain {{
  mode async
  from bus.subscribe("{name}.>", durable: "drain") as Item
  to sqlite("out/items.db").upsert("items", key: [id])
  dead_letter file("out").append("dead.jsonl")
}}
"#
        ),
    );
    let (r, acked) = drain::deliver_and_stop(
        &p,
        ("NATS_URL", &url),
        |_| {},
        (2, 1),
        "not all delivered",
        || nats.consumer_state(&name, "drain") == (0, 0),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(acked, "{:?}", nats.consumer_state(&name, "drain"));
    assert_eq!(
        r.summary("drain"),
        "drain: 3 in, 2 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead[0]["raw"], json!("{bad"));
    assert!(
        dead[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("malformed JSON"),
        "{dead:?}"
    );
    nats.delete(&name);
}

#[test]
fn durable_consumer_killed_with_sigkill_mid_stream_loses_nothing_after_restart() {
    let Some(url) =
        url("durable_consumer_killed_with_sigkill_mid_stream_loses_nothing_after_restart")
    else {
        return;
    };
    const N: i64 = drain::FAULT_MESSAGES;
    let nats = Nats::connect(&url);
    let name = nats.stream_of_items("aq_jskill", N);
    let p = Project::new();
    p.file("main.aq", fast_flow(&name));
    drain::kill_and_restart(
        &p,
        ("NATS_URL", &url),
        N,
        |_| {},
        || {},
        || nats.consumer_state(&name, "drain") == (0, 0),
    );
    nats.delete(&name);
}

#[test]
fn publish_waits_for_the_stream_and_a_subject_without_stream_is_an_error() {
    let Some(url) = url("publish_waits_for_the_stream_and_a_subject_without_stream_is_an_error")
    else {
        return;
    };
    let nats = Nats::connect(&url);
    let name = aqueduct_test_support::unique_name("aq_jspub");
    nats.stream(&name, &name);
    let p = Project::new();
    p.file(
        "in/items.jsonl",
        format!(
            "{{\"id\":1,\"to\":\"{name}.a\"}}\n{{\"id\":2,\"to\":\"nostream_{name}\"}}\n{{\"id\":3,\"to\":\"{name}.b\"}}\n"
        ),
    )
    .file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Item {{ id: int, to: string }}

flow send {{
  mode batch
  from file("in").read("items.jsonl") as Item
  to bus.publish("{{.to}}")
  dead_letter file("out").append("dead.jsonl")
}}
"#
        ),
    );
    let r = p.run_with_env(&[], &[("NATS_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("send"),
        "send: 3 in, 2 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    assert_eq!(
        nats.stored(&name),
        vec![
            format!(r#"{{"id":1,"to":"{name}.a"}}"#),
            format!(r#"{{"id":3,"to":"{name}.b"}}"#)
        ]
    );
    let dead = p.jsonl("out/dead.jsonl");
    let error = dead[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("no JetStream stream captures subject"),
        "{error}"
    );
    nats.delete(&name);
}

#[test]
fn request_answers_an_enrich_and_core_subscribe_delivers_while_running() {
    let Some(url) = url("request_answers_an_enrich_and_core_subscribe_delivers_while_running")
    else {
        return;
    };
    let nats = Nats::connect(&url);
    let name = aqueduct_test_support::unique_name("aq_req");
    // a service answering price requests: {"sku": s} -> {"sku": s, "price": 2 * len}
    let mut service = nats
        .rt
        .block_on(nats.client.subscribe(format!("{name}.price")))
        .expect("subscribes");
    let client = nats.client.clone();
    nats.rt.spawn(async move {
        while let Some(m) = service.next().await {
            let request: serde_json::Value = serde_json::from_slice(&m.payload).unwrap_or_default();
            let sku = request["sku"].as_str().unwrap_or_default().to_string();
            let reply = json!({"sku": sku, "price": 2 * sku.len()}).to_string();
            if let Some(to) = m.reply {
                let _ = client.publish(to, reply.into()).await;
            }
        }
    });
    let p = Project::new();
    p.file("in/skus.jsonl", "{\"sku\":\"ab\"}\n{\"sku\":\"abcd\"}\n")
        .file(
            "main.aq",
            format!(
                r#"{SYSTEM}
type Sku {{ sku: string }}
type Price {{ sku: string, price: int }}

flow price {{
  mode batch
  from file("in").read("skus.jsonl") as Sku
  enrich p = bus.request("{name}.price", timeout: 2s) as Price
  map Price {{ sku = .sku, price = $p.price }}
  to file("out").append("prices.jsonl")
}}

flow listen {{
  mode async
  from bus.subscribe("{name}.events") as Sku
  to file("out").append("events.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}
"#
            ),
        );
    let mut running = p.spawn_with_env(&[], &[("NATS_URL", &url)]);
    let priced = wait_until(Duration::from_secs(20), || {
        p.read("out/prices.jsonl").lines().count() == 2
    });
    assert!(priced, "stderr:\n{}", running.stderr());
    assert_eq!(
        p.read("out/prices.jsonl"),
        "{\"sku\":\"ab\",\"price\":4}\n{\"sku\":\"abcd\",\"price\":8}\n"
    );
    // core NATS: publish until the running subscription has seen one
    let seen = wait_until(Duration::from_secs(20), || {
        nats.rt
            .block_on(
                nats.client
                    .publish(format!("{name}.events"), "{\"sku\":\"x\"}".into()),
            )
            .expect("publishes");
        let _ = nats.rt.block_on(nats.client.flush());
        std::thread::sleep(Duration::from_millis(100));
        !p.read("out/events.jsonl").is_empty()
    });
    assert!(seen, "stderr:\n{}", running.stderr());
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(p.read("out/events.jsonl").starts_with("{\"sku\":\"x\"}\n"));
}

#[test]
fn durable_subscribe_recovers_from_a_cut_connection_and_loses_nothing() {
    let Some(url) = url("durable_subscribe_recovers_from_a_cut_connection_and_loses_nothing")
    else {
        return;
    };
    const N: i64 = drain::FAULT_MESSAGES;
    let nats = Nats::connect(&url);
    let name = nats.stream_of_items("aq_jscut", N);
    let proxy = aqueduct_test_support::FaultProxy::start("127.0.0.1:4222");
    let proxied = format!("nats://127.0.0.1:{}", proxy.port());
    let p = Project::new();
    p.file("main.aq", fast_flow(&name));
    drain::cut_and_recover(
        &p,
        ("NATS_URL", &proxied),
        &proxy,
        N,
        |_| {},
        || nats.consumer_state(&name, "drain") == (0, 0),
    );
    nats.delete(&name);
}

#[test]
fn three_replicas_share_a_durable_and_one_killed_loses_nothing() {
    let Some(url) = url("three_replicas_share_a_durable_and_one_killed_loses_nothing") else {
        return;
    };
    const N: i64 = 3000;
    let nats = Nats::connect(&url);
    let name = nats.stream_of_items("aq_jsreplicas", N);
    drain::three_replicas(
        |_| drain_flow(&name, 300),
        ("NATS_URL", &url),
        N,
        || nats.consumer_state(&name, "drain") == (0, 0),
    );
    nats.delete(&name);
}

/// A NATS server of the test's own, with JetStream storing on a directory
/// of its own, for a test that restarts it.
fn private_server() -> aqueduct_test_support::Daemon {
    aqueduct_test_support::Daemon::start(
        &[
            "/usr/sbin/nats-server",
            "/usr/local/bin/nats-server",
            "/usr/bin/nats-server",
        ],
        &["-a", "127.0.0.1", "-p", "{port}", "-js", "-sd", "{dir}"],
    )
    .expect("a private nats-server starts")
}

/// `publish` to a JetStream subject through a restart of the server
/// (`support::publish`): the writes that fail while it is down are retried
/// and every item is stored in the stream afterwards.
#[test]
fn publish_recovers_from_a_server_restart_and_loses_nothing() {
    if url("publish_recovers_from_a_server_restart_and_loses_nothing").is_none() {
        return;
    }
    let mut server = private_server();
    let url = format!("nats://127.0.0.1:{}", server.port());
    let name = aqueduct_test_support::unique_name("aq_jspubrestart");
    Nats::connect(&url).stream(&name, &name);
    let p = publish::project(SYSTEM, &format!(r#"bus.publish("{name}.items")"#));
    publish::through_restart(
        &p,
        ("NATS_URL", &url),
        || Nats::connect(&url).stored_count(&name),
        || server.restart().expect("the server starts again"),
        || publish::ids(&Nats::connect(&url).stored(&name)),
    );
}

/// A NATS server of the test's own (JetStream on a directory of its own)
/// restarted mid-stream while a durable consumer drains 3,000 messages:
/// the client reconnects, pulling starts again, and every message lands
/// once with nothing pending or unacknowledged afterwards.
#[test]
fn durable_subscribe_recovers_from_a_server_restart_and_loses_nothing() {
    let test = "durable_subscribe_recovers_from_a_server_restart_and_loses_nothing";
    if url(test).is_none() {
        return;
    }
    let mut server = private_server();
    let url = format!("nats://127.0.0.1:{}", server.port());
    const N: i64 = 3000;
    let nats = Nats::connect(&url);
    let name = nats.stream_of_items("aq_jsrestart", N);
    let p = Project::new();
    p.file("main.aq", drain_flow(&name, 500));
    drain::strike_and_recover(
        &p,
        ("NATS_URL", &url),
        N,
        "a server restart",
        |_| {},
        || server.restart().expect("the server starts again"),
        // the test's own client reconnects too
        || nats.consumer_state(&name, "drain") == (0, 0),
    );
}

/// Stopped with SIGTERM mid-stream, the durable consumer acknowledges every
/// record it drained. One consumer gets the stream in order and hands it
/// on in order, so the records that landed are the first ones: every
/// message up to the last of them is acked, none after it; the rest were
/// not delivered yet or are the pull batches async-nats had received and
/// not handed on (left for JetStream to redeliver after `ack_wait`). Up to
/// 700 records are in flight at the stop, so draining them takes seconds
/// (`ack_wait` is the default 30 s: nothing is redelivered meanwhile).
#[test]
fn a_durable_consumer_stopped_mid_stream_acknowledges_what_it_drained() {
    let Some(url) = url("a_durable_consumer_stopped_mid_stream_acknowledges_what_it_drained")
    else {
        return;
    };
    const N: i64 = 3000;
    let nats = Nats::connect(&url);
    let name = nats.stream_of_items("aq_jsstop", N);
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Item {{ id: int, name: string }}

flow drain {{
  mode async
  from bus.subscribe("{name}.>", durable: "drain") as Item
  to sqlite("out/items.db").upsert("items", key: [id])
  rate_limit 150 per 1s
}}
"#
        ),
    );
    let (landed, stderr) = drain::stop_mid_stream(&p, ("NATS_URL", &url), N);
    let landed = u64::try_from(landed).unwrap_or(0);
    // the server applies the acks it was sent as it reads them
    let mut state = (0, 0, 0);
    wait_until(Duration::from_secs(5), || {
        state = nats.ack_state(&name, "drain");
        state.2 >= landed
    });
    let (not_delivered, unacked, acked_through) = state;
    let unacked = u64::try_from(unacked).unwrap_or(u64::MAX);
    assert_eq!(
        (acked_through, landed + unacked + not_delivered),
        (landed, N as u64),
        "{landed} landed, acked through {acked_through}, {unacked} delivered and not acknowledged, {not_delivered} not delivered; stderr:\n{stderr}"
    );
    println!("{landed} landed; {unacked} delivered to the client and not handed on");
    nats.delete(&name);
}
