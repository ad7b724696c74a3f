//! `mqtt.subscribe(filter, qos, format:)`.
//!
//! At QoS 1 or 2 the session is persistent (clean session off, the fixed
//! client id) and acks are manual: each message is acknowledged only after
//! the executor acked its record, in arrival order (MQTT wants acks in
//! order). A record not acked (a failed target without dead letter) stops
//! acknowledging for this run, so it and everything after it are sent again
//! when the session resumes. The broker bounds the unacknowledged messages
//! in flight (Mosquitto: `max_inflight_messages`, 20), so a slow flow leaves
//! the backlog queued in the broker. The event loop reconnects with backoff
//! and subscribes again after every connection; acks of messages of an
//! ended connection are dropped ([`AckGate`]). The start-up waits for the
//! broker's SUBACK: a refused filter fails it.
//!
//! Replicas share the work through a shared subscription
//! (`$share/GROUP/filter`, which Mosquitto accepts from MQTT 3.1.1
//! clients), each with a client id of its own.
//!
//! A json subscription takes the fused async path when the flow offers it
//! ([`crate::fused`]): the messages at hand go into the flow as one sealed
//! group with one ack, and are acknowledged in order when it comes.

use super::Endpoint;
use super::ack_gate::{AckGate, AckOutcome};
use crate::fused::{Fusing, Sent};
use crate::payload::{Format, Payload};
use aqueduct_connectors::support::args::req_str;
use aqueduct_connectors::support::stopped;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source};
use aqueduct_runtime::fused::FusedPlan;
use futures::future::BoxFuture;
use rumqttc::{
    AsyncClient, Event, EventLoop, Incoming, Outgoing, Publish, QoS, SubscribeReasonCode,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

pub(crate) struct Subscribe {
    endpoint: Endpoint,
    filter: String,
    qos: QoS,
    payload: Payload,
    shutdown: watch::Receiver<bool>,
    /// The fused async path's plan, when the flow offered it (json only).
    fused: Option<Arc<FusedPlan>>,
}

/// A message kept for its ack, with the epoch of its connection.
type Received = (u64, Publish);

/// The messages one ack of the flow stands for.
enum Held {
    One(Received),
    /// A sealed group's, in arrival order.
    Group(Vec<Received>),
}

impl Subscribe {
    pub(crate) fn build(cx: &OpContext) -> Result<Subscribe, ConnectorError> {
        Ok(Subscribe {
            endpoint: Endpoint::of(cx)?,
            filter: req_str(cx, "filter")?,
            qos: super::qos(cx)?,
            payload: Payload::from_args(cx)?,
            shutdown: cx.shutdown.clone(),
            fused: None,
        })
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let at_least_once = self.qos != QoS::AtMostOnce;
        let mut options = self.endpoint.options(&self.endpoint.client_id)?;
        options
            .set_clean_session(!at_least_once)
            .set_manual_acks(at_least_once)
            .set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        // each message with the epoch of the connection it came on
        let (tx, mut incoming) = mpsc::channel::<(u64, Publish)>(1024);
        let gate = Arc::new(AckGate::default());
        let (connected_tx, connected_rx) = oneshot::channel::<Result<(), ConnectorError>>();
        let label = self.endpoint.label.clone();
        let (filter, qos) = (self.filter.clone(), self.qos);
        let subscriber = client.clone();
        let poller_gate = gate.clone();
        // the event loop must keep running (pings, acks) while the flow is busy
        let poller = tokio::spawn(async move {
            let gate = poller_gate;
            // only this task moves the epoch: no lock per message to read it
            let mut epoch = gate.current();
            let closing = gate.clone();
            // however the loop ends, the acker must stop waiting on it
            async move {
            let mut connected_tx = Some(connected_tx);
            let mut delay = Duration::from_secs(1);
            // DISCONNECT sent: see the `Outgoing::Disconnect` arm below
            let mut leaving = false;
            loop {
                let polled = eventloop.poll().await;
                if leaving {
                    if polled.is_err() {
                        return;
                    }
                    continue;
                }
                match polled {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        delay = Duration::from_secs(1);
                        if qos == QoS::ExactlyOnce {
                            expect_every_release(&mut eventloop);
                        }
                        // every (re)connection subscribes again
                        if let Err(e) = subscriber.try_subscribe(filter.clone(), qos) {
                            let message = format!("`{label}`: cannot subscribe to `{filter}`: {e}");
                            // no SUBACK will come to end the start-up's wait
                            if let Some(tx) = connected_tx.take() {
                                let _ = tx.send(Err(ConnectorError::Transient(message)));
                                return;
                            }
                            tracing::warn!("{message}");
                        }
                    }
                    // Only the SUBACK says the broker took the filter: a
                    // new session gets nothing published before it, and a
                    // refused filter (return code 0x80) would leave the
                    // flow waiting for messages that never come. Mosquitto
                    // 2.0.11 granted even a filter its ACL denies (it
                    // filters at delivery), so the refusal is not tested.
                    Ok(Event::Incoming(Incoming::SubAck(ack))) => {
                        let refused = ack
                            .return_codes
                            .iter()
                            .any(|c| matches!(c, SubscribeReasonCode::Failure));
                        if refused {
                            let message =
                                format!("`{label}`: the broker refused the subscription to `{filter}`");
                            if let Some(tx) = connected_tx.take() {
                                let _ = tx.send(Err(ConnectorError::Config(message)));
                                return;
                            }
                            tracing::error!("{message}");
                        } else if let Some(tx) = connected_tx.take() {
                            let _ = tx.send(Ok(()));
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(publish))) => {
                        // A resumed session's queued messages come right
                        // after CONNACK, before the SUBACK: they prove the
                        // session is there, and the start-up must end now,
                        // or the queue below fills while nobody reads it
                        // and the SUBACK behind them is never read.
                        if let Some(tx) = connected_tx.take() {
                            let _ = tx.send(Ok(()));
                        }
                        // once the flow stops taking messages the loop
                        // still has acks and the DISCONNECT to send; an
                        // unacknowledged message comes again next session
                        let _ = tx.send((epoch, publish)).await;
                    }
                    // Leaving at once would close the socket with the
                    // broker's unread messages in it: the kernel then
                    // resets the connection, and the broker drops what it
                    // had not read yet (the last acks, the DISCONNECT), so
                    // those messages came again after a restart (seen in
                    // the benchmark: thousands). The broker closes the
                    // connection after DISCONNECT; read until it does.
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => leaving = true,
                    // the release completed: the id stays answerable
                    Ok(Event::Outgoing(Outgoing::PubComp(pkid))) => {
                        expect_release(&mut eventloop, pkid);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let message = format!("`{label}`: the broker connection failed: {e}");
                        if let Some(tx) = connected_tx.take() {
                            let _ = tx.send(Err(ConnectorError::Transient(message)));
                            return;
                        }
                        let dropped = gate.connection_ended(&mut eventloop);
                        epoch = gate.current();
                        tracing::warn!(
                            "{message}; reconnecting in {delay:?} (unacknowledged messages are sent again)"
                        );
                        tracing::debug!("`{label}`: {dropped} acks of the ended connection dropped");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                }
            }
            }
            .await;
            closing.close();
        });
        match connected_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(ConnectorError::Transient(format!(
                    "`{}`: the connection ended before the broker answered",
                    self.endpoint.label
                )));
            }
        }
        tracing::info!(filter = %self.filter, qos = ?self.qos, client_id = %self.endpoint.client_id,
            "{}: subscribed", self.endpoint.label);
        // acknowledgements in arrival order
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<(oneshot::Receiver<()>, Held)>();
        let acker_client = client.clone();
        let acker = tokio::spawn(async move {
            while let Some((safe, held)) = ack_rx.recv().await {
                if safe.await.is_err() {
                    tracing::warn!(
                        "an mqtt message was not acknowledged by the flow; it and the ones after it are sent again when the session resumes"
                    );
                    while ack_rx.recv().await.is_some() {}
                    return;
                }
                let group = match &held {
                    Held::One(one) => std::slice::from_ref(one),
                    Held::Group(all) => all.as_slice(),
                };
                for (epoch, publish) in group {
                    if !ack_one(&gate, &acker_client, *epoch, publish).await {
                        return;
                    }
                }
            }
        });
        let mut fusing = self.fused.clone().map(Fusing::<Received>::new);
        loop {
            let publish = tokio::select! {
                p = incoming.recv() => p,
                _ = stopped(&mut self.shutdown) => None,
            };
            let Some(received) = publish else {
                break;
            };
            let sent = match fusing.as_mut() {
                Some(fusing) => {
                    self.send_at_hand(
                        fusing,
                        received,
                        &mut incoming,
                        &out,
                        &ack_tx,
                        at_least_once,
                    )
                    .await
                }
                None => self.send_one(received, &out, &ack_tx, at_least_once).await,
            };
            if !sent {
                break;
            }
        }
        drop(out);
        drop(incoming);
        drop(ack_tx);
        // the records handed out are still being delivered: ack them, then leave
        let _ = acker.await;
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), poller).await;
        Ok(())
    }
}

