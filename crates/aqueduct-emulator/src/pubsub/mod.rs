//! The Pub/Sub API (gRPC `eventbus.v1.PubSub`) on the emulator's own port
//! (HTTP/2 without TLS; over TLS on a port of its own, see [`tls`]), serving the same retained events as CometD:
//! `GetTopic`, `GetSchema`, `Subscribe` and `Publish` (see [`publish`];
//! `PublishStream` is not served).
//!
//! Every call must carry the metadata `accesstoken` (a token the org
//! issued and has not revoked or expired), `instanceurl` (the org's) and
//! `tenantid` (the org id), else `UNAUTHENTICATED`. A topic that does not
//! exist is `NOT_FOUND`; an unknown schema id too. On `Subscribe` the first
//! `FetchRequest` names the topic and the start (`LATEST`, `EARLIEST` or
//! `CUSTOM` after `replay_id`; a replay id outside the retention window is
//! `INVALID_ARGUMENT`). Events are sent only as the client asks for them
//! (`num_requested`, at most 100 a request, else `INVALID_ARGUMENT`); with
//! nothing to send, an empty keepalive response with the latest replay id
//! goes out every `streaming.connect_timeout_ms`. A revoked token ends an
//! open stream with `UNAUTHENTICATED`, a `drop_session` fault with
//! `UNAVAILABLE`; request-level faults on `/eventbus.v1.PubSub/…` paths
//! answer `UNAVAILABLE` (503-like), `INTERNAL` (500-like) or
//! `UNAUTHENTICATED` (`session_expired`).

mod avro;
mod decode;
mod publish;
pub(crate) mod tls;

use crate::events::channel_exists;
use crate::faults::FaultKind;
use crate::ids::short_hash;
use crate::org::{Org, State};
use aqueduct_pubsub::proto::{
    ConsumerEvent, FetchRequest, FetchResponse, ProducerEvent, PublishRequest, PublishResponse,
    ReplayPreset, SchemaInfo, SchemaRequest, TopicInfo, TopicRequest,
};
use aqueduct_pubsub::server::{FetchStream, PubSub, PubSubServer};
use aqueduct_pubsub::{
    ACCESS_TOKEN, INSTANCE_URL, MAX_REQUESTED, TENANT_ID, replay_bytes, replay_number,
};
pub use avro::EventSchema;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

/// The gRPC routes, for the emulator's router.
pub fn service(org: Arc<Org>) -> PubSubServer<Service> {
    PubSubServer::new(Arc::new(Service { org }))
}

/// The Pub/Sub API of one org.
pub struct Service {
    org: Arc<Org>,
}

fn path(method: &str) -> String {
    format!("/eventbus.v1.PubSub/{method}")
}

/// Checks the call's metadata and the faults armed for `method`; the
/// token's user.
fn admit(st: &mut State, metadata: &MetadataMap, method: &str) -> Result<String, Status> {
    if let Some(kind) = st.faults.take_request("POST", &path(method)) {
        return Err(match kind {
            FaultKind::SessionExpired => Status::unauthenticated(
                "the session expired (the emulator's session_expired fault)",
            ),
            FaultKind::ServerError => {
                Status::internal("an unexpected error occurred (the emulator's server_error fault)")
            }
            _ => Status::unavailable("service temporarily unavailable (the emulator's fault)"),
        });
    }
    let get = |key: &str| metadata.get(key).and_then(|v| v.to_str().ok());
    let Some(token) = get(ACCESS_TOKEN) else {
        return Err(Status::unauthenticated(
            "missing the accesstoken metadata header",
        ));
    };
    let (now, ttl) = (st.clock.now_ms(), st.settings.token_ttl_ms);
    let Some(grant) = st.tokens.check(token, now, ttl) else {
        return Err(Status::unauthenticated(
            "the access token is invalid, expired or revoked",
        ));
    };
    if get(INSTANCE_URL).map(|u| u.trim_end_matches('/')) != Some(st.instance_url.as_str()) {
        return Err(Status::unauthenticated(format!(
            "the instanceurl metadata header must be this org's instance URL ({})",
            st.instance_url
        )));
    }
    let tenant = get(TENANT_ID).unwrap_or_default();
    if !(tenant == st.org_id || (tenant.len() == 15 && st.org_id.starts_with(tenant))) {
        return Err(Status::unauthenticated(
            "the tenantid metadata header must be this org's id",
        ));
    }
    Ok(grant.user_id)
}

