//! `kafka.publish(topic, key:, headers_field:, format:)`: confirmed,
//! idempotent producing.
//!
//! The producer runs with `acks=all` and `enable.idempotence=true`: the
//! partition leader answers only once every in-sync replica has the
//! message, and librdkafka's own retries never write a message twice or out
//! of order. A write enqueues its whole group, then waits for every
//! delivery report; a message that could not be delivered within
//! `message.timeout.ms` (30 s), or that the broker refused, fails the write.
//! The key (rendered from the record) picks the partition, so records with
//! one key stay in order. `headers_field:` names a json field whose object
//! of strings becomes the message's headers, and which is left out of a
//! `json` payload: it is the counterpart of `consume`'s `headers_field`,
//! which fills a field the payload does not carry, so a flow forwarding
//! what it consumed publishes the payload and the headers it read. (The
//! fields a `key` template reads stay: they are the record's data.)
//!
//! A record whose key or headers cannot be made is that record's error
//! (permanent: the dead letter takes it). In a `batch` group the others
//! are still sent ([`Target::write_partial`]).

use super::fields::{declared_field, json_without, outgoing_headers};
use super::{Endpoint, Logging};
use crate::payload::{Format, Payload};
use aqueduct_connectors::support::args::{label, req_str};
use aqueduct_connectors::support::template::Template;
use aqueduct_runtime::connector::{ConnectorError, OpContext, Rejected, Target};
use aqueduct_runtime::value::Value;
use futures::future::{BoxFuture, join_all};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::time::Duration;

/// How long librdkafka keeps trying to deliver a message.
const MESSAGE_TIMEOUT_MS: &str = "30000";
/// Longest wait for room in the local queue when it is full.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for outstanding messages when the flow finishes.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// A record ready to send.
struct Encoded {
    key: Option<String>,
    headers: Option<OwnedHeaders>,
    body: Vec<u8>,
}

pub(crate) struct Publish {
    endpoint: Endpoint,
    topic: String,
    key: Option<Template>,
    /// The json field holding the headers (`headers_field:`).
    headers: Option<String>,
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
            headers: declared_field(cx, "headers_field")?,
            payload: Payload::from_args(cx)?,
            producer,
            endpoint,
        })
    }

    /// The message a record is sent as, or why it cannot be sent
    /// (permanent: the record would fail the same way again).
    fn encode(&self, record: &Value) -> Result<Encoded, ConnectorError> {
        let refused =
            |what: String| ConnectorError::Permanent(format!("`{}`: {what}", self.endpoint.label));
        let key = match &self.key {
            Some(t) => Some(
                t.render(record, str::to_string)
                    .map_err(|e| refused(format!("key: {e}")))?,
            ),
            None => None,
        };
        let headers = match &self.headers {
            Some(field) => outgoing_headers(record, field)
                .map_err(|e| refused(format!("headers_field: {e}")))?,
            None => None,
        };
        let body = match (&self.headers, self.payload.format) {
            (Some(field), Format::Json) => json_without(record, field),
            _ => self.payload.encode(record)?,
        };
        Ok(Encoded { key, headers, body })
    }

    /// Enqueues every message, then waits for every delivery report; the
    /// first failed delivery fails them all (the flow's retry sends the
    /// group again: at least once).
    async fn send(&self, messages: Vec<Encoded>) -> Result<(), ConnectorError> {
        let deliveries = messages.into_iter().map(|m| async move {
            let mut message = FutureRecord::<str, [u8]>::to(&self.topic).payload(m.body.as_slice());
            if let Some(key) = &m.key {
                message = message.key(key.as_str());
            }
            if let Some(headers) = m.headers {
                message = message.headers(headers);
            }
            self.producer.send(message, QUEUE_TIMEOUT).await
        });
        for delivery in join_all(deliveries).await {
            if let Err((e, _)) = delivery {
                let what = format!("delivery to topic `{}` failed", self.topic);
                return Err(self.endpoint.error(&what, &e));
            }
        }
        Ok(())
    }
}

impl Target for Publish {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let messages = records
                .iter()
                .map(|r| self.encode(r))
                .collect::<Result<Vec<_>, _>>()?;
            self.send(messages).await
        })
    }

    /// A `batch` group: the records that cannot be made into messages are
    /// refused on their own, the rest sent.
    fn write_partial<'a>(
        &'a self,
        records: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<Rejected>, ConnectorError>> {
        Box::pin(async move {
            let mut messages = Vec::with_capacity(records.len());
            let mut rejected = Vec::new();
            for (index, record) in records.iter().enumerate() {
                match self.encode(record) {
                    Ok(m) => messages.push(m),
                    Err(error) => rejected.push(Rejected { index, error }),
                }
            }
            self.send(messages).await?;
            Ok(rejected)
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
