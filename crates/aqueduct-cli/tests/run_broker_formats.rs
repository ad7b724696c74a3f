//! Payload formats `text` and `bytes` end to end through `aqueduct run`,
//! on RabbitMQ (`AQUEDUCT_TEST_AMQP_URL`) with lapin as the independent
//! client: an at-least-once source (`amqp.consume`) decodes them into
//! `{ text: string }` and `{ bytes: bytes }` records, a file keeps them
//! (bytes in base64) and a confirmed publisher (`amqp.publish`) sends them
//! on unchanged, byte for byte, non-UTF-8 bytes included; a payload that
//! is not UTF-8 on a `text` source goes to the dead letter once, raw in
//! base64 with the reason, and is acknowledged (nothing comes back).

mod support;

use base64::Engine;
use lapin::BasicProperties;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use serde_json::json;
use std::time::Duration;
use support::rabbit::Rabbit;
use support::{Project, wait_until};

/// Bytes that are not UTF-8 (0xff, 0xfe never occur in it; 0x80 alone is
/// a stray continuation byte), with a NUL and a newline for good measure.
const BINARY: &[u8] = &[0x00, 0xff, 0xfe, b'\n', 0x80, b'a'];

impl Rabbit {
    /// A new durable queue named after `prefix`.
    fn queue(&self, prefix: &str) -> String {
        let queue = aqueduct_test_support::unique_name(prefix);
        self.rt.block_on(async {
            self.channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        durable: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("declares the queue");
        });
        queue
    }

    fn publish(&self, queue: &str, payloads: &[&[u8]]) {
        self.rt.block_on(async {
            for payload in payloads {
                self.channel
                    .basic_publish(
                        "".into(),
                        queue.into(),
                        BasicPublishOptions::default(),
                        payload,
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await
                    .expect("publishes")
                    .await
                    .expect("confirmed");
            }
        });
    }

    /// Messages ready in the queue (unacknowledged ones not counted).
    fn ready(&self, queue: &str) -> u32 {
        self.rt.block_on(async {
            self.channel
                .queue_declare(
                    queue.into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("the queue exists")
                .message_count()
        })
    }

    /// Takes every message of the queue: its bytes and content type.
    fn drain(&self, queue: &str) -> Vec<(Vec<u8>, String)> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            while let Some(m) = self
                .channel
                .basic_get(queue.into(), BasicGetOptions { no_ack: true })
                .await
                .expect("basic.get")
            {
                let content_type = m
                    .delivery
                    .properties
                    .content_type()
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default();
                out.push((m.delivery.data.clone(), content_type));
            }
            out
        })
    }

    fn delete(&self, queues: &[&str]) {
        self.rt.block_on(async {
            for queue in queues {
                let _ = self
                    .channel
                    .queue_delete((*queue).into(), QueueDeleteOptions::default())
                    .await;
            }
        });
    }
}

fn url(test: &str) -> Option<String> {
    aqueduct_test_support::service_url("AQUEDUCT_TEST_AMQP_URL", test)
}

const SYSTEM: &str = "system broker: amqp {\n  url = secret(\"AMQP_URL\")\n}\n";

