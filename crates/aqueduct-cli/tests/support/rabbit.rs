//! A RabbitMQ client as the tests use it beside a running flow: a lapin
//! channel in confirm mode on a runtime of its own, so blocking test code
//! can publish and read: the calls several test files need are here, the
//! others in each file's own `impl Rabbit` block.

use lapin::options::{ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};

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

    /// Messages ready in `queue` (not counting unacknowledged ones, which
    /// are ready again once their consumer closed).
    pub fn ready(&self, queue: &str) -> u32 {
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
                .message_count()
        })
    }
}