/// Queues the ack of one message, waiting while the client's request
/// channel is full; false once the event loop is gone.
async fn ack_one(gate: &AckGate, client: &AsyncClient, epoch: u64, publish: &Publish) -> bool {
    loop {
        match gate.try_ack(client, epoch, publish) {
            AckOutcome::Queued | AckOutcome::Stale => return true,
            AckOutcome::Full => tokio::time::sleep(Duration::from_millis(1)).await,
            AckOutcome::Closed => {
                tracing::warn!(
                    "the mqtt connection has ended: the messages not acknowledged are sent again when the session resumes"
                );
                return false;
            }
        }
    }
}

type AckQueue = mpsc::UnboundedSender<(oneshot::Receiver<()>, Held)>;

impl Subscribe {
    /// Sends one message into the flow as a record of its own; false when
    /// the flow is gone.
    async fn send_one(
        &self,
        received: Received,
        out: &mpsc::Sender<Envelope>,
        acks: &AckQueue,
        at_least_once: bool,
    ) -> bool {
        let record = self.payload.decode(&received.1.payload);
        let (ack, safe) = Ack::new_if(at_least_once);
        if out.send(Envelope::new(record, ack)).await.is_err() {
            return false;
        }
        if let Some(safe) = safe {
            let _ = acks.send((safe, Held::One(received)));
        }
        true
    }

