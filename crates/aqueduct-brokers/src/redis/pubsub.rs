//! `redis.subscribe(channel, format:)` (at most once) and
//! `redis.publish(channel, format:)`.
//!
//! Pub/sub keeps nothing: a message published while no subscriber is
//! connected is gone, and a message handed to the flow is never redelivered,
//! so `subscribe` is at most once (`aqueduct check` says so). A channel
//! with `*`, `?` or `[` subscribes to a pattern (PSUBSCRIBE). A lost
//! connection is retried with backoff and subscribed again.

use super::{Endpoint, Lazy};
use crate::backoff::Backoff;
use crate::payload::Payload;
use aqueduct_connectors::support::args::{label, req_str};
use aqueduct_connectors::support::stopped;
use aqueduct_connectors::support::template::Template;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source, Target};
use aqueduct_runtime::value::Value;
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};

pub(crate) struct Subscribe {
    endpoint: Endpoint,
    channel: String,
    payload: Payload,
    shutdown: watch::Receiver<bool>,
}

impl Subscribe {
    pub(crate) fn build(cx: &OpContext) -> Result<Subscribe, ConnectorError> {
        Ok(Subscribe {
            endpoint: Endpoint::of(cx)?,
            channel: req_str(cx, "channel")?,
            payload: Payload::from_args(cx)?,
            shutdown: cx.shutdown.clone(),
        })
    }

    fn is_pattern(&self) -> bool {
        self.channel.contains(['*', '?', '['])
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let client = self.endpoint.client()?;
        let mut backoff = Backoff::default();
        let mut first = true;
        loop {
            let subscribed = async {
                let mut pubsub = client.get_async_pubsub().await?;
                if self.is_pattern() {
                    pubsub.psubscribe(&self.channel).await?;
                } else {
                    pubsub.subscribe(&self.channel).await?;
                }
                Ok::<_, redis::RedisError>(pubsub)
            }
            .await;
            let mut pubsub = match subscribed {
                Ok(p) => p,
                Err(e) => {
                    let e = self
                        .endpoint
                        .error(&format!("cannot subscribe to `{}`", self.channel), &e);
                    if first || !e.is_retryable() {
                        return Err(e);
                    }
                    tracing::warn!("{e}; retrying in {:?}", backoff.peek());
                    if backoff.wait(&mut self.shutdown).await {
                        continue;
                    }
                    return Ok(());
                }
            };
            first = false;
            tracing::info!(channel = %self.channel, "{}: subscribed (pub/sub, at most once)", self.endpoint.label);
            let mut messages = pubsub.on_message();
            loop {
                let message = tokio::select! {
                    m = messages.next() => m,
                    _ = stopped(&mut self.shutdown) => return Ok(()),
                };
                let Some(message) = message else {
                    break;
                };
                let envelope = Envelope::new(
                    self.payload.decode(message.get_payload_bytes()),
                    Ack::none(),
                );
                if out.send(envelope).await.is_err() {
                    return Ok(());
                }
            }
            backoff.reset_if_worked();
            tracing::warn!(
                "`{}`: the subscription connection closed; subscribing again in {:?} (messages published meanwhile are lost)",
                self.endpoint.label,
                backoff.peek()
            );
            if !backoff.wait(&mut self.shutdown).await {
                return Ok(());
            }
        }
    }
}

impl Source for Subscribe {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(self.run_inner(out))
    }
}

/// Publishes each record on a channel.
pub(crate) struct Publish {
    redis: Lazy,
    channel: Template,
    payload: Payload,
}

impl Publish {
    pub(crate) fn build(cx: &OpContext) -> Result<Publish, ConnectorError> {
        let expr = cx.op.arg("channel").ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `channel` is required", label(cx)))
        })?;
        Ok(Publish {
            redis: Lazy::new(Endpoint::of(cx)?),
            channel: Template::new(expr, &cx.schemas)
                .map_err(|e| ConnectorError::Config(format!("`{}`: channel: {e}", label(cx))))?,
            payload: Payload::from_args(cx)?,
        })
    }
}

impl Target for Publish {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let ep = self.redis.endpoint();
            let mut conn = self.redis.conn().await?;
            let mut pipe = redis::pipe();
            for record in records {
                let channel = self.channel.render(record, str::to_string).map_err(|e| {
                    ConnectorError::Permanent(format!("`{}`: channel: {e}", ep.label))
                })?;
                pipe.cmd("PUBLISH")
                    .arg(channel)
                    .arg(self.payload.encode(record)?);
            }
            pipe.query_async::<Vec<i64>>(&mut conn)
                .await
                .map_err(|e| ep.error("cannot publish", &e))?;
            Ok(())
        })
    }
}
