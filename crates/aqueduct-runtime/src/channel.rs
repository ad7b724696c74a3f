//! In-process channels between flows (`channel NAME: Type` without `via`).
//!
//! A channel is a bounded broadcast: each consumer flow gets its own
//! bounded queue, and a write waits until every consumer queue has room
//! (backpressure reaches the producers). The channel closes when every
//! producer flow has ended: producers hold the only senders, so when the
//! last producer drops its [`ChannelTarget`] the consumers see the end of
//! their input and end in turn.

use crate::connector::{Ack, ConnectorError, Envelope, Target};
use crate::value::Value;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

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

impl Target for ChannelTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            for record in records {
                for consumer in &self.consumers {
                    let env = Envelope {
                        record: Ok(record.clone()),
                        ack: Ack::none(),
                        reply: None,
                    };
                    if consumer.send(env).await.is_err() {
                        // the consumer flow has ended (it failed, and the run reports it)
                        tracing::debug!(channel = %self.name, "A consumer of the channel has ended; record not queued for it.");
                    }
                }
            }
            Ok(())
        })
    }
}