/// The schema of a topic, if it exists.
fn topic_schema(st: &State, topic: &str) -> Option<EventSchema> {
    if let Some(name) = topic.strip_prefix("/event/") {
        return st
            .schema
            .objects
            .iter()
            .find(|o| o.is_event && o.name == name)
            .map(avro::event_schema);
    }
    st.schema
        .objects
        .iter()
        .find(|o| o.change_events && o.change_channel() == topic)
        .map(avro::change_schema)
}

/// Every schema of the org's topics (looked up by id).
fn schema_by_id(st: &State, id: &str) -> Option<EventSchema> {
    st.schema.objects.iter().find_map(|o| {
        let s = if o.is_event {
            avro::event_schema(o)
        } else if o.change_events {
            avro::change_schema(o)
        } else {
            return None;
        };
        (s.id == id).then_some(s)
    })
}

fn rpc_id(st: &mut State) -> String {
    short_hash(&format!("rpc:{}", st.ids.serial()))
}

/// The events after `cursor` (at most `max`), encoded; the new cursor.
fn take(st: &mut State, topic: &str, cursor: i64, max: usize) -> (Vec<ConsumerEvent>, i64) {
    let now = st.clock.now_ms();
    st.bus.prune(now);
    let mut last = cursor;
    let due: Vec<(i64, String, serde_json::Value)> = st
        .bus
        .after(topic, cursor)
        .take(max)
        .map(|e| (e.replay_id, e.channel.clone(), e.data.clone()))
        .collect();
    let mut out = Vec::with_capacity(due.len());
    for (replay, channel, data) in due {
        last = replay;
        let Some(schema) = topic_schema(st, &channel) else {
            continue;
        };
        let id = data
            .pointer("/event/EventUuid")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| short_hash(&format!("event:{replay}")));
        out.push(ConsumerEvent {
            event: Some(ProducerEvent {
                id,
                schema_id: schema.id.clone(),
                payload: schema.encode(&data["payload"]),
                headers: Vec::new(),
            }),
            replay_id: replay_bytes(replay),
        });
    }
    (out, last)
}

impl PubSub for Service {
    fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> BoxFuture<'static, Result<Response<PublishResponse>, Status>> {
        let answer = {
            let mut st = self.org.lock();
            publish::publish(&mut st, request.metadata(), request.get_ref())
        };
        // Wakes CometD long polls and open subscriptions.
        self.org.wake();
        Box::pin(std::future::ready(answer.map(Response::new)))
    }

    fn get_topic(
        &self,
        request: Request<TopicRequest>,
    ) -> BoxFuture<'static, Result<Response<TopicInfo>, Status>> {
        let mut st = self.org.lock();
        let answer = admit(&mut st, request.metadata(), "GetTopic").and_then(|_| {
            let topic = &request.get_ref().topic_name;
            let schema = topic_schema(&st, topic)
                .ok_or_else(|| Status::not_found(format!("topic {topic} not found")))?;
            Ok(Response::new(TopicInfo {
                topic_name: topic.clone(),
                tenant_guid: st.org_id.clone(),
                can_publish: topic.starts_with("/event/"),
                can_subscribe: true,
                schema_id: schema.id,
                rpc_id: rpc_id(&mut st),
            }))
        });
        Box::pin(std::future::ready(answer))
    }

    fn get_schema(
        &self,
        request: Request<SchemaRequest>,
    ) -> BoxFuture<'static, Result<Response<SchemaInfo>, Status>> {
        let mut st = self.org.lock();
        let answer = admit(&mut st, request.metadata(), "GetSchema").and_then(|_| {
            let id = &request.get_ref().schema_id;
            let schema = schema_by_id(&st, id)
                .ok_or_else(|| Status::not_found(format!("schema {id} not found")))?;
            Ok(Response::new(SchemaInfo {
                schema_json: schema.json,
                schema_id: schema.id,
                rpc_id: rpc_id(&mut st),
            }))
        });
        Box::pin(std::future::ready(answer))
    }

    fn subscribe(
        &self,
        request: Request<Streaming<FetchRequest>>,
    ) -> BoxFuture<'static, Result<Response<FetchStream>, Status>> {
        let org = self.org.clone();
        Box::pin(async move {
            let token = request
                .metadata()
                .get(ACCESS_TOKEN)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            admit(&mut org.lock(), request.metadata(), "Subscribe")?;
            let mut inbound = request.into_inner();
            let first = inbound.message().await?.ok_or_else(|| {
                Status::invalid_argument("the stream ended before a FetchRequest")
            })?;
            let topic = first.topic_name.clone();
            let (cursor, keepalive) = {
                let mut st = org.lock();
                if !channel_exists(&st.schema, &topic) || topic_schema(&st, &topic).is_none() {
                    return Err(Status::not_found(format!("topic {topic} not found")));
                }
                check_requested(first.num_requested)?;
                let now = st.clock.now_ms();
                let start = match ReplayPreset::try_from(first.replay_preset) {
                    Ok(ReplayPreset::Latest) => st.bus.start(&topic, -1, now),
                    Ok(ReplayPreset::Earliest) => st.bus.start(&topic, -2, now),
                    Ok(ReplayPreset::Custom) => replay_number(&first.replay_id)
                        .filter(|n| *n >= 0)
                        .and_then(|n| st.bus.start(&topic, n, now)),
                    Err(_) => None,
                };
                let cursor = start.ok_or_else(|| {
                    Status::invalid_argument(
                        "the replay id is invalid or outside the retention window; use EARLIEST or LATEST",
                    )
                })?;
                (
                    cursor,
                    Duration::from_millis(st.settings.streaming.connect_timeout_ms.max(10)),
                )
            };
            let (tx, rx) = mpsc::channel::<Result<FetchResponse, Status>>(2);
            tokio::spawn(deliver(
                org,
                token,
                topic,
                cursor,
                first.num_requested,
                keepalive,
                inbound,
                tx,
            ));
            let stream =
                futures::stream::unfold(
                    rx,
                    |mut rx| async move { rx.recv().await.map(|r| (r, rx)) },
                );
            let stream: FetchStream = Box::pin(stream);
            Ok(Response::new(stream))
        })
    }
}

