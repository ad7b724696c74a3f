//! `kafka.publish(topic, key:, format:)`: confirmed, idempotent producing.
//!
//! The producer runs with `acks=all` and `enable.idempotence=true`: the
//! partition leader answers only once every in-sync replica has the
//! message, and librdkafka's own retries never write a message twice or out
//! of order. A write enqueues its whole group, then waits for every
//! delivery report; a message that could not be delivered within
//! `message.timeout.ms` (30 s), or that the broker refused, fails the write.
//! The key (rendered from the record) picks the partition, so records with
//! one key stay in order.

use super::{Endpoint, Logging};
use crate::payload::Payload;
use aqueduct_connectors::support::args::{label, req_str};
use aqueduct_connectors::support::template::Template;
use aqueduct_runtime::connector::{ConnectorError, OpContext, Target};
use aqueduct_runtime::value::Value;
use futures::future::{BoxFuture, join_all};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::time::Duration;

/// How long librdkafka keeps trying to deliver a message.
const MESSAGE_TIMEOUT_MS: &str = "30000";
/// Longest wait for room in the local queue when it is full.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for outstanding messages when the flow finishes.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// A record ready to send: its key and its payload.
type Encoded = (Option<String>, Vec<u8>);

pub(crate) struct Publish {
    endpoint: Endpoint,
    topic: String,
    key: Option<Template>,
    payload: Payload,
    producer: FutureProducer<Logging>,
}

impl Publish {
    pub(crate) fn build(cx: &OpContext) -> Result<Publish, ConnectorError> {
        let key = match cx.op.arg("key") {
            None => None,
            Some(expr) => Some(
                Template::new(expr, &cx.schemas)
                    .map_err(|e| ConnectorError::Config(format!("`{}`: key: {e}", label(cx))))?,
            ),
        };
        let endpoint = Endpoint::of(cx)?;
        let producer = endpoint
            .config(&format!("aqueduct-{}-{}", cx.flow, std::process::id()))
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", MESSAGE_TIMEOUT_MS)
            .set("linger.ms", "5")
            .create_with_context(Logging {
                label: endpoint.label.clone(),
            })
            .map_err(|e| endpoint.error("cannot create the producer", &e))?;
        Ok(Publish {
            topic: req_str(cx, "topic")?,
            key,
            payload: Payload::from_args(cx)?,
            producer,
            endpoint,
        })
    }

    /// The key and payload of each record, or the first record that has none.
    fn encode(&self, records: &[Value]) -> Result<Vec<Encoded>, ConnectorError> {
        records
            .iter()
            .map(|record| {
                let key = match &self.key {
                    Some(t) => Some(t.render(record, str::to_string).map_err(|e| {
                        ConnectorError::Permanent(format!("`{}`: key: {e}", self.endpoint.label))
                    })?),
                    None => None,
                };
                Ok((key, self.payload.encode(record)?))
            })
            .collect()
    }
}

impl Target for Publish {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let messages = self.encode(records)?;
            // enqueue the whole group, then wait for every delivery report
            let deliveries = messages.iter().map(|(key, body)| {
                let mut message =
                    FutureRecord::<str, [u8]>::to(&self.topic).payload(body.as_slice());
                if let Some(key) = key {
                    message = message.key(key.as_str());
                }
                self.producer.send(message, QUEUE_TIMEOUT)
            });
            for delivery in join_all(deliveries).await {
                if let Err((e, _)) = delivery {
                    let what = format!("delivery to topic `{}` failed", self.topic);
                    return Err(self.endpoint.error(&what, &e));
                }
            }
            Ok(())
        })
    }

    fn finish(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            // every write waited for its reports; this only settles librdkafka
            let producer = self.producer.clone();
            let flushing = tokio::task::spawn_blocking(move || producer.flush(FLUSH_TIMEOUT));
            match flushing.await {
                Ok(Ok(())) | Err(_) => Ok(()),
                Ok(Err(e)) => Err(self.endpoint.error("flushing the producer failed", &e)),
            }
        })
    }
}
