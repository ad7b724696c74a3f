//! Streaming events: the retained log with replay ids, and turning
//! committed writes into Change Data Capture and platform events.
//!
//! Replay ids come from one org-wide counter, so they increase within every
//! channel (what clients rely on) without being contiguous. Events older
//! than the retention window (72 h of emulated time by default) are dropped;
//! a subscription may resume from any replay id between the newest dropped
//! one and the newest issued one, as Salesforce allows within its window.

use crate::clock::event_datetime;
use crate::dml::{Change, ChangeKind};
use crate::ids::short_hash;
use crate::org::State;
use crate::schema::{FieldType, ObjectDef, Schema};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};

/// The channel that carries every entity's change events.
pub const ALL_CHANGES: &str = "/data/ChangeEvents";

/// One retained event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Replay id.
    pub replay_id: i64,
    /// The event's own channel.
    pub channel: String,
    /// Emulated epoch ms when published.
    pub at_ms: i64,
    /// The Bayeux `data` member.
    pub data: Value,
}

/// The retained events of every channel.
#[derive(Debug, Clone)]
pub struct Bus {
    events: VecDeque<Event>,
    last_replay: i64,
    retention_ms: i64,
    pruned: HashMap<String, i64>,
    pruned_changes: i64,
}

impl Bus {
    /// An empty log keeping events for `retention_hours`.
    pub fn new(retention_hours: i64) -> Bus {
        Bus {
            events: VecDeque::new(),
            last_replay: 0,
            retention_ms: retention_hours.max(0) * 3_600_000,
            pruned: HashMap::new(),
            pruned_changes: 0,
        }
    }

    /// Appends an event; `data(replay_id)` builds its `data` member.
    pub fn publish(&mut self, channel: &str, now_ms: i64, data: impl FnOnce(i64) -> Value) {
        self.prune(now_ms);
        self.last_replay += 1;
        let replay_id = self.last_replay;
        self.events.push_back(Event {
            replay_id,
            channel: channel.to_string(),
            at_ms: now_ms,
            data: data(replay_id),
        });
    }

    /// Drops events past the retention window.
    pub fn prune(&mut self, now_ms: i64) {
        let cutoff = now_ms - self.retention_ms;
        while self.events.front().is_some_and(|e| e.at_ms <= cutoff) {
            let Some(e) = self.events.pop_front() else {
                break;
            };
            let slot = self.pruned.entry(e.channel.clone()).or_insert(0);
            *slot = (*slot).max(e.replay_id);
            if e.channel.starts_with("/data/") {
                self.pruned_changes = self.pruned_changes.max(e.replay_id);
            }
        }
    }

    /// The newest replay id issued.
    pub fn latest(&self) -> i64 {
        self.last_replay
    }

    /// The newest dropped replay id of a subscription channel.
    pub fn pruned_through(&self, channel: &str) -> i64 {
        if channel == ALL_CHANGES {
            self.pruned_changes
        } else {
            self.pruned.get(channel).copied().unwrap_or(0)
        }
    }

    /// Where a subscription starts: -1 = after the newest event, -2 = every
    /// retained event, an id = after it; `None` when the id is outside the window.
    pub fn start(&mut self, channel: &str, replay: i64, now_ms: i64) -> Option<i64> {
        self.prune(now_ms);
        match replay {
            -1 => Some(self.last_replay),
            -2 => Some(self.pruned_through(channel)),
            n if n >= self.pruned_through(channel) && n <= self.last_replay => Some(n),
            _ => None,
        }
    }

    /// Retained events of a subscription channel after `cursor`, oldest first.
    pub fn after<'a>(
        &'a self,
        channel: &'a str,
        cursor: i64,
    ) -> impl Iterator<Item = &'a Event> + 'a {
        self.events
            .iter()
            .filter(move |e| e.replay_id > cursor && covers(channel, &e.channel))
    }
}

/// Whether a subscription to `sub` receives events of `channel`.
pub fn covers(sub: &str, channel: &str) -> bool {
    sub == channel
        || (sub == ALL_CHANGES && channel.starts_with("/data/") && channel.ends_with("ChangeEvent"))
}

/// Whether a channel exists in this org.
pub fn channel_exists(schema: &Schema, channel: &str) -> bool {
    if channel == ALL_CHANGES {
        return true;
    }
    if let Some(name) = channel.strip_prefix("/event/") {
        return schema.objects.iter().any(|o| o.is_event && o.name == name);
    }
    schema
        .objects
        .iter()
        .any(|o| o.change_events && o.change_channel() == channel)
}