/// Lines of `out/REL` in the project (0 before the file exists).
fn lines(p: &Project, rel: &str) -> usize {
    std::fs::read_to_string(p.path(rel))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn text_and_bytes_payloads_round_trip_through_consume_and_publish() {
    let Some(url) = url("text_and_bytes_payloads_round_trip_through_consume_and_publish") else {
        return;
    };
    let rabbit = Rabbit::connect(&url);
    let (text_in, text_out) = (rabbit.queue("aq_text_in"), rabbit.queue("aq_text_out"));
    let (bytes_in, bytes_out) = (rabbit.queue("aq_bytes_in"), rabbit.queue("aq_bytes_out"));
    let texts: [&[u8]; 2] = ["héllo wörld".as_bytes(), b"two\nlines {not json"];
    rabbit.publish(&text_in, &texts);
    let blobs: [&[u8]; 2] = [BINARY, b""];
    rabbit.publish(&bytes_in, &blobs);
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Line {{ text: string }}
type Blob {{ bytes: bytes }}

flow texts {{
  mode async
  from broker.consume("{text_in}", format: text) as Line
  to file("out").append("texts.jsonl")
  to broker.publish("", "{text_out}", format: text)
}}

flow blobs {{
  mode async
  from broker.consume("{bytes_in}", format: bytes) as Blob
  to file("out").append("blobs.jsonl")
  to broker.publish("", "{bytes_out}", format: bytes)
}}
"#
        ),
    );
    let mut running = p.spawn_with_env(&[], &[("AMQP_URL", &url)]);
    let done = wait_until(Duration::from_secs(30), || {
        lines(&p, "out/texts.jsonl") == 2 && lines(&p, "out/blobs.jsonl") == 2
    });
    assert!(done, "not all delivered; stderr:\n{}", running.stderr());
    // acks follow the commits of both targets
    let settled = wait_until(Duration::from_secs(10), || {
        rabbit.ready(&text_in) == 0 && rabbit.ready(&bytes_in) == 0
    });
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(settled, "the sources' queues still hold messages");
    assert_eq!(
        rabbit.ready(&text_in) + rabbit.ready(&bytes_in),
        0,
        "messages came back unacknowledged after the stop; stderr:\n{}",
        r.stderr
    );
    assert_eq!(
        r.summary("texts"),
        "texts: 2 in, 4 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        r.summary("blobs"),
        "blobs: 2 in, 4 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );

    assert_eq!(
        p.jsonl("out/texts.jsonl"),
        vec![
            json!({"text": "héllo wörld"}),
            json!({"text": "two\nlines {not json"})
        ]
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        p.jsonl("out/blobs.jsonl"),
        vec![json!({"bytes": b64.encode(BINARY)}), json!({"bytes": ""})]
    );
    assert_eq!(
        rabbit.drain(&text_out),
        texts
            .iter()
            .map(|t| (t.to_vec(), "text/plain; charset=utf-8".to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        rabbit.drain(&bytes_out),
        blobs
            .iter()
            .map(|b| (b.to_vec(), "application/octet-stream".to_string()))
            .collect::<Vec<_>>()
    );
    rabbit.delete(&[&text_in, &text_out, &bytes_in, &bytes_out]);
}

#[test]
fn a_payload_that_is_not_utf8_on_a_text_source_is_dead_lettered_raw_and_acknowledged() {
    let test = "a_payload_that_is_not_utf8_on_a_text_source_is_dead_lettered_raw_and_acknowledged";
    let Some(url) = url(test) else {
        return;
    };
    let rabbit = Rabbit::connect(&url);
    let queue = rabbit.queue("aq_text_bad");
    rabbit.publish(&queue, &[b"before", BINARY, b"after"]);
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Line {{ text: string }}

flow lines {{
  mode async
  from broker.consume("{queue}", format: text) as Line
  to file("out").append("lines.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}
"#
        ),
    );
    let mut running = p.spawn_with_env(&[], &[("AMQP_URL", &url)]);
    let done = wait_until(Duration::from_secs(30), || {
        lines(&p, "out/lines.jsonl") == 2 && lines(&p, "out/dead.jsonl") == 1
    });
    assert!(done, "not all delivered; stderr:\n{}", running.stderr());
    let settled = wait_until(Duration::from_secs(10), || rabbit.ready(&queue) == 0);
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(settled, "the queue still holds messages");
    // after the consumer closed, nothing came back unacknowledged: the bad
    // payload was acknowledged once the dead letter took it
    assert_eq!(rabbit.ready(&queue), 0, "every message was acknowledged");
    assert_eq!(
        r.summary("lines"),
        "lines: 3 in, 2 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    assert_eq!(
        p.jsonl("out/lines.jsonl"),
        vec![json!({"text": "before"}), json!({"text": "after"})]
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:#?}");
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        dead[0]["raw_base64"],
        json!(b64.encode(BINARY)),
        "{dead:#?}"
    );
    assert_eq!(
        dead[0]["error"],
        json!("the payload is not UTF-8 text"),
        "{dead:#?}"
    );
    assert_eq!(dead[0]["flow"], json!("lines"));
    assert_eq!(dead[0]["step"], json!("source"));
    rabbit.delete(&[&queue]);
}
