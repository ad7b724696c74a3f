//! `amqp.consume(queue, prefetch:, format:)`: at-least-once consumption.
//!
//! The channel's QoS is `prefetch` (default 100): the broker never has more
//! than that many unacknowledged messages out to this consumer, so a slow
//! flow leaves the backlog in the queue. Each message is acked only when
//! the executor acked its record; a payload that does not decode goes to
//! the dead letter (and is then acked). A lost connection is retried with
//! backoff; messages whose ack had not been sent are redelivered by the
//! broker, never lost.

use super::Endpoint;
use crate::backoff::Backoff;
use crate::ordered::{Ordered, Run};
use crate::payload::Payload;
use aqueduct_connectors::support::args::{label, req_str};
use aqueduct_connectors::support::stopped;
use aqueduct_graph::Value as GValue;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source};
use futures::StreamExt;
use futures::future::BoxFuture;
use lapin::Acker;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use tokio::sync::{mpsc, watch};

/// Longest wait for the broker while stopping.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Default most unacknowledged messages at once.
const DEFAULT_PREFETCH: u16 = 100;

pub(crate) struct Consume {
    endpoint: Endpoint,
    queue: String,
    prefetch: u16,
    payload: Payload,
    tag: String,
    shutdown: watch::Receiver<bool>,
}

/// Why one consuming session ended.
enum End {
    /// Shutdown, or the flow stopped taking records.
    Stopped,
    /// The connection or channel failed.
    Failed(ConnectorError),
}

impl Consume {
    pub(crate) fn build(cx: &OpContext) -> Result<Consume, ConnectorError> {
        let prefetch = match cx
            .op
            .arg("prefetch")
            .map(aqueduct_connectors::support::args::constant)
        {
            None | Some(Some(GValue::Null)) => DEFAULT_PREFETCH,
            Some(Some(GValue::Int(n))) if (1..=i64::from(u16::MAX)).contains(n) => *n as u16,
            Some(_) => {
                return Err(ConnectorError::Config(format!(
                    "`{}`: prefetch must be a whole number from 1 to 65535",
                    label(cx)
                )));
            }
        };
        Ok(Consume {
            endpoint: Endpoint::of(cx)?,
            queue: req_str(cx, "queue")?,
            prefetch,
            payload: Payload::from_args(cx)?,
            tag: format!("aqueduct-{}-{}", cx.flow, std::process::id()),
            shutdown: cx.shutdown.clone(),
        })
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let mut backoff = Backoff::default();
        let mut first = true;
        loop {
            let connection = match self.endpoint.connect().await {
                Ok(c) => c,
                // a broker that is not there at start-up is a configuration problem
                Err(e) if first || !e.is_retryable() => return Err(e),
                Err(e) => {
                    tracing::warn!("{e}; retrying in {:?}", backoff.peek());
                    if !backoff.wait(&mut self.shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            let (end, acks) = self.session(&connection, &out, first).await;
            first = false;
            match end {
                End::Stopped => {
                    // the records handed out are still being delivered: ack them on this
                    // channel, held open until then (dropping its last handle closes it,
                    // and acks sent after that are lost: the broker redelivers the messages)
                    drop(out);
                    if let Some((acks, _channel)) = acks {
                        acks.finish().await;
                    }
                    let _ = tokio::time::timeout(
                        CLOSE_TIMEOUT,
                        connection.close(200, "aqueduct stopping".into()),
                    )
                    .await;
                    return Ok(());
                }
                End::Failed(e) => {
                    // acks of this connection's deliveries cannot be sent any more;
                    // the broker delivers those messages again
                    if let Some((acks, _)) = acks {
                        acks.abort();
                    }
                    if !e.is_retryable() {
                        return Err(e);
                    }
                    backoff.reset_if_worked();
                    tracing::warn!(
                        "{e}; reconnecting in {:?} (unacknowledged messages are redelivered)",
                        backoff.peek()
                    );
                    if !backoff.wait(&mut self.shutdown).await {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Consumes on one connection until shutdown or failure; with the
    /// acknowledgements still due, the channel they go out on.
    async fn session(
        &mut self,
        connection: &lapin::Connection,
        out: &mpsc::Sender<Envelope>,
        first: bool,
    ) -> (End, Option<(Ordered<Acker>, lapin::Channel)>) {
        let ep = &self.endpoint;
        let channel = match connection.create_channel().await {
            Ok(c) => c,
            Err(e) => return (End::Failed(ep.error("cannot open a channel", &e)), None),
        };
        // passive: the queue must exist; a clear message when it does not
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        if let Err(e) = channel
            .queue_declare(self.queue.as_str().into(), passive, FieldTable::default())
            .await
        {
            let what = format!("queue `{}` is not available", self.queue);
            let err = ep.error(&what, &e);
            // a queue deleted while running may come back; missing at start-up is a mistake
            let err = if first {
                ConnectorError::Permanent(err.to_string())
            } else {
                err
            };
            return (End::Failed(err), None);
        }
        if let Err(e) = channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await
        {
            return (End::Failed(ep.error("cannot set prefetch", &e)), None);
        }
        let mut consumer = match channel
            .basic_consume(
                self.queue.as_str().into(),
                self.tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
        {
            Ok(c) => c,
            Err(e) => {
                let err = ep.error(&format!("cannot consume `{}`", self.queue), &e);
                return (End::Failed(err), None);
            }
        };
        // one `multiple` ack per run of safe deliveries (delivery tags
        // are in order on the channel), single acks after a skipped one
        let acks = Ordered::start("amqp", |run: Run<Acker>| async move {
            let multiple = BasicAckOptions { multiple: true };
            match run.items.last() {
                Some(last) if run.contiguous => last
                    .ack(multiple)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                _ => {
                    for acker in &run.items {
                        acker
                            .ack(BasicAckOptions::default())
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                }
            }
        });
        let end = self.deliver(&mut consumer, &channel, out, &acks).await;
        (end, Some((acks, channel)))
    }

    /// Hands the deliveries to the flow until shutdown or failure.
    async fn deliver(
        &mut self,
        consumer: &mut lapin::Consumer,
        channel: &lapin::Channel,
        out: &mpsc::Sender<Envelope>,
        acks: &Ordered<Acker>,
    ) -> End {
        let ep = &self.endpoint;
        tracing::info!(queue = %self.queue, prefetch = self.prefetch, "{}: consuming", ep.label);
        loop {
            let next = tokio::select! {
                next = consumer.next() => next,
                _ = stopped(&mut self.shutdown) => {
                    // no new deliveries; the ones not handed out are redelivered
                    // bounded: shutdown must finish within the executor's drain timeout
                    let _ = tokio::time::timeout(
                        CLOSE_TIMEOUT,
                        channel.basic_cancel(self.tag.as_str().into(), BasicCancelOptions::default()),
                    )
                    .await;
                    return End::Stopped;
                }
            };
            let delivery = match next {
                Some(Ok(d)) => d,
                Some(Err(e)) => return End::Failed(ep.error("the connection failed", &e)),
                None => {
                    return End::Failed(ConnectorError::Transient(format!(
                        "`{}`: the broker cancelled the consumer of `{}`",
                        ep.label, self.queue
                    )));
                }
            };
            let record = self.payload.decode(&delivery.data);
            let (ack, safe) = Ack::new();
            if out.send(Envelope::new(record, ack)).await.is_err() {
                return End::Stopped;
            }
            acks.track(safe, delivery.acker);
        }
    }
}

impl Source for Consume {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(self.run_inner(out))
    }
}
