//! `changes(object)` and `events(name)`: the Streaming API over CometD
//! (Bayeux long polling with the replay extension).
//!
//! The replay id of each event is the position: it is saved (key
//! `salesforce:{flow}:{channel}`) only once every record before it is
//! acknowledged, i.e. after the targets committed them, so a restart
//! re-subscribes from it and loses nothing still retained (72 h). Without a
//! saved position `replay` chooses: `latest` (-1, new events) or `earliest`
//! (-2, everything retained). A dropped session (`403::Unknown client`) is
//! handshaken and subscribed again from the last replay id received; a
//! token refused inside CometD (`401::…`) is replaced first.
//!
//! `changes` delivers each created, updated or undeleted record complete:
//! it is read back through REST by id (a change event carries only the
//! changed fields), with `_op` (`insert` or `update`) and `_commit_time`
//! set when the type declares them. Deletes are skipped, and so is a record
//! deleted before it could be read. `GAP_*` events (the change happened but
//! its details were lost) are read back the same way; `GAP_OVERFLOW` (too
//! many changes: no record ids) goes to the dead letter as a decode error
//! naming it, never silently skipped. `events` delivers each platform
//! event's payload (plus `ReplayId` and `EventUuid`).

use crate::client::{Body, Client};
use crate::convert;
use crate::describe::{Use, preflight};
use aqueduct_connectors::support::args::{arg_str, label, req_str};
use aqueduct_connectors::support::commit::Committer;
use aqueduct_connectors::support::{decode_error, stopped};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{
    Ack, ConnectorError, DecodeError, Envelope, OpContext, Source, StateStore,
};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Value as J, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What is subscribed to.
pub(crate) enum Kind {
    Changes,
    Events,
}

/// Turns an event (the Bayeux `data` member, or a Pub/Sub payload put in
/// the same shape) into the records it stands for; shared by both
/// transports, so they deliver the same records.
pub(crate) struct Events {
    pub(crate) client: Arc<Client>,
    pub(crate) kind: Kind,
    pub(crate) channel: String,
    pub(crate) ty: Type,
    pub(crate) schemas: Arc<Schemas>,
}

/// Where a subscription starts without a saved position.
#[derive(Clone, Copy)]
pub(crate) enum Start {
    Latest,
    Earliest,
}

/// The kind, channel and start of a `changes` or `events` operation (the
/// `changes` object is described first: the start-up preflight).
pub(crate) fn subscription(
    cx: &OpContext,
    client: &Arc<Client>,
) -> Result<(Kind, String, Start), ConnectorError> {
    let (kind, channel) = match cx.op.operation.as_str() {
        "changes" => {
            let object = req_str(cx, "object")?;
            preflight(cx, client, &object, Use::Read)?;
            (Kind::Changes, change_channel(&object))
        }
        _ => (Kind::Events, format!("/event/{}", req_str(cx, "name")?)),
    };
    let start = match arg_str(cx, "replay")?.as_deref() {
        None | Some("latest") => Start::Latest,
        Some("earliest") => Start::Earliest,
        Some(other) => {
            return Err(ConnectorError::Config(format!(
                "`{}`: replay must be latest or earliest, not `{other}`",
                label(cx)
            )));
        }
    };
    Ok((kind, channel, start))
}

/// A handshaken CometD session.
struct Session {
    client_id: String,
    cookie: Option<String>,
}

/// A streaming source.
pub(crate) struct StreamSource {
    client: Arc<Client>,
    events: Events,
    channel: String,
    start: i64,
    shutdown: watch::Receiver<bool>,
    state: Arc<dyn StateStore>,
    key: String,
    label: String,
}

/// The change event channel of an sObject (`Foo__c` → `Foo__ChangeEvent`).
pub(crate) fn change_channel(object: &str) -> String {
    match object.strip_suffix("__c") {
        Some(base) => format!("/data/{base}__ChangeEvent"),
        None => format!("/data/{object}ChangeEvent"),
    }
}

fn error_of(m: &J) -> String {
    let mut e = m
        .get("error")
        .and_then(J::as_str)
        .unwrap_or("unsuccessful")
        .to_string();
    if let Some(r) = m.pointer("/ext/sfdc/failureReason").and_then(J::as_str) {
        e = format!("{e} ({r})");
    }
    e
}

impl StreamSource {
    pub(crate) fn build(
        cx: &OpContext,
        client: Arc<Client>,
    ) -> Result<StreamSource, ConnectorError> {
        let (kind, channel, start) = subscription(cx, &client)?;
        let start = match start {
            Start::Latest => -1,
            Start::Earliest => -2,
        };
        Ok(StreamSource {
            key: format!("salesforce:{}:{channel}", cx.flow),
            events: Events {
                client: client.clone(),
                kind,
                channel: channel.clone(),
                ty: cx.record_type.clone(),
                schemas: cx.schemas.clone(),
            },
            client,
            channel,
            start,
            shutdown: cx.shutdown.clone(),
            state: cx.state.clone(),
            label: label(cx),
        })
    }

    fn path(&self) -> String {
        format!("/cometd/{}", self.client.version)
    }

