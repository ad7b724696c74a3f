//! The emulator's Pub/Sub `Publish` seen by a plain gRPC client: events
//! Avro-encoded by hand with the schema `GetTopic`/`GetSchema` give are
//! published and reach a `Subscribe` with their producer ids; each refused
//! event gets its own error while the others of the request go through;
//! topics that cannot be published to are refused as a whole.

mod common;

use aqueduct_pubsub::client::PubSubClient;
use aqueduct_pubsub::proto::{
    ErrorCode, FetchRequest, ProducerEvent, PublishRequest, ReplayPreset, SchemaRequest,
    TopicRequest,
};
use aqueduct_pubsub::replay_number;
use common::*;
use std::time::Duration;
use tonic::transport::Endpoint;
use tonic::{Code, Request};

const SEED: &str = "
objects:
  - name: Account
    fields:
      - { name: Name, type: string, required: true }
  - name: Low_Ink__e
    fields:
      - { name: Printer_Model__c, type: string, required: true }
      - { name: Pages__c, type: int }
";

/// Zig-zag varint (Avro `int`/`long`).
fn long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn string(out: &mut Vec<u8>, s: &str) {
    long(out, s.len() as i64);
    out.extend_from_slice(s.as_bytes());
}

/// `{CreatedDate, CreatedById, Printer_Model__c: ["null","string"],
/// Pages__c: ["null","int"]}` in Avro binary.
fn low_ink(created_by: &str, model: Option<&str>, pages: i64) -> Vec<u8> {
    let mut out = Vec::new();
    long(&mut out, 1_733_220_000_000);
    string(&mut out, created_by);
    match model {
        Some(m) => {
            long(&mut out, 1);
            string(&mut out, m);
        }
        None => long(&mut out, 0),
    }
    long(&mut out, 1);
    long(&mut out, pages);
    out
}

struct Org {
    emulator: aqueduct_emulator::Emulator,
    token: String,
}

impl Org {
    async fn rpc(&self) -> PubSubClient {
        let channel = Endpoint::from_shared(self.emulator.instance_url().to_string())
            .expect("endpoint")
            .connect()
            .await
            .expect("connects");
        PubSubClient::new(channel)
    }

    fn auth<T>(&self, body: T) -> Request<T> {
        let mut r = Request::new(body);
        let m = r.metadata_mut();
        m.insert("accesstoken", self.token.parse().expect("ascii"));
        m.insert(
            "instanceurl",
            self.emulator.instance_url().parse().expect("ascii"),
        );
        m.insert("tenantid", self.emulator.org_id().parse().expect("ascii"));
        r
    }
}

