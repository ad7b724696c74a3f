//! The emulator's Pub/Sub API (gRPC `eventbus.v1.PubSub`) seen by a plain
//! gRPC client: the auth metadata, GetTopic and GetSchema agreeing with the
//! events, the three replay presets, flow control by `num_requested` (at
//! most 100), keepalives, and the statuses of refused calls.

mod common;

use aqueduct_pubsub::client::PubSubClient;
use aqueduct_pubsub::proto::{
    FetchRequest, FetchResponse, ReplayPreset, SchemaRequest, TopicRequest,
};
use aqueduct_pubsub::{replay_bytes, replay_number};
use common::*;
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::transport::Endpoint;
use tonic::{Code, Request, Streaming};

const SEED: &str = "
streaming:
  connect_timeout_ms: 200
objects:
  - name: Account
    fields:
      - { name: Name, type: string, required: true }
";

struct Org {
    emulator: aqueduct_emulator::Emulator,
    token: String,
    http: Client,
}

async fn org() -> Org {
    let emulator = start_yaml(SEED).await;
    let http = Client::new(emulator.instance_url());
    let token = token(&http).await;
    Org {
        emulator,
        token,
        http,
    }
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

    /// `request` with valid metadata.
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

    async fn create(&self, name: &str) {
        let r = self
            .http
            .json(
                "POST",
                "/services/data/v62.0/sobjects/Account/",
                &self.token,
                &json!({"Name": name}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    /// Subscribes with `first`; the request sender and the responses.
    async fn subscribe(
        &self,
        first: FetchRequest,
    ) -> Result<(mpsc::Sender<FetchRequest>, Streaming<FetchResponse>), tonic::Status> {
        let (tx, rx) = mpsc::channel(4);
        tx.send(first).await.expect("queued");
        let requests =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
        let stream = self
            .rpc()
            .await
            .subscribe(self.auth(requests))
            .await?
            .into_inner();
        Ok((tx, stream))
    }
}

fn fetch(preset: ReplayPreset, replay_id: Vec<u8>, n: i32) -> FetchRequest {
    FetchRequest {
        topic_name: "/data/AccountChangeEvent".into(),
        replay_preset: preset as i32,
        replay_id,
        num_requested: n,
        auth_refresh: String::new(),
    }
}

/// The next response with events (keepalives skipped).
async fn events(stream: &mut Streaming<FetchResponse>) -> FetchResponse {
    loop {
        let r = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("a response within 10 s")
            .expect("no error")
            .expect("the stream is open");
        if !r.events.is_empty() {
            return r;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_schemas_presets_and_flow_control() {
    let org = org().await;
    for name in ["Acme", "Globex", "Initech"] {
        org.create(name).await;
    }
    let mut rpc = org.rpc().await;
    let topic = rpc
        .get_topic(org.auth(TopicRequest {
            topic_name: "/data/AccountChangeEvent".into(),
        }))
        .await
        .expect("GetTopic")
        .into_inner();
    assert!(topic.can_subscribe && !topic.can_publish);
    assert_eq!(topic.tenant_guid, org.emulator.org_id());
    let schema = rpc
        .get_schema(org.auth(SchemaRequest {
            schema_id: topic.schema_id.clone(),
        }))
        .await
        .expect("GetSchema")
        .into_inner();
    let avro: serde_json::Value = serde_json::from_str(&schema.schema_json).expect("JSON");
    assert_eq!(avro["name"], "AccountChangeEvent");
    assert_eq!(avro["fields"][0]["name"], "ChangeEventHeader");

    // EARLIEST, one event at a time: nothing more until asked
    let (tx, mut stream) = org
        .subscribe(fetch(ReplayPreset::Earliest, Vec::new(), 1))
        .await
        .expect("subscribes");
    let first = events(&mut stream).await;
    assert_eq!(first.events.len(), 1);
    assert_eq!(first.pending_num_requested, 0);
    let event = first.events[0].event.clone().expect("event");
    assert_eq!(event.schema_id, topic.schema_id);
    // the payload is Avro: entityName "Account" first (length 7, zig-zag 14)
    assert_eq!(&event.payload[..8], b"\x0eAccount");
    assert!(event.payload.windows(4).any(|w| w == b"Acme"));
    let first_id = replay_number(&first.events[0].replay_id).expect("8-byte replay id");
    // only a keepalive while nothing is requested
    let keepalive = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("a keepalive")
        .expect("ok")
        .expect("open");
    assert!(keepalive.events.is_empty());
    assert!(replay_number(&keepalive.latest_replay_id).expect("latest") > first_id);
    tx.send(FetchRequest {
        num_requested: 5,
        ..FetchRequest::default()
    })
    .await
    .expect("sent");
    let rest = events(&mut stream).await;
    assert_eq!(rest.events.len(), 2);
    assert_eq!(rest.pending_num_requested, 3);
    let second_id = replay_number(&rest.events[0].replay_id).expect("id");
    assert!(second_id > first_id);

    // CUSTOM: after the first event
    let (_tx, mut stream) = org
        .subscribe(fetch(ReplayPreset::Custom, replay_bytes(first_id), 100))
        .await
        .expect("subscribes");
    let after = events(&mut stream).await;
    assert_eq!(after.events.len(), 2);
    assert_eq!(replay_number(&after.events[0].replay_id), Some(second_id));

    // LATEST: only what comes next
    let (_tx, mut stream) = org
        .subscribe(fetch(ReplayPreset::Latest, Vec::new(), 100))
        .await
        .expect("subscribes");
    org.create("Umbrella").await;
    let latest = events(&mut stream).await;
    assert_eq!(latest.events.len(), 1);
    let payload = &latest.events[0].event.as_ref().expect("event").payload;
    assert!(payload.windows(8).any(|w| w == b"Umbrella"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_answer_grpc_statuses() {
    let org = org().await;
    let mut rpc = org.rpc().await;
    let topic = || TopicRequest {
        topic_name: "/data/AccountChangeEvent".into(),
    };
    // no metadata at all
    let e = rpc
        .get_topic(Request::new(topic()))
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(e.message(), "missing the accesstoken metadata header");
    // another org's id
    let mut r = org.auth(topic());
    r.metadata_mut()
        .insert("tenantid", "00D000000000002AAA".parse().expect("ascii"));
    let e = rpc.get_topic(r).await.expect_err("refused");
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(
        e.message(),
        "the tenantid metadata header must be this org's id"
    );
    // a token the org never issued
    let mut r = org.auth(topic());
    r.metadata_mut().insert(
        "accesstoken",
        "00D000000000001!nope".parse().expect("ascii"),
    );
    let e = rpc.get_topic(r).await.expect_err("refused");
    assert_eq!(e.code(), Code::Unauthenticated);
    // a topic the org does not have
    let e = rpc
        .get_topic(org.auth(TopicRequest {
            topic_name: "/event/Nope__e".into(),
        }))
        .await
        .expect_err("refused");
    assert_eq!(
        (e.code(), e.message()),
        (Code::NotFound, "topic /event/Nope__e not found")
    );
    let e = rpc
        .get_schema(org.auth(SchemaRequest {
            schema_id: "nope".into(),
        }))
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Code::NotFound);
    // more than 100 events asked for at once
    let e = org
        .subscribe(fetch(ReplayPreset::Latest, Vec::new(), 101))
        .await
        .map(|_| ())
        .expect_err("refused");
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::InvalidArgument,
            "num_requested must be between 0 and 100, not 101"
        )
    );
    // a replay id the org never issued
    let e = org
        .subscribe(fetch(ReplayPreset::Custom, replay_bytes(999_999), 10))
        .await
        .map(|_| ())
        .expect_err("refused");
    assert_eq!(e.code(), Code::InvalidArgument);
}