    /// Posts Bayeux messages; the answers.
    async fn post(
        &self,
        session: Option<&Session>,
        messages: J,
    ) -> Result<(Vec<J>, Option<String>), ConnectorError> {
        let headers: Vec<(&str, String)> = session
            .and_then(|s| s.cookie.clone())
            .map(|c| vec![("cookie", c)])
            .unwrap_or_default();
        let reply = self
            .client
            .send_with(
                Method::POST,
                &self.path(),
                &[],
                &Body::Json(messages.to_string()),
                false,
                &headers,
            )
            .await?;
        let cookie = reply
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|c| c.starts_with("BAYEUX_BROWSER="))
            .map(str::to_string);
        let reply = self.client.check("streaming", reply)?;
        match serde_json::from_slice::<J>(&reply.body) {
            Ok(J::Array(a)) => Ok((a, cookie)),
            _ => Err(ConnectorError::Transient(format!(
                "`{}`: streaming: the answer is not a JSON array of Bayeux messages",
                self.client.system
            ))),
        }
    }

    /// Handshake and subscription from `replay`.
    async fn open(&self, replay: i64) -> Result<Session, ConnectorError> {
        let mut renewed = false;
        let (answers, cookie) = loop {
            let (answers, cookie) = self
                .post(
                    None,
                    json!([{"channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0",
                        "supportedConnectionTypes": ["long-polling"], "ext": {"replay": true}}]),
                )
                .await?;
            let first = answers.first().cloned().unwrap_or(J::Null);
            if first.get("successful").and_then(J::as_bool) == Some(true) {
                break (first, cookie);
            }
            let error = error_of(&first);
            if error.contains("401") && !renewed {
                self.client.reset_token().await;
                renewed = true;
                continue;
            }
            return Err(ConnectorError::Transient(format!(
                "`{}`: streaming handshake refused: {error}",
                self.client.system
            )));
        };
        let client_id = answers
            .get("clientId")
            .and_then(J::as_str)
            .unwrap_or_default()
            .to_string();
        let session = Session { client_id, cookie };
        let (answers, _) = self
            .post(
                Some(&session),
                json!([{"channel": "/meta/subscribe", "clientId": session.client_id,
                    "subscription": self.channel, "ext": {"replay": {self.channel.clone(): replay}}}]),
            )
            .await?;
        let first = answers.first().cloned().unwrap_or(J::Null);
        if first.get("successful").and_then(J::as_bool) != Some(true) {
            return Err(ConnectorError::Permanent(format!(
                "`{}`: cannot subscribe to {}: {}",
                self.client.system,
                self.channel,
                error_of(&first)
            )));
        }
        tracing::info!(system = %self.client.system, channel = %self.channel, replay, "Subscribed to the Salesforce Streaming API");
        Ok(session)
    }
}

impl Events {
    /// The records an event stands for.
    pub(crate) async fn records(
        &self,
        data: &J,
    ) -> Result<Vec<Result<Value, DecodeError>>, ConnectorError> {
        let payload = data.get("payload").cloned().unwrap_or(J::Null);
        let convert = |mut object: J| {
            let raw = object.to_string();
            if let J::Object(map) = &mut object {
                map.remove("attributes");
            }
            convert::from_json(&object, &self.ty, &self.schemas)
                .map_err(|reason| decode_error(&raw, reason))
        };
        if let Kind::Events = self.kind {
            let mut payload = payload;
            if let J::Object(map) = &mut payload {
                for (k, v) in [
                    ("ReplayId", "/event/replayId"),
                    ("EventUuid", "/event/EventUuid"),
                ] {
                    if let Some(value) = data.pointer(v) {
                        map.entry(k).or_insert(value.clone());
                    }
                }
            }
            return Ok(vec![convert(payload)]);
        }
        let header = payload.get("ChangeEventHeader").cloned().unwrap_or(J::Null);
        let change = header.get("changeType").and_then(J::as_str).unwrap_or("");
        let op = match change {
            "CREATE" | "GAP_CREATE" => "insert",
            "UPDATE" | "UNDELETE" | "GAP_UPDATE" | "GAP_UNDELETE" => "update",
            "DELETE" | "GAP_DELETE" => return Ok(Vec::new()),
            other => {
                return Ok(vec![Err(decode_error(
                    &header.to_string(),
                    format!(
                        "{other} on {}: Salesforce could not send these changes; read the object again to catch up",
                        self.channel
                    ),
                ))]);
            }
        };
        let entity = header.get("entityName").and_then(J::as_str).unwrap_or("");
        let committed = header
            .get("commitTimestamp")
            .and_then(J::as_i64)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| aqueduct_runtime::value::json::format_timestamp(&t));
        let ids: Vec<&str> = header
            .get("recordIds")
            .and_then(J::as_array)
            .into_iter()
            .flatten()
            .filter_map(J::as_str)
            .collect();
        let mut out = Vec::new();
        for id in ids {
            if id.ends_with('*') {
                out.push(Err(decode_error(
                    &header.to_string(),
                    format!("{change} for every `{id}` record: read the object again"),
                )));
                continue;
            }
            let path = self.client.data_path(&format!("/sobjects/{entity}/{id}"));
            let reply = self
                .client
                .send(Method::GET, &path, &[], &Body::None, false)
                .await?;
            if reply.status == 404 {
                continue; // deleted since: nothing to deliver
            }
            let reply = self.client.check(&format!("read back {entity}"), reply)?;
            let mut record: J = serde_json::from_slice(&reply.body).map_err(|e| {
                ConnectorError::Transient(format!(
                    "`{}`: read back {entity}: not JSON: {e}",
                    self.client.system
                ))
            })?;
            if let J::Object(map) = &mut record {
                map.insert("_op".into(), json!(op));
                if let Some(t) = &committed {
                    map.insert("_commit_time".into(), json!(t));
                }
            }
            out.push(convert(record));
        }
        Ok(out)
    }
}

