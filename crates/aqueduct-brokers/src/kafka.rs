//! `kafka`: Apache Kafka and Kafka-protocol brokers through librdkafka
//! (option `url`: `kafka://host1:9092,host2:9092`, or the bare list).
//!
//! `consume(topic, group, key_field:, headers_field:, format:)` reads in a
//! consumer group with auto-commit off: an offset is committed only once
//! the executor acked its record and every record before it in the same
//! partition ([`offsets`]), so it is at least once across crashes and
//! rebalances. `publish(topic, key:, format:)` produces with `acks=all` and
//! the idempotent producer, and returns only once the broker acknowledged
//! every message; a failed delivery is an error. Plaintext only: TLS and
//! SASL need librdkafka's OpenSSL build, which this project does not use.

mod consume;
mod fields;
mod offsets;
mod publish;

use aqueduct_connectors::support::args::{Options, label};
use aqueduct_runtime::connector::{ConnectorError, ConnectorFactory, OpContext, Source, Target};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::sync::Arc;

/// The `kafka` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct KafkaConnector;

impl ConnectorFactory for KafkaConnector {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        match cx.op.operation.as_str() {
            "consume" => Ok(Box::new(consume::Consume::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`kafka.{other}` cannot be used as a source"
            ))),
        }
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        match cx.op.operation.as_str() {
            "publish" => Ok(Arc::new(publish::Publish::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`kafka.{other}` cannot be used as a target"
            ))),
        }
    }
}

/// The bootstrap brokers and the label naming the operation in messages.
#[derive(Clone)]
pub(crate) struct Endpoint {
    bootstrap: String,
    /// `system.operation`, naming the system in messages.
    pub(crate) label: String,
}

impl Endpoint {
    pub(crate) fn of(cx: &OpContext) -> Result<Endpoint, ConnectorError> {
        let label = label(cx);
        let url = Options::of(cx).required("url")?;
        let bootstrap = bootstrap_servers(&url)
            .map_err(|why| ConnectorError::Config(format!("`{label}`: url: {why}")))?;
        Ok(Endpoint { bootstrap, label })
    }

    /// The settings every client of this endpoint shares.
    pub(crate) fn config(&self, client_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("client.id", client_id)
            // librdkafka's own log goes through the context, at warn and above
            .set("log_level", "4");
        config
    }

    /// A client error as a connector error naming the system: refusals that
    /// will not change on a retry (unknown topic, authorisation, size) are
    /// permanent, the rest (connections, timeouts, leaders moving) transient.
    pub(crate) fn error(&self, what: &str, err: &KafkaError) -> ConnectorError {
        let message = format!("`{}`: {what}: {err}", self.label);
        if is_permanent(err) {
            ConnectorError::Permanent(message)
        } else {
            ConnectorError::Transient(message)
        }
    }
}

fn is_permanent(err: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        err.rdkafka_error_code(),
        Some(
            C::UnknownTopicOrPartition
                | C::UnknownTopic
                | C::TopicAuthorizationFailed
                | C::GroupAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::MessageSizeTooLarge
                | C::InvalidMessageSize
                | C::InvalidTopic
                | C::MessageBatchTooLarge
                | C::InvalidConfig
                | C::Fatal
        )
    ) || matches!(
        err,
        KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_)
    )
}

/// `kafka://h1:9092,h2:9092`, `h1:9092,h2:9092` → `h1:9092,h2:9092`.
fn bootstrap_servers(url: &str) -> Result<String, String> {
    let list = match url.split_once("://") {
        None => url,
        Some(("kafka", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "scheme `{scheme}://` is not supported (use kafka://host:port,…; TLS and SASL are not supported yet)"
            ));
        }
    };
    let hosts: Vec<&str> = list
        .trim_end_matches('/')
        .split(',')
        .map(str::trim)
        .collect();
    if hosts
        .iter()
        .any(|h| h.is_empty() || h.contains(['/', '@', '?']))
    {
        return Err("expected kafka://host:port[,host:port…]".to_string());
    }
    Ok(hosts.join(","))
}

/// Routes librdkafka's log and error events into `tracing`, naming the
/// operation; librdkafka reconnects on its own, so these are warnings.
pub(crate) struct Logging {
    pub(crate) label: String,
}

impl rdkafka::ClientContext for Logging {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error | L::Warning => {
                tracing::warn!(facility = fac, "{}: {message}", self.label)
            }
            _ => tracing::debug!(facility = fac, "{}: {message}", self.label),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!("{}: {error}: {reason}", self.label);
    }
}

#[cfg(test)]
mod tests {
    use super::bootstrap_servers;

    #[test]
    fn bootstrap_lists_come_from_kafka_urls_or_bare_lists() {
        assert_eq!(
            bootstrap_servers("kafka://a:9092,b:9093/").as_deref(),
            Ok("a:9092,b:9093")
        );
        assert_eq!(bootstrap_servers("a:9092").as_deref(), Ok("a:9092"));
        assert!(
            bootstrap_servers("kafka+ssl://a:9092")
                .expect_err("TLS is refused")
                .contains("TLS and SASL are not supported yet")
        );
        assert!(bootstrap_servers("kafka://user:pw@a:9092").is_err());
        assert!(bootstrap_servers("kafka://").is_err());
    }
}
