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
//! ended connection are dropped ([`AckGate`]).
//!
//! The event loop's task decodes each message and hands it to the flow
//! itself: a task between the two cost a channel hop and a wake-up per
//! message, a third of the source's own work at the rates a resumed
//! session's backlog arrives.

use super::Endpoint;
use super::ack_gate::{AckGate, AckOutcome};
use crate::payload::Payload;
use aqueduct_connectors::support::args::req_str;
use aqueduct_connectors::support::stopped;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source};
use futures::future::BoxFuture;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, Outgoing, Publish, QoS};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// Requests (acks, the subscription, DISCONNECT) the client queues for its
/// event loop: room for the acks of a few whole groups the flow commits at
/// once, so the acker seldom finds the queue full and waits.
const REQUESTS: usize = 4096;

pub(crate) struct Subscribe {
    endpoint: Endpoint,
    filter: String,
    qos: QoS,
    payload: Payload,
    shutdown: watch::Receiver<bool>,
}

/// A message's ack receiver, with what acknowledging it needs.
type Unacked = (oneshot::Receiver<()>, u64, Publish);

/// Where the event loop's task hands messages while the flow takes them:
/// the flow's input and the acker's queue. Emptied when the source stops,
/// which closes both (the event loop itself keeps running for the acks).
#[derive(Clone)]
struct Feed {
    out: mpsc::Sender<Envelope>,
    acks: mpsc::UnboundedSender<Unacked>,
}

type FeedSlot = Arc<Mutex<Option<Feed>>>;

fn take_feed(slot: &FeedSlot) -> Option<Feed> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}

impl Subscribe {
    pub(crate) fn build(cx: &OpContext) -> Result<Subscribe, ConnectorError> {
        Ok(Subscribe {
            endpoint: Endpoint::of(cx)?,
            filter: req_str(cx, "filter")?,
            qos: super::qos(cx)?,
            payload: Payload::from_args(cx)?,
            shutdown: cx.shutdown.clone(),
        })
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let at_least_once = self.qos != QoS::AtMostOnce;
        let mut options = self.endpoint.options(&self.endpoint.client_id)?;
        options
            .set_clean_session(!at_least_once)
            .set_manual_acks(at_least_once)
            .set_keep_alive(Duration::from_secs(30));
        let (client, eventloop) = AsyncClient::new(options, REQUESTS);
        let gate = Arc::new(AckGate::default());
        let (connected_tx, connected_rx) = oneshot::channel::<Result<(), ConnectorError>>();
        let (ack_tx, ack_rx) = mpsc::unbounded_channel::<Unacked>();
        let feed: FeedSlot = Arc::new(Mutex::new(Some(Feed { out, acks: ack_tx })));
        // the flow stopped taking messages
        let flow_gone = Arc::new(Notify::new());
        // the event loop must keep running (pings, acks) while the flow is busy
        let poller = tokio::spawn(
            Poller {
                label: self.endpoint.label.clone(),
                filter: self.filter.clone(),
                qos: self.qos,
                payload: self.payload.clone(),
                subscriber: client.clone(),
                gate: gate.clone(),
                feed: feed.clone(),
                flow_gone: flow_gone.clone(),
                shutdown: self.shutdown.clone(),
            }
            .run(eventloop, connected_tx),
        );
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
        let acker = tokio::spawn(acknowledge(ack_rx, gate, client.clone()));
        tokio::select! {
            _ = stopped(&mut self.shutdown) => {}
            _ = flow_gone.notified() => {}
        }
        // closes the flow's input and the acker's queue once the event
        // loop's task is done with a message it may be handing over
        drop(take_feed(&feed));
        // the records handed out are still being delivered: ack them, then leave
        let _ = acker.await;
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), poller).await;
        Ok(())
    }
}

/// Acknowledges messages in arrival order, each once its record is safe.
async fn acknowledge(
    mut ack_rx: mpsc::UnboundedReceiver<Unacked>,
    gate: Arc<AckGate>,
    client: AsyncClient,
) {
    while let Some((safe, epoch, publish)) = ack_rx.recv().await {
        if safe.await.is_err() {
            tracing::warn!(
                "an mqtt message was not acknowledged by the flow; it and the ones after it are sent again when the session resumes"
            );
            while ack_rx.recv().await.is_some() {}
            return;
        }
        loop {
            match gate.try_ack(&client, epoch, &publish) {
                AckOutcome::Queued | AckOutcome::Stale => break,
                AckOutcome::Full => tokio::time::sleep(Duration::from_millis(1)).await,
                AckOutcome::Closed => {
                    tracing::warn!(
                        "the mqtt connection has ended: the messages not acknowledged are sent again when the session resumes"
                    );
                    return;
                }
            }
        }
    }
}