impl Source for StreamSource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let mut shutdown = self.shutdown.clone();
            let mut replay = match self.state.get(&self.key).await? {
                Some(saved) => saved.parse::<i64>().unwrap_or(self.start),
                None => self.start,
            };
            let committer = Committer::start(self.state.clone(), self.key.clone());
            let mut session: Option<Session> = None;
            let mut failures = 0u32;
            let result = loop {
                if session.is_none() {
                    let opened = tokio::select! {
                        s = self.open(replay) => s,
                        _ = stopped(&mut shutdown) => break Ok(()),
                    };
                    match opened {
                        Ok(s) => session = Some(s),
                        Err(e) if e.is_retryable() && failures < 8 => {
                            failures += 1;
                            tracing::warn!(source = %self.label, error = %e, "Streaming session failed; trying again");
                            tokio::time::sleep(Duration::from_millis(250 << failures.min(7))).await;
                            continue;
                        }
                        Err(e) => break Err(e),
                    }
                }
                let Some(current) = session.as_ref() else {
                    continue;
                };
                let connect = json!([{"channel": "/meta/connect", "clientId": current.client_id, "connectionType": "long-polling"}]);
                let answers = tokio::select! {
                    a = self.post(Some(current), connect) => a,
                    _ = stopped(&mut shutdown) => break Ok(()),
                };
                let answers = match answers {
                    Ok((a, _)) => a,
                    Err(e) if e.is_retryable() && failures < 8 => {
                        failures += 1;
                        tracing::warn!(source = %self.label, error = %e, "Streaming connect failed; handshaking again");
                        tokio::time::sleep(Duration::from_millis(250 << failures.min(7))).await;
                        session = None;
                        continue;
                    }
                    Err(e) => break Err(e),
                };
                let mut stop = None;
                for m in answers {
                    let channel = m.get("channel").and_then(J::as_str).unwrap_or("");
                    if channel == "/meta/connect" {
                        if m.get("successful").and_then(J::as_bool) != Some(true) {
                            let error = error_of(&m);
                            if error.starts_with("401") {
                                self.client.reset_token().await;
                            }
                            tracing::info!(source = %self.label, error = %error, "Streaming session ended; handshaking and subscribing again");
                            session = None;
                        } else {
                            failures = 0;
                        }
                        continue;
                    }
                    if channel != self.channel {
                        continue;
                    }
                    let data = m.get("data").cloned().unwrap_or(J::Null);
                    let Some(id) = data.pointer("/event/replayId").and_then(J::as_i64) else {
                        continue;
                    };
                    let records = match self.events.records(&data).await {
                        Ok(r) => r,
                        Err(e) => {
                            stop = Some(Err(e));
                            break;
                        }
                    };
                    replay = id;
                    if !deliver(records, &id.to_string(), &committer, &out).await {
                        stop = Some(Ok(()));
                    }
                    if stop.is_some() {
                        break;
                    }
                }
                if let Some(result) = stop {
                    break result;
                }
            };
            if let Some(s) = &session {
                let bye = json!([{"channel": "/meta/disconnect", "clientId": s.client_id}]);
                let _ = tokio::time::timeout(Duration::from_secs(2), self.post(Some(s), bye)).await;
            }
            drop(out);
            committer.finish().await?;
            result
        })
    }
}

/// Hands one event's records to the flow, the event's position (replay id)
/// on the last one, so it is stored once every record of the event and
/// everything before it are safe. An event with no record (a delete the flow
/// does not take) moves the position on all the same. False when the flow
/// stopped taking records.
pub(crate) async fn deliver(
    records: Vec<Result<Value, DecodeError>>,
    position: &str,
    committer: &Committer,
    out: &mpsc::Sender<Envelope>,
) -> bool {
    let n = records.len();
    if n == 0 {
        let (ack, rx) = Ack::new();
        ack.done();
        committer.push(rx, Some(position.to_string()));
    }
    for (i, record) in records.into_iter().enumerate() {
        let (ack, rx) = Ack::new();
        committer.push(rx, (i + 1 == n).then(|| position.to_string()));
        let envelope = Envelope::new(record, ack);
        if out.send(envelope).await.is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_change_channels() {
        assert_eq!(change_channel("Account"), "/data/AccountChangeEvent");
        assert_eq!(change_channel("Invoice__c"), "/data/Invoice__ChangeEvent");
    }
}
