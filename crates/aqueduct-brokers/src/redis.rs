//! `redis`: streams in consumer groups, pub/sub channels and JSON keys
//! (option `url`).
//!
//! `stream(key, group, consumer:, claim_after:)` is at-least-once: entries
//! are read with XREADGROUP and XACKed only after the executor acked their
//! record; on start the consumer first re-reads its own pending entries
//! (delivered before a crash, never acked), and entries another consumer
//! left pending for longer than `claim_after` (default 60s) are taken over
//! with XAUTOCLAIM. `subscribe(channel)` is at most once (pub/sub keeps
//! nothing). `xadd(key, maxlen:)` appends one entry per record and returns
//! once Redis answered with the new entry id; `publish(channel)` publishes;
//! `set(key_expr, ttl:)` stores the record as JSON; `get(key_expr)` reads it
//! back in `enrich` (null when missing).

mod entry;
mod keys;
mod pubsub;
mod stream;
mod xadd;

use aqueduct_connectors::support::args::{Options, label};
use aqueduct_runtime::connector::{
    Call, ConnectorError, ConnectorFactory, OpContext, Source, Target,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;

/// The `redis` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedisConnector;

impl ConnectorFactory for RedisConnector {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        match cx.op.operation.as_str() {
            "stream" => Ok(Box::new(stream::StreamSource::build(cx)?)),
            "subscribe" => Ok(Box::new(pubsub::Subscribe::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`redis.{other}` cannot be used as a source"
            ))),
        }
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        match cx.op.operation.as_str() {
            "xadd" => Ok(Arc::new(xadd::Xadd::build(cx)?)),
            "publish" => Ok(Arc::new(pubsub::Publish::build(cx)?)),
            "set" => Ok(Arc::new(keys::Set::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`redis.{other}` cannot be used as a target"
            ))),
        }
    }

    fn call(&self, cx: &OpContext) -> Result<Arc<dyn Call>, ConnectorError> {
        match cx.op.operation.as_str() {
            "get" => Ok(Arc::new(keys::Get::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`redis.{other}` cannot be used in `enrich`"
            ))),
        }
    }
}

/// Where to connect; the URL (which may hold a password) never appears in
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

    pub(crate) fn client(&self) -> Result<redis::Client, ConnectorError> {
        crate::install_crypto();
        redis::Client::open(self.url.as_str()).map_err(|e| {
            ConnectorError::Config(format!(
                "`{}`: the url is not a Redis URL ({:?})",
                self.label,
                e.kind()
            ))
        })
    }

    /// A connection that reconnects by itself; commands may take up to
    /// `longest` (a blocking read) before they time out.
    pub(crate) async fn manager(
        &self,
        longest: Duration,
    ) -> Result<ConnectionManager, ConnectorError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(longest + Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(2);
        ConnectionManager::new_with_config(self.client()?, config)
            .await
            .map_err(|e| self.error("cannot connect to the server", &e))
    }

    /// A Redis error naming the system: connection trouble may pass,
    /// command errors (wrong type, no such group) will not.
    pub(crate) fn error(&self, what: &str, err: &redis::RedisError) -> ConnectorError {
        let message = format!("`{}`: {what}: {err}", self.label);
        if err.is_io_error()
            || err.is_timeout()
            || err.is_connection_dropped()
            || err.is_connection_refusal()
            || err
                .code()
                .is_some_and(|c| c == "LOADING" || c == "BUSY" || c == "TRYAGAIN")
        {
            ConnectorError::Transient(message)
        } else {
            ConnectorError::Permanent(message)
        }
    }
}

/// A connection made on first use and shared by every write or call.
pub(crate) struct Lazy {
    endpoint: Endpoint,
    conn: tokio::sync::OnceCell<ConnectionManager>,
}

impl Lazy {
    pub(crate) fn new(endpoint: Endpoint) -> Lazy {
        Lazy {
            endpoint,
            conn: tokio::sync::OnceCell::new(),
        }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A handle on the shared connection (cheap to clone).
    pub(crate) async fn conn(&self) -> Result<ConnectionManager, ConnectorError> {
        self.conn
            .get_or_try_init(|| self.endpoint.manager(Duration::from_secs(10)))
            .await
            .cloned()
    }
}
