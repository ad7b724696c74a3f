//! `amqp`: RabbitMQ and other AMQP 0-9-1 brokers (option `url`).
//!
//! `consume(queue, prefetch:, format:)` is at-least-once: messages are
//! consumed with manual acknowledgement and acked only after the executor
//! acked the record; `prefetch` (default 100) is the broker-side bound on
//! unacknowledged messages, so a slow flow never makes aqueduct buffer the
//! backlog. `publish(exchange, routing_key, format:)` sends persistent
//! messages with the `mandatory` flag on a channel in confirm mode and
//! returns only when the broker confirmed the message; a message the
//! broker cannot route to any queue is an error, not a silent drop.

mod consume;
mod publish;

use aqueduct_connectors::support::args::{Options, label};
use aqueduct_runtime::connector::{ConnectorError, ConnectorFactory, OpContext, Source, Target};
use lapin::{Connection, ConnectionProperties};
use std::sync::Arc;

/// The `amqp` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct AmqpConnector;

impl ConnectorFactory for AmqpConnector {
    fn kind(&self) -> &'static str {
        "amqp"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        match cx.op.operation.as_str() {
            "consume" => Ok(Box::new(consume::Consume::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`amqp.{other}` cannot be used as a source"
            ))),
        }
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        match cx.op.operation.as_str() {
            "publish" => Ok(Arc::new(publish::Publish::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`amqp.{other}` cannot be used as a target"
            ))),
        }
    }
}

/// Where and how to connect; the URL (which may hold a password) never
/// appears in messages.
#[derive(Clone)]
pub(crate) struct Endpoint {
    url: String,
    /// `system.operation`, naming the system in messages.
    pub(crate) label: String,
}

impl Endpoint {
    pub(crate) fn of(cx: &OpContext) -> Result<Endpoint, ConnectorError> {
        let url = Options::of(cx).required("url")?;
        Ok(Endpoint {
            url,
            label: label(cx),
        })
    }

    pub(crate) async fn connect(&self) -> Result<Connection, ConnectorError> {
        crate::install_crypto();
        Connection::connect(&self.url, ConnectionProperties::default())
            .await
            .map_err(|e| self.error("cannot connect to the broker", &e))
    }

    /// A broker error as a connector error naming the system: channel-level
    /// refusals (no such queue or exchange, access refused, precondition
    /// failed) and login failures are permanent; I/O errors and closed
    /// connections (a broker restart) may pass.
    pub(crate) fn error(&self, what: &str, err: &lapin::Error) -> ConnectorError {
        let message = format!("`{}`: {what}: {err}", self.label);
        if err.is_amqp_soft_error() || matches!(err.kind(), lapin::ErrorKind::AuthProviderError(_))
        {
            ConnectorError::Permanent(message)
        } else {
            ConnectorError::Transient(message)
        }
    }
}
