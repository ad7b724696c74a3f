//! `Publish`: a batch of platform events for one `/event/<Name>__e` topic,
//! each Avro-encoded with the topic's schema, stored exactly as a REST
//! publish stores it (so CometD and Pub/Sub subscribers receive it, with a
//! replay id), answered with one `PublishResult` per event in request
//! order (`correlation_key` = the event's `id`).
//!
//! A refused event gets a per-event error (`PUBLISH`) and the others are
//! still published, as Salesforce does: a payload over 1 MB, a `schema_id`
//! that is not the topic's, a payload that does not decode with the schema,
//! an empty `CreatedById`, a value the field does not take (the REST checks,
//! e.g. `STRING_TOO_LONG`), or an `event_rejected` fault. Required custom
//! fields are not enforced (Salesforce documents that `Publish` publishes
//! the event with the field null). The stored `CreatedDate` and
//! `CreatedById` are the publish time and the token's user, as for REST.
//!
//! Refusals of the whole call are statuses: `NOT_FOUND` for an unknown
//! topic, `PERMISSION_DENIED` for a change event topic (`can_publish` is
//! false), and the metadata and request faults of [`super::admit`].

use super::decode::decode_event;
use super::{admit, avro, rpc_id, topic_schema};
use crate::dml::{self, WriteCtx};
use crate::org::State;
use aqueduct_pubsub::proto::{
    Error, ErrorCode, ProducerEvent, PublishRequest, PublishResponse, PublishResult,
};
use aqueduct_pubsub::replay_bytes;
use tonic::Status;
use tonic::metadata::MetadataMap;

/// The largest event payload Salesforce accepts (1 MB).
const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Handles one `Publish` under the org's lock, committing what it accepts.
pub(super) fn publish(
    st: &mut State,
    metadata: &MetadataMap,
    request: &PublishRequest,
) -> Result<PublishResponse, Status> {
    let user = admit(st, metadata, "Publish")?;
    let topic = &request.topic_name;
    let found = topic.strip_prefix("/event/").and_then(|name| {
        st.schema
            .objects
            .iter()
            .position(|o| o.is_event && o.name == name)
    });
    let Some(obj) = found else {
        if topic_schema(st, topic).is_some() {
            return Err(Status::permission_denied(format!(
                "events cannot be published to {topic}"
            )));
        }
        return Err(Status::not_found(format!("topic {topic} not found")));
    };
    let def = st.schema.objects[obj].clone();
    let schema = avro::event_schema(&def);
    let ctx = WriteCtx {
        user_id: user,
        origin: String::new(),
        method: "POST".into(),
        path: super::path("Publish"),
    };
    let mut outcomes: Vec<Result<(), String>> = Vec::with_capacity(request.events.len());
    for event in &request.events {
        let outcome = accept(st, obj, &def.name, &schema, &ctx, event);
        outcomes.push(outcome);
    }
    let before = st.bus.latest();
    st.commit();
    // The accepted events were stored in request order, nothing else in
    // between (the lock is held): the k-th new event of the topic is the
    // k-th accepted one.
    let mut replays = st
        .bus
        .after(topic, before)
        .map(|e| e.replay_id)
        .collect::<Vec<_>>()
        .into_iter();
    let results = request
        .events
        .iter()
        .zip(outcomes)
        .map(|(event, outcome)| match outcome {
            Ok(()) => PublishResult {
                replay_id: replays.next().map(replay_bytes).unwrap_or_default(),
                error: None,
                correlation_key: event.id.clone(),
            },
            Err(msg) => PublishResult {
                replay_id: Vec::new(),
                error: Some(Error {
                    code: ErrorCode::Publish as i32,
                    msg,
                }),
                correlation_key: event.id.clone(),
            },
        })
        .collect();
    Ok(PublishResponse {
        results,
        schema_id: schema.id,
        rpc_id: rpc_id(st),
    })
}

/// Checks and stores one event (pending the commit); why it was refused.
fn accept(
    st: &mut State,
    obj: usize,
    name: &str,
    schema: &avro::EventSchema,
    ctx: &WriteCtx,
    event: &ProducerEvent,
) -> Result<(), String> {
    if event.payload.len() > MAX_EVENT_BYTES {
        return Err(format!(
            "the event is {} bytes; at most {MAX_EVENT_BYTES} are allowed",
            event.payload.len()
        ));
    }
    if event.schema_id != schema.id {
        return Err(format!(
            "schema_id `{}` is not the schema of {name} ({})",
            event.schema_id, schema.id
        ));
    }
    let decoded = decode_event(schema, &event.payload)
        .map_err(|e| format!("the payload does not decode with schema {}: {e}", schema.id))?;
    if decoded.created_by.is_empty() {
        return Err("CreatedById is required".into());
    }
    if st.faults.take_event_rejection(name) {
        return Err("the event was rejected (the emulator's event_rejected fault)".into());
    }
    let uuid = (!event.id.is_empty()).then(|| event.id.clone());
    dml::publish_event(st, obj, &decoded.fields, ctx, uuid, false)
        .map(|_| ())
        .map_err(|e| format!("{}: {}", e.code, e.message))
}