    /// The fused path: `first` and the messages already received after it
    /// go into the flow as sealed groups, each message the plan does not
    /// take as a record of its own in its place; false when the flow is
    /// gone.
    async fn send_at_hand(
        &self,
        fusing: &mut Fusing<Received>,
        first: Received,
        incoming: &mut mpsc::Receiver<Received>,
        out: &mpsc::Sender<Envelope>,
        acks: &AckQueue,
        at_least_once: bool,
    ) -> bool {
        let mut next = Some(first);
        while let Some(received) = next.take() {
            let payload = received.1.payload.clone();
            match fusing.offer(&payload, received) {
                Ok(()) if fusing.full() => {
                    if !send_group(fusing, out, acks, at_least_once).await {
                        return false;
                    }
                }
                Ok(()) => {}
                Err(received) => {
                    if !send_group(fusing, out, acks, at_least_once).await
                        || !self.send_one(received, out, acks, at_least_once).await
                    {
                        return false;
                    }
                }
            }
            next = incoming.try_recv().ok();
        }
        send_group(fusing, out, acks, at_least_once).await
    }
}

/// Sends the fused group so far and queues its messages' acks; false when
/// the flow is gone.
async fn send_group(
    fusing: &mut Fusing<Received>,
    out: &mpsc::Sender<Envelope>,
    acks: &AckQueue,
    at_least_once: bool,
) -> bool {
    match fusing.send(out, at_least_once).await {
        Ok(Some(Sent {
            safe: Some(safe),
            held,
        })) => {
            let _ = acks.send((safe, Held::Group(held)));
            true
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

/// Makes the event loop answer every PUBREL with PUBCOMP. rumqttc answers
/// a PUBREL only for a packet id it saw an incoming QoS 2 PUBLISH of on the
/// current connection; any other is an error that drops the connection.
/// But a PUBREL may well follow a PUBREC of an earlier connection: rumqttc
/// forgets the packet ids on every reconnection while the PUBRECs of the
/// records the flow acked meanwhile still go out, and the broker sends
/// again, after every reconnection, a PUBREL that was not completed (a cut
/// or a `kill -9` right after a PUBREC). Without this the subscriber
/// reconnected for ever and received nothing more. MQTT says a PUBREL is
/// always answered with PUBCOMP, and completing it loses nothing: the PUBREC
/// before it went out only after the flow made its record safe.
///
/// The event loop learns a packet id from an incoming QoS 2 PUBLISH only;
/// an empty one with manual acks sends nothing, and its event is taken back
/// so that no record is made of it.
fn expect_release(eventloop: &mut EventLoop, pkid: u16) {
    let mut marker = Publish::new("", QoS::ExactlyOnce, Vec::new());
    marker.pkid = pkid;
    // an incoming QoS 2 PUBLISH is never refused
    let _ = eventloop
        .state
        .handle_incoming_packet(Incoming::Publish(marker));
    eventloop.state.events.pop_back();
}

/// [`expect_release`] of every packet id, right after a connection (before
/// any packet of it is read).
fn expect_every_release(eventloop: &mut EventLoop) {
    for pkid in 1..=u16::MAX {
        expect_release(eventloop, pkid);
    }
}

impl Source for Subscribe {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(self.run_inner(out))
    }

    fn fuse(&mut self, plan: Arc<FusedPlan>) -> bool {
        if !plan.streaming() || self.payload.format != Format::Json {
            return false;
        }
        self.fused = Some(plan);
        true
    }
}
