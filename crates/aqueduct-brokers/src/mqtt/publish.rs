//! `mqtt.publish(topic, qos, retain:, format:)`.
//!
//! One connection per target (client id: the system's, `-pub-` and the
//! process id, with a clean session). The event loop runs in its own task;
//! each publish waits for its acknowledgement: the broker's PUBACK at QoS 1,
//! PUBCOMP at QoS 2 (QoS 0 waits only until the message was written to the
//! connection). Packet ids are learnt from the event loop, which reports
//! outgoing publishes in the order they were requested. When the connection
//! fails, every waiting publish fails (transient: the executor retries), and
//! the event loop reconnects.

use super::Endpoint;
use crate::payload::Payload;
use aqueduct_connectors::support::args::{arg_bool, label};
use aqueduct_connectors::support::template::Template;
use aqueduct_runtime::connector::{ConnectorError, OpContext, Target};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use rumqttc::{AsyncClient, Event, Incoming, Outgoing, QoS};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Longest wait for the broker's acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// The most publishes at QoS 2 waiting for their completion (rumqttc's
/// default, 100, stays for QoS 1). Mosquitto takes at most `max_inflight_messages` (20 by default)
/// incoming QoS 2 messages of an MQTT 3.1.1 client at once and drops the
/// ones over it while completing them like the others (PUBREC, PUBCOMP),
/// so more in flight loses messages without an error; MQTT 3.1.1 has no
/// way for the broker to say its limit.
const MAX_QOS2_IN_FLIGHT: u16 = 20;

type Waiter = oneshot::Sender<Result<(), String>>;

/// Publishes waiting for the event loop to give them a packet id, then for their ack.
#[derive(Default)]
struct Waiters {
    queued: VecDeque<Waiter>,
    by_pkid: HashMap<u16, Waiter>,
}

impl Waiters {
    fn fail_all(&mut self, why: &str) {
        for w in self
            .queued
            .drain(..)
            .chain(self.by_pkid.drain().map(|(_, w)| w))
        {
            let _ = w.send(Err(why.to_string()));
        }
    }
}

struct Connection {
    client: AsyncClient,
    waiters: Arc<Mutex<Waiters>>,
    task: tokio::task::JoinHandle<()>,
}

pub(crate) struct Publish {
    endpoint: Endpoint,
    topic: Template,
    qos: QoS,
    retain: bool,
    payload: Payload,
    conn: tokio::sync::Mutex<Option<Connection>>,
}

impl Publish {
    pub(crate) fn build(cx: &OpContext) -> Result<Publish, ConnectorError> {
        let expr = cx.op.arg("topic").ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `topic` is required", label(cx)))
        })?;
        Ok(Publish {
            endpoint: Endpoint::of(cx)?,
            topic: Template::new(expr, &cx.schemas)
                .map_err(|e| ConnectorError::Config(format!("`{}`: topic: {e}", label(cx))))?,
            qos: super::qos(cx)?,
            retain: arg_bool(cx, "retain")?.unwrap_or(false),
            payload: Payload::from_args(cx)?,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    fn connect(&self) -> Result<Connection, ConnectorError> {
        let client_id = format!("{}-pub-{}", self.endpoint.client_id, std::process::id());
        let mut options = self.endpoint.options(&client_id)?;
        options
            .set_clean_session(true)
            .set_keep_alive(Duration::from_secs(30));
        if self.qos == QoS::ExactlyOnce {
            options.set_inflight(MAX_QOS2_IN_FLIGHT);
        }
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        let waiters = Arc::new(Mutex::new(Waiters::default()));
        let shared = waiters.clone();
        let label = self.endpoint.label.clone();
        let task = tokio::spawn(async move {
            let mut delay = Duration::from_secs(1);
            loop {
                let event = eventloop.poll().await;
                let failed = {
                    let Ok(mut w) = shared.lock() else { return };
                    match event {
                        Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                            if let Some(waiter) = w.queued.pop_front() {
                                if pkid == 0 {
                                    let _ = waiter.send(Ok(()));
                                } else {
                                    w.by_pkid.insert(pkid, waiter);
                                }
                            }
                            None
                        }
                        Ok(Event::Incoming(Incoming::PubAck(ack))) => {
                            if let Some(waiter) = w.by_pkid.remove(&ack.pkid) {
                                let _ = waiter.send(Ok(()));
                            }
                            None
                        }
                        Ok(Event::Incoming(Incoming::PubComp(comp))) => {
                            if let Some(waiter) = w.by_pkid.remove(&comp.pkid) {
                                let _ = waiter.send(Ok(()));
                            }
                            None
                        }
                        Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                            delay = Duration::from_secs(1);
                            None
                        }
                        Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                            w.fail_all("the connection was closed");
                            return;
                        }
                        Ok(_) => None,
                        Err(e) => {
                            let why = format!("the broker connection failed: {e}");
                            w.fail_all(&why);
                            Some(why)
                        }
                    }
                };
                if let Some(why) = failed {
                    tracing::warn!("`{label}`: {why}; reconnecting in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        });
        Ok(Connection {
            client,
            waiters,
            task,
        })
    }
}

impl Target for Publish {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let label = &self.endpoint.label;
            let mut guard = self.conn.lock().await;
            if guard.as_ref().is_none_or(|c| c.task.is_finished()) {
                *guard = Some(self.connect()?);
            }
            let Some(conn) = guard.as_ref() else {
                return Err(ConnectorError::Transient(format!(
                    "`{label}`: not connected"
                )));
            };
            let mut pending = Vec::with_capacity(records.len());
            for record in records {
                let topic = self
                    .topic
                    .render(record, str::to_string)
                    .map_err(|e| ConnectorError::Permanent(format!("`{label}`: topic: {e}")))?;
                let body = self.payload.encode(record)?;
                let (tx, rx) = oneshot::channel();
                if let Ok(mut w) = conn.waiters.lock() {
                    w.queued.push_back(tx);
                }
                conn.client
                    .publish(topic.clone(), self.qos, self.retain, body)
                    .await
                    .map_err(|e| {
                        ConnectorError::Transient(format!(
                            "`{label}`: cannot publish on `{topic}`: {e}"
                        ))
                    })?;
                pending.push((topic, rx));
            }
            for (topic, rx) in pending {
                match tokio::time::timeout(ACK_TIMEOUT, rx).await {
                    Ok(Ok(Ok(()))) => {}
                    Ok(Ok(Err(why))) => {
                        return Err(ConnectorError::Transient(format!(
                            "`{label}`: the message on `{topic}` was not acknowledged: {why}"
                        )));
                    }
                    Ok(Err(_)) | Err(_) => {
                        return Err(ConnectorError::Transient(format!(
                            "`{label}`: no acknowledgement for the message on `{topic}` within {ACK_TIMEOUT:?}"
                        )));
                    }
                }
            }
            Ok(())
        })
    }

    fn finish(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            if let Some(conn) = self.conn.lock().await.take() {
                let _ = conn.client.disconnect().await;
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.task).await;
            }
            Ok(())
        })
    }
}
