//! Payload formats `text` and `bytes` end to end through `aqueduct run`
//! on every message broker but Kafka (not covered here), each with its own
//! Rust client as the independent side: RabbitMQ (`amqp.consume`,
//! `amqp.publish`), NATS (`nats.subscribe` with `durable`, `nats.publish`
//! to a JetStream subject), Redis pub/sub (`redis.subscribe`,
//! `redis.publish`) and Mosquitto (`mqtt.subscribe` and `mqtt.publish` at
//! QoS 1). For each: payloads relayed from the source into a file and on
//! through the target in the same format arrive byte for byte, non-UTF-8
//! bytes, a NUL and empty payloads included; a payload that is not UTF-8
//! on a `text` source goes to the dead letter once, raw in base64 with the
//! reason, and is acknowledged. The checks are written once in
//! `support::formats`; the broker-specific parts are in `broker_formats/`.
//! Redis streams carry fields rather than a payload: there a `bytes`
//! field relayed by `stream` and `xadd` keeps its bytes, and a `string`
//! field that is not UTF-8 is dead-lettered raw.

mod support;

#[path = "broker_formats/amqp.rs"]
mod with_amqp;
#[path = "broker_formats/mqtt.rs"]
mod with_mqtt;
#[path = "broker_formats/nats.rs"]
mod with_nats;
#[path = "broker_formats/redis.rs"]
mod with_redis;

use base64::Engine;
use serde_json::json;
use std::time::Duration;
use support::formats::{BINARY, only_the_bad_line_dead, round_trip, undecodable_text};
use support::{Project, wait_until};

fn url(var: &str, test: &str) -> Option<String> {
    aqueduct_test_support::service_url(var, test)
}

#[test]
fn amqp_text_and_bytes_payloads_round_trip_through_consume_and_publish() {
    let test = "amqp_text_and_bytes_payloads_round_trip_through_consume_and_publish";
    let Some(url) = url("AQUEDUCT_TEST_AMQP_URL", test) else {
        return;
    };
    let broker = with_amqp::Amqp::connect(&url);
    round_trip(&broker, "text");
    round_trip(&broker, "bytes");
}

#[test]
fn amqp_a_payload_that_is_not_utf8_on_a_text_source_is_dead_lettered_raw_and_acknowledged() {
    let test =
        "amqp_a_payload_that_is_not_utf8_on_a_text_source_is_dead_lettered_raw_and_acknowledged";
    let Some(url) = url("AQUEDUCT_TEST_AMQP_URL", test) else {
        return;
    };
    undecodable_text(&with_amqp::Amqp::connect(&url));
}

#[test]
fn nats_text_and_bytes_payloads_round_trip_through_a_durable_subscribe_and_publish() {
    let test = "nats_text_and_bytes_payloads_round_trip_through_a_durable_subscribe_and_publish";
    let Some(url) = url("AQUEDUCT_TEST_NATS_URL", test) else {
        return;
    };
    let broker = with_nats::Nats::connect(&url);
    round_trip(&broker, "text");
    round_trip(&broker, "bytes");
}

#[test]
fn nats_a_payload_that_is_not_utf8_on_a_text_source_is_dead_lettered_raw_and_acknowledged() {
    let test =
        "nats_a_payload_that_is_not_utf8_on_a_text_source_is_dead_lettered_raw_and_acknowledged";
    let Some(url) = url("AQUEDUCT_TEST_NATS_URL", test) else {
        return;
    };
    undecodable_text(&with_nats::Nats::connect(&url));
}

#[test]
fn redis_text_and_bytes_payloads_round_trip_through_pubsub() {
    let Some(url) = url(
        "AQUEDUCT_TEST_REDIS_URL",
        "redis_text_and_bytes_payloads_round_trip_through_pubsub",
    ) else {
        return;
    };
    let broker = with_redis::Redis::connect(&url);
    round_trip(&broker, "text");
    round_trip(&broker, "bytes");
}

#[test]
fn redis_a_payload_that_is_not_utf8_on_a_text_subscription_is_dead_lettered_raw() {
    let test = "redis_a_payload_that_is_not_utf8_on_a_text_subscription_is_dead_lettered_raw";
    let Some(url) = url("AQUEDUCT_TEST_REDIS_URL", test) else {
        return;
    };
    undecodable_text(&with_redis::Redis::connect(&url));
}

#[test]
fn mqtt_text_and_bytes_payloads_round_trip_through_subscribe_and_publish_at_qos1() {
    let test = "mqtt_text_and_bytes_payloads_round_trip_through_subscribe_and_publish_at_qos1";
    let Some(url) = url("AQUEDUCT_TEST_MQTT_URL", test) else {
        return;
    };
    let broker = with_mqtt::Mqtt::new(&url);
    round_trip(&broker, "text");
    round_trip(&broker, "bytes");
}

