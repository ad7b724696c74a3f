//! A RabbitMQ client as the tests use it beside a running flow: a lapin
//! channel in confirm mode on a runtime of its own, so blocking test code
//! can publish and read: the calls several test files need are here, the
//! others in each file's own `impl Rabbit` block. The codegen tests include
//! this file too (copies of a generated service on one queue).

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

/// A lapin channel in confirm mode and the runtime it runs on.
pub struct Rabbit {
    /// The runtime the channel's futures are blocked on.
    pub rt: tokio::runtime::Runtime,
    _connection: Connection,
    /// The channel (confirm mode).
    pub channel: Channel,
}

impl Rabbit {
    /// Connects to `url` and opens a channel in confirm mode.
    pub fn connect(url: &str) -> Rabbit {
        let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let (connection, channel) = rt.block_on(async {
            let connection = Connection::connect(url, ConnectionProperties::default())
                .await
                .expect("connects to RabbitMQ");
            let channel = connection.create_channel().await.expect("a channel");
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .expect("confirm mode");
            (connection, channel)
        });
        Rabbit {
            rt,
            _connection: connection,
            channel,
        }
    }

    /// Declares the durable queue `queue` (nothing when it exists).
    pub fn declare(&self, queue: &str) {
        self.rt.block_on(async {
            self.channel
                .queue_declare(
                    queue.into(),
                    QueueDeclareOptions {
                        durable: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("declares the queue");
        });
    }

    /// Publishes each payload to `queue` through the default exchange,
    /// persistent, and waits for the broker's confirms (500 at a time).
    pub fn publish(&self, queue: &str, payloads: impl IntoIterator<Item = String>) {
        self.rt.block_on(async {
            let mut confirms = Vec::new();
            for payload in payloads {
                confirms.push(
                    self.channel
                        .basic_publish(
                            "".into(),
                            queue.into(),
                            BasicPublishOptions::default(),
                            payload.as_bytes(),
                            BasicProperties::default().with_delivery_mode(2),
                        )
                        .await
                        .expect("publishes"),
                );
                if confirms.len() >= 500 {
                    for c in confirms.drain(..) {
                        c.await.expect("confirmed");
                    }
                }
            }
            for c in confirms {
                c.await.expect("confirmed");
            }
        });
    }

    /// Messages ready in `queue` (not counting unacknowledged ones, which
    /// are ready again once their consumer closed).
    pub fn ready(&self, queue: &str) -> u32 {
        self.passive(queue).message_count()
    }

    /// Consumers of `queue`: 0 once every consumer's channel closed, and
    /// with it every message they held unacknowledged was made ready again.
    pub fn consumers(&self, queue: &str) -> u32 {
        self.passive(queue).consumer_count()
    }

    /// The broker's current counts of `queue` (a passive declare).
    fn passive(&self, queue: &str) -> lapin::Queue {
        self.rt.block_on(async {
            self.channel
                .queue_declare(
                    queue.into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("the queue exists")
        })
    }
}
