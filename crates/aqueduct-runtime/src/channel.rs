//! In-process channels between flows (`channel NAME: Type` without `via`).
//!
//! A channel is a bounded broadcast: each consumer flow gets its own
//! bounded queue, and a write waits until every consumer queue has room
//! (backpressure reaches the producers). The channel closes when every
//! producer flow has ended: producers hold the only senders, so when the
//! last producer drops its [`ChannelTarget`] the consumers see the end of
//! their input and end in turn.
//!
//! A record a flow sends to a channel ([`ChannelTarget::send`]) carries an
//! acknowledgement to each consumer flow, and the producer's record is safe
//! only once every consumer made its copy safe ([`crate::connector::Ack::after`]):
//! a queue in memory is not a place where a record may wait while its
//! source commits past it (a crash, or a consumer that fails, would lose it).

use crate::connector::{Ack, ConnectorError, Envelope, Target};
use crate::value::Value;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

/// The writing end of a channel, shared by its producer flows.
pub struct ChannelTarget {
    name: String,
    consumers: Vec<mpsc::Sender<Envelope>>,
}

impl ChannelTarget {
    /// A channel feeding `consumers`.
    pub fn new(name: &str, consumers: Vec<mpsc::Sender<Envelope>>) -> ChannelTarget {
        ChannelTarget {
            name: name.to_string(),
            consumers,
        }
    }
}

impl ChannelTarget {
    /// Queues `record` for every consumer flow; the acknowledgements of
    /// the copies, done once each consumer made its copy safe. `Err` when
    /// a consumer flow has ended (it failed: the run reports it), so the
    /// record is not taken as handed on.
    pub fn send<'a>(
        &'a self,
        record: &'a Value,
    ) -> BoxFuture<'a, Result<Vec<oneshot::Receiver<()>>, ConnectorError>> {
        Box::pin(async move {
            let mut acks = Vec::with_capacity(self.consumers.len());
            for consumer in &self.consumers {
                let (ack, ack_rx) = Ack::new();
                let env = Envelope::new(Ok(record.clone()), ack);
                if consumer.send(env).await.is_err() {
                    return Err(self.ended());
                }
                acks.push(ack_rx);
            }
            Ok(acks)
        })
    }

    fn ended(&self) -> ConnectorError {
        ConnectorError::Permanent(format!(
            "a flow reading channel `{}` has stopped",
            self.name
        ))
    }
}

impl Target for ChannelTarget {
    /// Queues the records without following them (a `tap`: best effort);
    /// `to` uses [`ChannelTarget::send`].
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            for record in records {
                for consumer in &self.consumers {
                    let env = Envelope::new(Ok(record.clone()), Ack::none());
                    if consumer.send(env).await.is_err() {
                        return Err(self.ended());
                    }
                }
            }
            Ok(())
        })
    }
}