fn event(id: &str, schema_id: &str, payload: Vec<u8>) -> ProducerEvent {
    ProducerEvent {
        id: id.into(),
        schema_id: schema_id.into(),
        payload,
        headers: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_reach_subscribers_and_refused_ones_get_their_own_error() {
    let emulator = start_yaml(SEED).await;
    let token = token(&Client::new(emulator.instance_url())).await;
    let org = Org { emulator, token };
    let mut rpc = org.rpc().await;
    let topic = rpc
        .get_topic(org.auth(TopicRequest {
            topic_name: "/event/Low_Ink__e".into(),
        }))
        .await
        .expect("GetTopic")
        .into_inner();
    assert!(topic.can_publish);
    let schema = rpc
        .get_schema(org.auth(SchemaRequest {
            schema_id: topic.schema_id.clone(),
        }))
        .await
        .expect("GetSchema")
        .into_inner();
    let avro: serde_json::Value = serde_json::from_str(&schema.schema_json).expect("JSON");
    let names: Vec<&str> = avro["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["CreatedDate", "CreatedById", "Printer_Model__c", "Pages__c"]
    );

    let id = topic.schema_id.as_str();
    let good = low_ink("005000000000001AAA", Some("XZO-5"), 42);
    let answer = rpc
        .publish(org.auth(PublishRequest {
            topic_name: "/event/Low_Ink__e".into(),
            events: vec![
                event("e-1", id, good.clone()),
                event("e-2", "not-the-schema", good.clone()),
                event("e-3", id, good[..good.len() - 1].to_vec()),
                // a required custom field left null: published all the same
                event("e-4", id, low_ink("005000000000001AAA", None, 7)),
                event("e-5", id, low_ink("", Some("XZO-6"), 1)),
            ],
            auth_refresh: String::new(),
        }))
        .await
        .expect("Publish")
        .into_inner();
    assert_eq!(answer.schema_id, topic.schema_id);
    let keys: Vec<&str> = answer
        .results
        .iter()
        .map(|r| r.correlation_key.as_str())
        .collect();
    assert_eq!(keys, ["e-1", "e-2", "e-3", "e-4", "e-5"]);
    let errors: Vec<Option<(i32, String)>> = answer
        .results
        .iter()
        .map(|r| r.error.as_ref().map(|e| (e.code, e.msg.clone())))
        .collect();
    let publish = ErrorCode::Publish as i32;
    assert_eq!(errors[0], None);
    assert_eq!(
        errors[1],
        Some((
            publish,
            format!("schema_id `not-the-schema` is not the schema of Low_Ink__e ({id})")
        ))
    );
    assert_eq!(
        errors[2],
        Some((
            publish,
            format!(
                "the payload does not decode with schema {id}: Pages__c: the payload ends at byte 33"
            )
        ))
    );
    assert_eq!(errors[3], None);
    assert_eq!(
        errors[4],
        Some((publish, "CreatedById is required".to_string()))
    );
    let first = replay_number(&answer.results[0].replay_id).expect("a replay id");
    let fourth = replay_number(&answer.results[3].replay_id).expect("a replay id");
    assert!(fourth > first);
    assert!(answer.results[1].replay_id.is_empty());

    // a subscriber from the start receives the two published events, with
    // the producer's ids
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(FetchRequest {
        topic_name: "/event/Low_Ink__e".into(),
        replay_preset: ReplayPreset::Earliest as i32,
        num_requested: 10,
        ..FetchRequest::default()
    })
    .await
    .expect("queued");
    let requests =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
    let mut stream = rpc
        .subscribe(org.auth(requests))
        .await
        .expect("subscribes")
        .into_inner();
    let got = loop {
        let r = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("a response")
            .expect("ok")
            .expect("open");
        if !r.events.is_empty() {
            break r.events;
        }
    };
    let ids: Vec<(String, Option<i64>)> = got
        .iter()
        .map(|c| {
            (
                c.event.as_ref().map(|e| e.id.clone()).unwrap_or_default(),
                replay_number(&c.replay_id),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("e-1".to_string(), Some(first)),
            ("e-4".to_string(), Some(fourth))
        ]
    );
    let payload = &got[0].event.as_ref().expect("event").payload;
    assert!(payload.windows(5).any(|w| w == b"XZO-5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_that_take_no_publishing_are_refused_as_a_whole() {
    let emulator = start_yaml(SEED).await;
    let token = token(&Client::new(emulator.instance_url())).await;
    let org = Org { emulator, token };
    let mut rpc = org.rpc().await;
    let publish = |topic: &str| PublishRequest {
        topic_name: topic.into(),
        events: vec![event("e-1", "x", Vec::new())],
        auth_refresh: String::new(),
    };
    let e = rpc
        .publish(org.auth(publish("/data/AccountChangeEvent")))
        .await
        .expect_err("refused");
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::PermissionDenied,
            "events cannot be published to /data/AccountChangeEvent"
        )
    );
    let e = rpc
        .publish(org.auth(publish("/event/Nope__e")))
        .await
        .expect_err("refused");
    assert_eq!(
        (e.code(), e.message()),
        (Code::NotFound, "topic /event/Nope__e not found")
    );
    let e = rpc
        .publish(Request::new(publish("/event/Low_Ink__e")))
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Code::Unauthenticated);
}
