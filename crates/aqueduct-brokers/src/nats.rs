//! `nats`: NATS core subjects, JetStream durable consumers and
//! request-reply (option `url`).
//!
//! `subscribe(subject, durable:, ack_wait:, group:, format:)` with `durable`
//! reads through a JetStream pull consumer with explicit acks: a message is
//! acked only after the executor acked its record, and one left unacked is
//! redelivered after `ack_wait` (default 30s). Without `durable` it is a
//! core NATS subscription (a queue subscription with `group`): at most once,
//! nothing is replayed, and `aqueduct check` says so. `publish(subject)`
//! publishes through JetStream and returns when the stream stored the
//! message; a subject no stream captures is an error. `request(subject,
//! timeout:)` is an `enrich` call answered by whichever service replies.

mod publish;
mod request;
mod subscribe;

use aqueduct_connectors::support::args::{Options, label};
use aqueduct_runtime::connector::{
    Call, ConnectorError, ConnectorFactory, OpContext, Source, Target,
};
use std::sync::Arc;

/// The `nats` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct NatsConnector;

impl ConnectorFactory for NatsConnector {
    fn kind(&self) -> &'static str {
        "nats"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        match cx.op.operation.as_str() {
            "subscribe" => Ok(Box::new(subscribe::Subscribe::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`nats.{other}` cannot be used as a source"
            ))),
        }
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        match cx.op.operation.as_str() {
            "publish" => Ok(Arc::new(publish::Publish::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`nats.{other}` cannot be used as a target"
            ))),
        }
    }

    fn call(&self, cx: &OpContext) -> Result<Arc<dyn Call>, ConnectorError> {
        match cx.op.operation.as_str() {
            "request" => Ok(Arc::new(request::Request::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`nats.{other}` cannot be used in `enrich`"
            ))),
        }
    }
}

/// Where to connect; the URL (which may hold credentials) never appears in
/// messages.
#[derive(Clone)]
pub(crate) struct Endpoint {
    url: String,
    /// `system.operation`, naming the system in messages.
    pub(crate) label: String,
}

impl Endpoint {
    pub(crate) fn of(cx: &OpContext) -> Result<Endpoint, ConnectorError> {
        Ok(Endpoint {
            url: Options::of(cx).required("url")?,
            label: label(cx),
        })
    }

    /// A client; it reconnects by itself after a lost connection.
    pub(crate) async fn connect(&self) -> Result<async_nats::Client, ConnectorError> {
        crate::install_crypto();
        async_nats::ConnectOptions::new()
            // replies are timed by the operations themselves
            .request_timeout(None)
            .connect(self.url.as_str())
            .await
            .map_err(|e| {
                ConnectorError::Transient(format!(
                    "`{}`: cannot connect to the server: {}",
                    self.label,
                    e.kind()
                ))
            })
    }

    /// An error naming the system.
    pub(crate) fn transient(&self, what: &str, err: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Transient(format!("`{}`: {what}: {err}", self.label))
    }

    /// A permanent error naming the system.
    pub(crate) fn permanent(&self, what: &str, err: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Permanent(format!("`{}`: {what}: {err}", self.label))
    }
}

/// A client connected once and shared by every call of a target or call.
pub(crate) struct Lazy {
    endpoint: Endpoint,
    client: tokio::sync::OnceCell<async_nats::Client>,
}

impl Lazy {
    pub(crate) fn new(endpoint: Endpoint) -> Lazy {
        Lazy {
            endpoint,
            client: tokio::sync::OnceCell::new(),
        }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub(crate) async fn client(&self) -> Result<&async_nats::Client, ConnectorError> {
        self.client
            .get_or_try_init(|| self.endpoint.connect())
            .await
    }
}
