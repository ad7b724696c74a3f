//! `changes` and `events` over the Pub/Sub API (gRPC `eventbus.v1.PubSub`),
//! chosen with `transport: "pubsub"`: the same records as over CometD,
//! fetched as Avro payloads. (`publish` over the same API is [`publish`].)
//!
//! One `Subscribe` stream per source. The first `FetchRequest` names the
//! topic (the CometD channel name) and the start: after the saved replay id
//! (`CUSTOM`), else `replay` (`LATEST` or `EARLIEST`). Flow control: at most
//! 100 events are ever requested and not yet received; more are asked for
//! once half have arrived, and none while the flow's queue is full (the
//! source waits on it before reading the stream again). Each event's
//! writer schema is fetched once by id with `GetSchema` and kept.
//!
//! Every call carries the metadata `accesstoken`, `instanceurl` and
//! `tenantid` (the org id from the token's identity URL). `UNAUTHENTICATED`
//! replaces the token and subscribes again; `UNAVAILABLE` and other
//! transient statuses, a stream the server ends, or no keepalive for
//! 5 minutes (Salesforce sends one within 270 s) subscribe again after a
//! backoff from the last replay id received. A refused topic or replay id
//! (`INVALID_ARGUMENT`, `NOT_FOUND`, `PERMISSION_DENIED`) stops the flow.
//!
//! The replay id (opaque bytes, saved as hex under
//! `salesforce-pubsub:{flow}:{topic}`) is saved only once every record
//! before it is acknowledged, exactly as the CometD transport saves its
//! numeric one; the two are kept apart because they are not interchangeable.

mod avro;
mod conn;
pub(crate) mod publish;
mod tls;

use crate::client::Client;
use crate::stream::{Events, Start, deliver, subscription};
use aqueduct_connectors::support::args::label;
use aqueduct_connectors::support::commit::Committer;
use aqueduct_connectors::support::{decode_error, stopped};
use aqueduct_pubsub::client::PubSubClient;
use aqueduct_pubsub::proto::{FetchRequest, ReplayPreset, SchemaRequest, TopicRequest};
use aqueduct_pubsub::{MAX_REQUESTED, replay_number};
use aqueduct_runtime::connector::{ConnectorError, Envelope, OpContext, Source, StateStore};
use conn::Conn;
use futures::future::BoxFuture;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tonic::{Code, Request, Status};

pub(crate) use avro::Decoder;

/// How long a subscription may stay silent: Salesforce sends an empty
/// keepalive response within 270 s.
const SILENCE: Duration = Duration::from_secs(300);

/// Transient failures in a row before the flow stops.
const MAX_FAILURES: u32 = 8;

/// A Pub/Sub subscription.
pub(crate) struct PubSubSource {
    client: Arc<Client>,
    events: Events,
    conn: Conn,
    start: Start,
    shutdown: watch::Receiver<bool>,
    state: Arc<dyn StateStore>,
    key: String,
    label: String,
}

