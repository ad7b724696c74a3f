//! `nats.subscribe(subject, durable:, ack_wait:, group:, format:)`.
//!
//! With `durable`: a JetStream pull consumer of that name on the stream
//! capturing `subject` (found by subject, so the stream must exist), with
//! explicit acks, `ack_wait` (default 30s) and at most 1000 messages
//! unacknowledged. Replicas using the same durable share its messages. A
//! message is acked only after the executor acked its record; one left
//! unacked (a crash, a failed target) is redelivered after `ack_wait`.
//!
//! Without `durable`: a core NATS subscription (a queue subscription with
//! `group`), at most once.

use super::Endpoint;
use crate::backoff::Backoff;
use crate::ordered::{Ordered, Run};
use crate::payload::Payload;
use aqueduct_connectors::support::args::{arg_duration, arg_str, req_str};
use aqueduct_connectors::support::stopped;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source};
use async_nats::jetstream::consumer::{AckPolicy, pull};
use futures::StreamExt;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// Default time JetStream waits for an ack before redelivering.
const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
/// Most messages a durable consumer has out unacknowledged.
const MAX_ACK_PENDING: i64 = 1000;
/// Messages fetched per pull request.
const BATCH: usize = 100;
/// Most messages handed to the flow and not acknowledged yet. Kept well
/// under `MAX_ACK_PENDING`, leaving room for the pull requests async-nats
/// has out, so the server never reaches its own limit: NATS 2.9.10 left a
/// pull request that met the limit unanswered until it expired, even
/// after the acks came (a stall of the expiry, each time, seen in the
/// benchmark).
const IN_FLIGHT: usize = MAX_ACK_PENDING as usize - 3 * BATCH;
/// How long one pull request waits on the server. NATS 2.9.10 sometimes
/// left a pull request unanswered until it expired although the stream
/// held messages (in the benchmark, for aqueduct and the hand-written
/// consumer alike: with async-nats' default expiry of 30 s a 34 s stall in
/// about one run of three). A short expiry bounds such a stall to this, at
/// the cost of one request per period while idle.
const PULL_EXPIRES: Duration = Duration::from_secs(2);

pub(crate) struct Subscribe {
    endpoint: Endpoint,
    subject: String,
    durable: Option<String>,
    group: Option<String>,
    ack_wait: Duration,
    payload: Payload,
    shutdown: watch::Receiver<bool>,
}

impl Subscribe {
    pub(crate) fn build(cx: &OpContext) -> Result<Subscribe, ConnectorError> {
        Ok(Subscribe {
            endpoint: Endpoint::of(cx)?,
            subject: req_str(cx, "subject")?,
            durable: arg_str(cx, "durable")?,
            group: arg_str(cx, "group")?,
            ack_wait: arg_duration(cx, "ack_wait")?.unwrap_or(DEFAULT_ACK_WAIT),
            payload: Payload::from_args(cx)?,
            shutdown: cx.shutdown.clone(),
        })
    }

    async fn run_inner(self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let client = self.endpoint.connect().await?;
        let result = match self.durable.clone() {
            Some(durable) => self.durable(&client, durable, out).await,
            None => self.core(&client, out).await,
        };
        // acks are published asynchronously: send them before closing
        let _ = tokio::time::timeout(Duration::from_secs(3), client.flush()).await;
        result
    }

    /// Core NATS: at most once, no acknowledgement.
    async fn core(
        mut self,
        client: &async_nats::Client,
        out: mpsc::Sender<Envelope>,
    ) -> Result<(), ConnectorError> {
        let ep = &self.endpoint;
        let mut subscriber = match &self.group {
            Some(group) => {
                client
                    .queue_subscribe(self.subject.clone(), group.clone())
                    .await
            }
            None => client.subscribe(self.subject.clone()).await,
        }
        .map_err(|e| ep.permanent(&format!("cannot subscribe to `{}`", self.subject), e))?;
        tracing::info!(subject = %self.subject, "{}: subscribed (core NATS, at most once)", ep.label);
        loop {
            let message = tokio::select! {
                m = subscriber.next() => m,
                _ = stopped(&mut self.shutdown) => break,
            };
            let Some(message) = message else { break };
            let envelope = Envelope::new(self.payload.decode(&message.payload), Ack::none());
            if out.send(envelope).await.is_err() {
                break;
            }
        }
        let _ = subscriber.unsubscribe().await;
        Ok(())
    }