fn check_requested(n: i32) -> Result<(), Status> {
    if !(0..=MAX_REQUESTED).contains(&n) {
        return Err(Status::invalid_argument(format!(
            "num_requested must be between 0 and {MAX_REQUESTED}, not {n}"
        )));
    }
    Ok(())
}

/// Sends the events of one subscription as the client asks for them.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    org: Arc<Org>,
    token: String,
    topic: String,
    mut cursor: i64,
    mut owed: i32,
    keepalive: Duration,
    mut inbound: Streaming<FetchRequest>,
    tx: mpsc::Sender<Result<FetchResponse, Status>>,
) {
    let mut last_sent = tokio::time::Instant::now();
    loop {
        let notified = org.events.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let response = {
            let mut st = org.lock();
            let (now, ttl) = (st.clock.now_ms(), st.settings.token_ttl_ms);
            if st.tokens.check(&token, now, ttl).is_none() {
                Some(Err(Status::unauthenticated(
                    "the access token expired or was revoked",
                )))
            } else if st.faults.take_drop(&path("Subscribe")) {
                Some(Err(Status::unavailable(
                    "the subscription was dropped (the emulator's drop_session fault)",
                )))
            } else if owed > 0 {
                let (events, last) = take(&mut st, &topic, cursor, owed as usize);
                cursor = last;
                if events.is_empty() {
                    None
                } else {
                    owed -= events.len() as i32;
                    Some(Ok(FetchResponse {
                        events,
                        latest_replay_id: replay_bytes(st.bus.latest()),
                        rpc_id: rpc_id(&mut st),
                        pending_num_requested: owed,
                    }))
                }
            } else {
                None
            }
        };
        if let Some(r) = response {
            let end = r.is_err();
            if tx.send(r).await.is_err() || end {
                return;
            }
            last_sent = tokio::time::Instant::now();
            continue;
        }
        tokio::select! {
            _ = notified => {}
            more = inbound.message() => match more {
                Ok(Some(r)) => {
                    if !r.topic_name.is_empty() && r.topic_name != topic {
                        let _ = tx.send(Err(Status::invalid_argument(format!(
                            "topic_name {} does not match the subscription's {topic}", r.topic_name
                        )))).await;
                        return;
                    }
                    if let Err(s) = check_requested(r.num_requested) {
                        let _ = tx.send(Err(s)).await;
                        return;
                    }
                    owed = owed.saturating_add(r.num_requested);
                }
                // The client closed its side or went away.
                Ok(None) | Err(_) => return,
            },
            _ = tokio::time::sleep_until(last_sent + keepalive) => {
                let keep = {
                    let mut st = org.lock();
                    FetchResponse {
                        events: Vec::new(),
                        latest_replay_id: replay_bytes(st.bus.latest()),
                        rpc_id: rpc_id(&mut st),
                        pending_num_requested: owed,
                    }
                };
                if tx.send(Ok(keep)).await.is_err() {
                    return;
                }
                last_sent = tokio::time::Instant::now();
            }
        }
    }
}