#[test]
fn mqtt_a_payload_that_is_not_utf8_on_a_text_source_is_dead_lettered_raw_and_acknowledged() {
    let test =
        "mqtt_a_payload_that_is_not_utf8_on_a_text_source_is_dead_lettered_raw_and_acknowledged";
    let Some(url) = url("AQUEDUCT_TEST_MQTT_URL", test) else {
        return;
    };
    undecodable_text(&with_mqtt::Mqtt::new(&url));
}

/// Redis streams take no `format` (entry fields map onto record fields), so
/// bytes travel in a `bytes` field: entries relayed by `stream` into a
/// file and on through `xadd` keep every field byte for byte, bytes that
/// are not UTF-8 and empty values included, and are acknowledged.
#[test]
fn redis_stream_bytes_and_text_fields_round_trip_through_stream_and_xadd() {
    let test = "redis_stream_bytes_and_text_fields_round_trip_through_stream_and_xadd";
    let Some(url) = url("AQUEDUCT_TEST_REDIS_URL", test) else {
        return;
    };
    let redis = with_redis::Redis::connect(&url);
    let input = aqueduct_test_support::unique_name("aq_bytes_in");
    let output = aqueduct_test_support::unique_name("aq_bytes_out");
    let entries: [[(&str, &[u8]); 2]; 2] = [
        [("text", "héllo wörld".as_bytes()), ("blob", BINARY)],
        [("text", b""), ("blob", b"")],
    ];
    for fields in &entries {
        redis.xadd(&input, fields);
    }
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"system broker: redis {{
  url = secret("REDIS_URL")
}}

type Entry {{ text: string, blob: bytes }}

flow relay {{
  mode async
  from broker.stream("{input}", "relay", consumer: "c") as Entry
  to file("out").append("relayed.jsonl")
  to broker.xadd("{output}")
}}
"#
        ),
    );
    let mut running = p.spawn_with_env(&[], &[("REDIS_URL", &url)]);
    let done = wait_until(Duration::from_secs(30), || {
        p.read("out/relayed.jsonl").lines().count() == 2
    });
    assert!(done, "not all delivered; stderr:\n{}", running.stderr());
    let settled = wait_until(Duration::from_secs(10), || {
        redis.pending(&input, "relay") == 0
    });
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(settled, "entries left pending");
    assert_eq!(
        r.summary("relay"),
        "relay: 2 in, 4 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        p.jsonl("out/relayed.jsonl"),
        vec![
            json!({"text": "héllo wörld", "blob": b64.encode(BINARY)}),
            json!({"text": "", "blob": ""}),
        ]
    );
    let expected: Vec<Vec<(String, Vec<u8>)>> = entries
        .iter()
        .map(|fields| {
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect()
        })
        .collect();
    assert_eq!(redis.entries(&output), expected);
    redis.del(&[&input, &output]);
}

/// A stream entry whose `string` field is not UTF-8 is not changed into
/// text: it goes to the dead letter once with that value's bytes under
/// `raw_base64` and the field named, and is acknowledged.
#[test]
fn redis_stream_entry_with_a_string_field_that_is_not_utf8_is_dead_lettered_raw() {
    let test = "redis_stream_entry_with_a_string_field_that_is_not_utf8_is_dead_lettered_raw";
    let Some(url) = url("AQUEDUCT_TEST_REDIS_URL", test) else {
        return;
    };
    let redis = with_redis::Redis::connect(&url);
    let input = aqueduct_test_support::unique_name("aq_text_bad");
    for text in [&b"before"[..], BINARY, b"after"] {
        redis.xadd(&input, &[("text", text)]);
    }
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"system broker: redis {{
  url = secret("REDIS_URL")
}}

type Line {{ text: string }}

flow lines {{
  mode async
  from broker.stream("{input}", "lines", consumer: "c") as Line
  to file("out").append("lines.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}
"#
        ),
    );
    let mut running = p.spawn_with_env(&[], &[("REDIS_URL", &url)]);
    let done = wait_until(Duration::from_secs(30), || {
        p.read("out/lines.jsonl").lines().count() == 2
            && p.read("out/dead.jsonl").lines().count() == 1
    });
    assert!(done, "not all delivered; stderr:\n{}", running.stderr());
    let settled = wait_until(Duration::from_secs(10), || {
        redis.pending(&input, "lines") == 0
    });
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(settled, "entries left pending");
    assert_eq!(redis.pending(&input, "lines"), 0);
    only_the_bad_line_dead(
        &p,
        &r,
        "field `text`: the value is not UTF-8 text; its bytes are in raw_base64",
    );
    redis.del(&[&input]);
}