    /// JetStream pull consumer: at least once.
    async fn durable(
        mut self,
        client: &async_nats::Client,
        durable: String,
        out: mpsc::Sender<Envelope>,
    ) -> Result<(), ConnectorError> {
        let ep = self.endpoint.clone();
        let js = async_nats::jetstream::new(client.clone());
        let stream_name = js
            .stream_by_subject(self.subject.clone())
            .await
            .map_err(|e| {
                ep.permanent(
                    &format!("no JetStream stream captures subject `{}`", self.subject),
                    e,
                )
            })?;
        let stream = js
            .get_stream(&stream_name)
            .await
            .map_err(|e| ep.transient(&format!("cannot read stream `{stream_name}`"), e))?;
        let config = pull::Config {
            durable_name: Some(durable.clone()),
            filter_subject: self.subject.clone(),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_ack_pending: MAX_ACK_PENDING,
            ..Default::default()
        };
        let consumer = stream
            .get_or_create_consumer(&durable, config)
            .await
            .map_err(|e| {
                ep.permanent(
                    &format!(
                        "cannot create durable consumer `{durable}` on stream `{stream_name}`"
                    ),
                    e,
                )
            })?;
        tracing::info!(subject = %self.subject, stream = %stream_name, durable = %durable,
            "{}: consuming (JetStream, at least once)", ep.label);
        // acks are sent by the client, which reconnects: one task for the whole run
        // each message handed out holds a permit until it is acked (or
        // skipped): see IN_FLIGHT
        let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
        let acks = Ordered::start(
            "nats",
            |run: Run<(async_nats::jetstream::Message, OwnedSemaphorePermit)>| async move {
                for (message, _permit) in &run.items {
                    message.ack().await.map_err(|e| e.to_string())?;
                }
                Ok(())
            },
        );
        let mut backoff = Backoff::default();
        'session: loop {
            let mut messages = match consumer
                .stream()
                .max_messages_per_batch(BATCH)
                .expires(PULL_EXPIRES)
                .messages()
                .await
            {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(
                        "{}; retrying in {:?}",
                        ep.transient("cannot pull messages", e),
                        backoff.peek()
                    );
                    if backoff.wait(&mut self.shutdown).await {
                        continue;
                    }
                    break;
                }
            };
            loop {
                let permit = tokio::select! {
                    p = in_flight.clone().acquire_owned() => p,
                    _ = stopped(&mut self.shutdown) => break 'session,
                };
                let Ok(permit) = permit else { break 'session };
                let next = tokio::select! {
                    m = messages.next() => m,
                    _ = stopped(&mut self.shutdown) => break 'session,
                };
                let message = match next {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        backoff.reset_if_worked();
                        tracing::warn!(
                            "{}; pulling again in {:?} (unacknowledged messages are redelivered)",
                            ep.transient("pulling messages failed", e),
                            backoff.peek()
                        );
                        if backoff.wait(&mut self.shutdown).await {
                            continue 'session;
                        }
                        break 'session;
                    }
                    None => continue 'session,
                };
                let record = self.payload.decode(&message.message.payload);
                let (ack, safe) = Ack::new();
                if out.send(Envelope::new(record, ack)).await.is_err() {
                    break 'session;
                }
                acks.track(safe, (message, permit));
            }
        }
        drop(out);
        acks.finish().await;
        Ok(())
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
