//! Message broker connectors: `amqp` (RabbitMQ), `nats` (core and
//! JetStream), `redis` (streams, pub/sub, keys), `mqtt` and `kafka`, each
//! behind the cargo feature of the same name.
//!
//! [`register`] adds every compiled-in kind to a registry. Sources that can
//! be at-least-once acknowledge a message to the broker only after the
//! executor acked its record ([`ordered`]); targets return only once the
//! broker confirmed the message. Payload formats are in [`payload`].
#![warn(missing_docs)]

#[cfg(feature = "amqp")]
pub mod amqp;
pub mod backoff;
#[cfg(feature = "mqtt")]
mod fused;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "nats")]
pub mod nats;
pub mod ordered;
pub mod payload;
#[cfg(feature = "redis")]
pub mod redis;

use aqueduct_runtime::connector::Registry;
#[allow(unused_imports)] // used only when a broker feature is on
use std::sync::Arc;

/// Adds the broker kinds compiled into this build to `registry`.
pub fn register(registry: &mut Registry) {
    #[cfg(feature = "amqp")]
    registry.register(Arc::new(amqp::AmqpConnector));
    #[cfg(feature = "nats")]
    registry.register(Arc::new(nats::NatsConnector));
    #[cfg(feature = "redis")]
    registry.register(Arc::new(redis::RedisConnector));
    #[cfg(feature = "mqtt")]
    registry.register(Arc::new(mqtt::MqttConnector));
    #[cfg(feature = "kafka")]
    registry.register(Arc::new(kafka::KafkaConnector));
    let _ = registry;
}

/// Installs the ring TLS provider once (brokers reached over TLS need it).
pub(crate) fn install_crypto() {
    aqueduct_connectors::install_crypto();
}