/// The event loop's task: polls the connection (reconnecting with backoff)
/// and hands each message to the flow.
struct Poller {
    label: String,
    filter: String,
    qos: QoS,
    payload: Payload,
    subscriber: AsyncClient,
    gate: Arc<AckGate>,
    feed: FeedSlot,
    flow_gone: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
}

impl Poller {
    async fn run(
        mut self,
        mut eventloop: EventLoop,
        connected_tx: oneshot::Sender<Result<(), ConnectorError>>,
    ) {
        self.poll(&mut eventloop, connected_tx).await;
        // however the loop ended, the acker must stop waiting on it
        self.gate.close();
    }

    async fn poll(
        &mut self,
        eventloop: &mut EventLoop,
        connected_tx: oneshot::Sender<Result<(), ConnectorError>>,
    ) {
        let mut connected_tx = Some(connected_tx);
        // only this task moves the epoch: no lock per message to read it
        let mut epoch = self.gate.current();
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
                    if self.qos == QoS::ExactlyOnce {
                        expect_every_release(eventloop);
                    }
                    // every (re)connection subscribes again
                    if let Err(e) = self.subscriber.try_subscribe(self.filter.clone(), self.qos) {
                        tracing::warn!(
                            "`{}`: cannot subscribe to `{}`: {e}",
                            self.label,
                            self.filter
                        );
                    }
                    if let Some(tx) = connected_tx.take() {
                        let _ = tx.send(Ok(()));
                    }
                }
                // once the flow stops taking messages the loop still has
                // acks and the DISCONNECT to send; an unacknowledged
                // message comes again next session
                Ok(Event::Incoming(Incoming::Publish(publish))) => self.hand(epoch, publish).await,
                // Leaving at once would close the socket with the
                // broker's unread messages in it: the kernel then
                // resets the connection, and the broker drops what it
                // had not read yet (the last acks, the DISCONNECT), so
                // those messages came again after a restart (seen in
                // the benchmark: thousands). The broker closes the
                // connection after DISCONNECT; read until it does.
                Ok(Event::Outgoing(Outgoing::Disconnect)) => leaving = true,
                // the release completed: the id stays answerable
                Ok(Event::Outgoing(Outgoing::PubComp(pkid))) => expect_release(eventloop, pkid),
                Ok(_) => {}
                Err(e) => {
                    let message = format!("`{}`: the broker connection failed: {e}", self.label);
                    if let Some(tx) = connected_tx.take() {
                        let _ = tx.send(Err(ConnectorError::Transient(message)));
                        return;
                    }
                    let dropped = self.gate.connection_ended(eventloop);
                    epoch = self.gate.current();
                    tracing::warn!(
                        "{message}; reconnecting in {delay:?} (unacknowledged messages are sent again)"
                    );
                    tracing::debug!(
                        "`{}`: {dropped} acks of the ended connection dropped",
                        self.label
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Decodes a message and hands it to the flow, with its ack to the
    /// acker; dropped (not acknowledged) once the source is stopping.
    async fn hand(&mut self, epoch: u64, publish: Publish) {
        // a clone for this message only: stopping empties the slot, and
        // the flow's input closes once no message is being handed over
        let Some(feed) = self.feed.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        let record = self.payload.decode(&publish.payload);
        let (ack, safe) = if self.qos == QoS::AtMostOnce {
            (Ack::none(), None)
        } else {
            let (ack, safe) = Ack::new();
            (ack, Some(safe))
        };
        let envelope = Envelope {
            record,
            ack,
            reply: None,
        };
        let sent = tokio::select! {
            sent = feed.out.send(envelope) => sent.is_ok(),
            _ = stopped(&mut self.shutdown) => false,
        };
        if !sent {
            if !*self.shutdown.borrow() {
                self.flow_gone.notify_one();
            }
            return;
        }
        if let Some(safe) = safe {
            let _ = feed.acks.send((safe, epoch, publish));
        }
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
}
