//! Acknowledgements that go out only on the connection their message came on.
//!
//! When a connection fails, the broker sends every message of the session
//! not yet acknowledged (QoS 1) or received (QoS 2) again on the next
//! connection, under its original packet id (MQTT 3.1.1, 4.4). A message
//! the flow was still working on then reaches it twice, and each copy
//! would be acknowledged: the first ack completes the message, and the
//! second goes to whatever message the broker has given that id since,
//! which is then acknowledged before the flow made it safe (lost if
//! aqueduct crashes before it lands). So every received message carries
//! the epoch of its connection, and the ack of a message of an ended
//! connection is dropped: its copy on the new connection is acknowledged
//! instead (the record lands twice: at least once).
//!
//! rumqttc queues acks in its request channel; on a failed connection it
//! drops the queued PUBACKs but keeps the PUBRECs for the next connection.
//! [`AckGate::connection_ended`] ends the epoch and empties the channel of
//! acks under the same lock that [`AckGate::try_ack`] holds from its check
//! to its send, so no ack of the ended connection stays queued, and drops
//! the messages of that connection still in the event loop's queue.

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, Publish, QoS, Request};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// What became of an ack handed to [`AckGate::try_ack`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    /// Queued for the event loop.
    Queued,
    /// Its connection ended; the broker sends the message again.
    Stale,
    /// The request channel is full: try again shortly.
    Full,
    /// The event loop is gone; nothing more can be acknowledged.
    Closed,
}

/// The connection epoch, shared by the event loop's task and the acker.
#[derive(Debug, Default)]
pub(crate) struct AckGate {
    epoch: Mutex<u64>,
    closed: AtomicBool,
}

impl AckGate {
    /// The epoch of the current connection, for a message just received.
    pub(crate) fn current(&self) -> u64 {
        *self.lock()
    }

    /// Queues the ack of `publish`, received on connection `epoch`, unless
    /// that connection has ended.
    pub(crate) fn try_ack(
        &self,
        client: &AsyncClient,
        epoch: u64,
        publish: &Publish,
    ) -> AckOutcome {
        if self.closed.load(Ordering::Acquire) {
            return AckOutcome::Closed;
        }
        let current = self.lock();
        if *current != epoch {
            return AckOutcome::Stale;
        }
        match client.try_ack(publish) {
            Ok(()) => AckOutcome::Queued,
            Err(_) => AckOutcome::Full,
        }
    }

    /// Ends the current epoch after the event loop reported a failed
    /// connection (it has already dropped the connection itself), and
    /// takes every ack still queued for it back out of the event loop.
    /// Returns how many were dropped.
    pub(crate) fn connection_ended(&self, eventloop: &mut EventLoop) -> usize {
        let mut current = self.lock();
        *current += 1;
        // Moves what is in the request channel to `pending` (dropping
        // PUBACKs); the connection is already gone, so a second call
        // changes nothing else.
        eventloop.clean();
        let before = eventloop.pending.len();
        eventloop
            .pending
            .retain(|r| !matches!(r, Request::PubAck(_) | Request::PubRec(_)));
        // Messages read in the last batch before the failure are still in
        // the event queue, which outlives the connection: handed out after
        // the reconnection they would pass for messages of the new one.
        // The broker sends them again; at QoS 0 nothing is acknowledged.
        eventloop.state.events.retain(
            |e| !matches!(e, Event::Incoming(Incoming::Publish(p)) if p.qos != QoS::AtMostOnce),
        );
        before - eventloop.pending.len()
    }

    /// The event loop has stopped: acks can no longer be queued.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // a poisoned lock still holds a valid epoch
        self.epoch.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::MqttOptions;

    fn received(qos: QoS, pkid: u16) -> Publish {
        let mut p = Publish::new("t", qos, b"x".to_vec());
        p.pkid = pkid;
        p
    }

    fn client() -> (AsyncClient, EventLoop) {
        AsyncClient::new(MqttOptions::new("gate-test", "127.0.0.1", 1), 8)
    }

    #[test]
    fn an_ack_of_the_current_connection_is_queued() {
        let (client, _eventloop) = client();
        let gate = AckGate::default();
        let epoch = gate.current();
        assert_eq!(
            gate.try_ack(&client, epoch, &received(QoS::AtLeastOnce, 7)),
            AckOutcome::Queued
        );
    }

    #[test]
    fn acks_queued_for_an_ended_connection_never_reach_the_next_one() {
        let (client, mut eventloop) = client();
        let gate = AckGate::default();
        let epoch = gate.current();
        for pkid in 1..=3 {
            let qos = if pkid == 1 {
                QoS::AtLeastOnce
            } else {
                QoS::ExactlyOnce
            };
            assert_eq!(
                gate.try_ack(&client, epoch, &received(qos, pkid)),
                AckOutcome::Queued
            );
        }
        client
            .try_subscribe("t/#", QoS::AtLeastOnce)
            .expect("room in the channel");
        // rumqttc itself drops the queued PUBACK; the two PUBRECs are ours
        assert_eq!(gate.connection_ended(&mut eventloop), 2);
        let left: Vec<_> = eventloop.pending.iter().collect();
        assert!(
            matches!(left.as_slice(), [Request::Subscribe(_)]),
            "only the subscription is left for the next connection: {left:?}"
        );
        assert_eq!(
            gate.try_ack(&client, epoch, &received(QoS::AtLeastOnce, 4)),
            AckOutcome::Stale
        );
        assert_eq!(
            gate.try_ack(&client, gate.current(), &received(QoS::AtLeastOnce, 4)),
            AckOutcome::Queued
        );
    }

    #[test]
    fn messages_of_an_ended_connection_are_not_handed_out_after_it() {
        let (_client, mut eventloop) = client();
        let gate = AckGate::default();
        for (qos, pkid) in [
            (QoS::AtLeastOnce, 1),
            (QoS::AtMostOnce, 0),
            (QoS::ExactlyOnce, 2),
        ] {
            eventloop
                .state
                .events
                .push_back(Event::Incoming(Incoming::Publish(received(qos, pkid))));
        }
        gate.connection_ended(&mut eventloop);
        let left: Vec<_> = eventloop.state.events.iter().collect();
        assert!(
            matches!(left.as_slice(), [Event::Incoming(Incoming::Publish(p))] if p.qos == QoS::AtMostOnce),
            "only the QoS 0 message stays: {left:?}"
        );
    }

    #[test]
    fn nothing_is_queued_once_the_event_loop_has_stopped() {
        let (client, _eventloop) = client();
        let gate = AckGate::default();
        gate.close();
        assert_eq!(
            gate.try_ack(&client, 0, &received(QoS::AtLeastOnce, 1)),
            AckOutcome::Closed
        );
    }
}