/// The schema id of an object's change events (the `schema` of CometD
/// events and the `schema_id` of Pub/Sub ones).
pub fn change_schema_id(def: &ObjectDef) -> String {
    short_hash(&format!("{}ChangeEvent:{}", def.name, def.fields.len()))
}

/// The schema id of a platform event.
pub fn event_schema_id(def: &ObjectDef) -> String {
    short_hash(&format!("{}:{}", def.name, def.fields.len()))
}

/// Publishes the change events and platform events of committed writes.
pub fn publish_changes(st: &mut State, changes: &[Change]) {
    let schema = st.schema.clone();
    let transaction_key = st.ids.uuid("transaction");
    let mut sequence = 0;
    for c in changes {
        let def = &schema.objects[c.obj];
        if c.kind == ChangeKind::Publish {
            let mut payload = Map::new();
            payload.insert("CreatedDate".into(), json!(event_datetime_ms(c.at_ms)));
            payload.insert("CreatedById".into(), json!(c.user_id));
            let mut uuid = Value::Null;
            for (k, v) in &c.values {
                if k == "EventUuid" {
                    uuid = v.clone();
                } else if !v.is_null() {
                    payload.insert(k.clone(), event_value(&schema, c.obj, k, v));
                }
            }
            let schema_id = event_schema_id(def);
            st.bus.publish(&format!("/event/{}", def.name), c.at_ms, |replay_id| {
                json!({"schema": schema_id, "payload": payload, "event": {"EventUuid": uuid, "replayId": replay_id}})
            });
            continue;
        }
        if !def.change_events {
            continue;
        }
        sequence += 1;
        let commit_number = st.ids.serial();
        let (change_type, changed): (&str, Vec<String>) = match c.kind {
            ChangeKind::Create => ("CREATE", Vec::new()),
            ChangeKind::Update => ("UPDATE", c.changed.clone()),
            _ => ("DELETE", Vec::new()),
        };
        let mut payload = Map::new();
        payload.insert(
            "ChangeEventHeader".into(),
            json!({
                "entityName": def.name,
                "recordIds": [c.id],
                "changeType": change_type,
                "changeOrigin": c.origin,
                "transactionKey": transaction_key,
                "sequenceNumber": sequence,
                "commitTimestamp": c.at_ms,
                "commitNumber": commit_number,
                "commitUser": c.user_id,
                "changedFields": changed,
            }),
        );
        if c.kind != ChangeKind::Delete {
            for (k, v) in &c.values {
                // Change events never carry these (Salesforce's CDC field rules).
                if matches!(k.as_str(), "Id" | "IsDeleted" | "SystemModstamp") {
                    continue;
                }
                if c.kind == ChangeKind::Create && v.is_null() {
                    continue;
                }
                payload.insert(k.clone(), event_value(&schema, c.obj, k, v));
            }
        }
        let schema_id = change_schema_id(def);
        st.bus.publish(&def.change_channel(), c.at_ms, |replay_id| {
            json!({"schema": schema_id, "payload": payload, "event": {"replayId": replay_id}})
        });
    }
}

/// Publishes a gap or overflow event (admin API): header only.
pub fn publish_gap(st: &mut State, obj: usize, change_type: &str, record_ids: &[String]) {
    let schema = st.schema.clone();
    let def = &schema.objects[obj];
    let now = st.clock.now_ms();
    let transaction_key = st.ids.uuid("transaction");
    let commit_number = st.ids.serial();
    let user = st.default_user();
    let schema_id = change_schema_id(def);
    st.bus.publish(&def.change_channel(), now, |replay_id| {
        json!({"schema": schema_id, "event": {"replayId": replay_id}, "payload": {"ChangeEventHeader": {
            "entityName": def.name, "recordIds": record_ids, "changeType": change_type, "changeOrigin": "",
            "transactionKey": transaction_key, "sequenceNumber": 1, "commitTimestamp": now,
            "commitNumber": commit_number, "commitUser": user, "changedFields": []}}})
    });
}

/// Datetimes in events are written `…Z`; other values as stored.
fn event_value(schema: &Schema, obj: usize, field: &str, v: &Value) -> Value {
    let is_datetime = schema.objects[obj]
        .field(field)
        .is_some_and(|f| f.ftype == FieldType::Datetime);
    match (
        is_datetime,
        v.as_str().and_then(crate::clock::parse_datetime),
    ) {
        (true, Some(t)) => json!(event_datetime(t)),
        _ => v.clone(),
    }
}

fn event_datetime_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(event_datetime)
        .unwrap_or_default()
}