/// Why a subscription ended.
enum End {
    /// Shut down, or the flow stopped taking records.
    Stopped,
    /// Subscribe again (from the last replay id received).
    Again(Status),
    /// Stop the flow.
    Fail(ConnectorError),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl PubSubSource {
    pub(crate) fn build(
        cx: &OpContext,
        client: Arc<Client>,
    ) -> Result<PubSubSource, ConnectorError> {
        let (kind, channel, start) = subscription(cx, &client)?;
        let conn = Conn::build(cx, client.clone())?;
        Ok(PubSubSource {
            key: format!("salesforce-pubsub:{}:{channel}", cx.flow),
            events: Events {
                client: client.clone(),
                kind,
                channel,
                ty: cx.record_type.clone(),
                schemas: cx.schemas.clone(),
            },
            client,
            conn,
            start,
            shutdown: cx.shutdown.clone(),
            state: cx.state.clone(),
            label: label(cx),
        })
    }

    /// The writer schema of `id`, fetched once.
    async fn decoder(
        &self,
        rpc: &mut PubSubClient,
        cache: &mut HashMap<String, Arc<Decoder>>,
        id: &str,
    ) -> Result<Arc<Decoder>, End> {
        if let Some(d) = cache.get(id) {
            return Ok(d.clone());
        }
        let mut request = Request::new(SchemaRequest {
            schema_id: id.to_string(),
        });
        let generation = self.conn.authorize(&mut request).await.map_err(End::Fail)?;
        let info = match rpc.get_schema(request).await {
            Ok(r) => r.into_inner(),
            Err(s) => {
                if s.code() == Code::Unauthenticated {
                    self.client.invalidate(generation).await;
                }
                return Err(
                    match self.conn.status_error(&format!("GetSchema {id}"), &s) {
                        ConnectorError::Transient(_) => End::Again(s),
                        e => End::Fail(e),
                    },
                );
            }
        };
        let decoder = Decoder::parse(&info.schema_json).map_err(|e| {
            End::Fail(ConnectorError::Permanent(format!(
                "`{}`: Pub/Sub schema {id}: {e}",
                self.client.system
            )))
        })?;
        let decoder = Arc::new(decoder);
        cache.insert(id.to_string(), decoder.clone());
        Ok(decoder)
    }

    /// One `Subscribe` stream, until it ends; `replay` follows every event
    /// received.
    async fn subscribe(
        &self,
        rpc: &mut PubSubClient,
        replay: &mut Option<Vec<u8>>,
        cache: &mut HashMap<String, Arc<Decoder>>,
        committer: &Committer,
        out: &mpsc::Sender<Envelope>,
        failures: &mut u32,
    ) -> End {
        let topic = self.events.channel.clone();
        // GetTopic first: a missing topic or a refused token shows here,
        // with a clear status, rather than inside the stream.
        let mut request = Request::new(TopicRequest {
            topic_name: topic.clone(),
        });
        let generation = match self.conn.authorize(&mut request).await {
            Ok(g) => g,
            Err(e) => return End::Fail(e),
        };
        match rpc.get_topic(request).await {
            Ok(info) if !info.get_ref().can_subscribe => {
                return End::Fail(ConnectorError::Permanent(format!(
                    "`{}`: Pub/Sub: this user may not subscribe to {topic}",
                    self.client.system
                )));
            }
            Ok(_) => {}
            Err(s) => {
                if s.code() == Code::Unauthenticated {
                    self.client.invalidate(generation).await;
                }
                return match self.conn.status_error(&format!("GetTopic {topic}"), &s) {
                    ConnectorError::Transient(_) => End::Again(s),
                    e => End::Fail(e),
                };
            }
        }
        let (preset, replay_id) = match (replay.as_ref(), self.start) {
            (Some(id), _) => (ReplayPreset::Custom, id.clone()),
            (None, Start::Latest) => (ReplayPreset::Latest, Vec::new()),
            (None, Start::Earliest) => (ReplayPreset::Earliest, Vec::new()),
        };
        let (tx, rx) = mpsc::channel::<FetchRequest>(4);
        let first = FetchRequest {
            topic_name: topic.clone(),
            replay_preset: preset as i32,
            replay_id,
            num_requested: MAX_REQUESTED,
            auth_refresh: String::new(),
        };
        if tx.send(first).await.is_err() {
            return End::Stopped;
        }
        let requests =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
        let mut request = Request::new(requests);
        let generation = match self.conn.authorize(&mut request).await {
            Ok(g) => g,
            Err(e) => return End::Fail(e),
        };
        let mut stream = match rpc.subscribe(request).await {
            Ok(s) => s.into_inner(),
            Err(s) => {
                if s.code() == Code::Unauthenticated {
                    self.client.invalidate(generation).await;
                }
                return match self.conn.status_error(&format!("Subscribe {topic}"), &s) {
                    ConnectorError::Transient(_) => End::Again(s),
                    e => End::Fail(e),
                };
            }
        };
        tracing::info!(system = %self.client.system, topic = %topic, preset = ?preset, "Subscribed to the Salesforce Pub/Sub API");
        // Events requested and not yet received.
        let mut owed = MAX_REQUESTED;
        let mut shutdown = self.shutdown.clone();
        loop {
            let next = tokio::select! {
                n = tokio::time::timeout(SILENCE, stream.message()) => n,
                _ = stopped(&mut shutdown) => return End::Stopped,
            };
            let response = match next {
                Err(_) => {
                    return End::Again(Status::deadline_exceeded(
                        "no keepalive from the server for 5 minutes",
                    ));
                }
                Ok(Ok(Some(r))) => r,
                Ok(Ok(None)) => {
                    return End::Again(Status::unavailable("the server ended the stream"));
                }
                Ok(Err(s)) => {
                    if s.code() == Code::Unauthenticated {
                        self.client.invalidate(generation).await;
                    }
                    return match self.conn.status_error(&format!("Subscribe {topic}"), &s) {
                        ConnectorError::Transient(_) => End::Again(s),
                        e => End::Fail(e),
                    };
                }
            };
            *failures = 0;
            let received = i32::try_from(response.events.len()).unwrap_or(MAX_REQUESTED);
            owed = (owed - received).max(0);
            for consumer in response.events {
                let Some(event) = consumer.event else {
                    continue;
                };
                let decoder = match self.decoder(rpc, cache, &event.schema_id).await {
                    Ok(d) => d,
                    Err(end) => return end,
                };
                let position = hex(&consumer.replay_id);
                let records = match decoder.decode(&event.payload) {
                    Ok(payload) => {
                        let mut meta = json!({ "EventUuid": event.id });
                        if let Some(n) = replay_number(&consumer.replay_id) {
                            meta["replayId"] = json!(n);
                        }
                        let data = json!({ "payload": payload, "event": meta });
                        match self.events.records(&data).await {
                            Ok(r) => r,
                            Err(e) => return End::Fail(e),
                        }
                    }
                    Err(reason) => vec![Err(decode_error(
                        &format!(
                            "Pub/Sub event {} ({} bytes of Avro)",
                            event.id,
                            event.payload.len()
                        ),
                        format!("schema {}: {reason}", event.schema_id),
                    ))],
                };
                *replay = Some(consumer.replay_id.clone());
                if !deliver(records, &position, committer, out).await {
                    return End::Stopped;
                }
            }
            // Ask for more once half the requested events arrived (and the
            // flow took them: `out.send` above waits while its queue is full).
            if owed <= MAX_REQUESTED / 2 {
                let more = FetchRequest {
                    num_requested: MAX_REQUESTED - owed,
                    ..FetchRequest::default()
                };
                if tx.send(more).await.is_err() {
                    return End::Again(Status::unavailable("the request stream closed"));
                }
                owed = MAX_REQUESTED;
            }
        }
    }
}

impl Source for PubSubSource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let mut replay = match self.state.get(&self.key).await? {
                Some(saved) => Some(unhex(&saved).ok_or_else(|| {
                    ConnectorError::Permanent(format!(
                        "`{}`: the saved Pub/Sub replay id `{saved}` is not hex",
                        self.label
                    ))
                })?),
                None => None,
            };
            let mut rpc = PubSubClient::new(self.conn.channel()?);
            let committer = Committer::start(self.state.clone(), self.key.clone());
            let mut cache = HashMap::new();
            let mut failures = 0u32;
            let mut shutdown = self.shutdown.clone();
            let result = loop {
                let end = self
                    .subscribe(
                        &mut rpc,
                        &mut replay,
                        &mut cache,
                        &committer,
                        &out,
                        &mut failures,
                    )
                    .await;
                match end {
                    End::Stopped => break Ok(()),
                    End::Fail(e) => break Err(e),
                    End::Again(status) if failures < MAX_FAILURES => {
                        failures += 1;
                        tracing::warn!(source = %self.label, code = ?status.code(), error = %aqueduct_runtime::secrets::redact(status.message()), "Pub/Sub subscription ended; subscribing again");
                        let wait = Duration::from_millis(250 << failures.min(7));
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = stopped(&mut shutdown) => break Ok(()),
                        }
                    }
                    End::Again(status) => {
                        break Err(self.conn.status_error("Subscribe", &status));
                    }
                }
            };
            drop(out);
            committer.finish().await?;
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_ids_are_saved_as_hex() {
        assert_eq!(hex(&[0, 0x1f, 0xff]), "001fff");
        assert_eq!(unhex("001fff"), Some(vec![0, 0x1f, 0xff]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}
