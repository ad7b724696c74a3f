//! `kafka.consume(topic, group, key_field:, headers_field:, format:)`: a
//! consumer group member that commits offsets only after the flow made the
//! records safe.
//!
//! Auto-commit is off. Each record is tracked in [`Offsets`] when handed
//! out and marked done when the executor acked it (every target committed
//! it, or the dead letter took it); every 200 ms the positions that moved are
//! committed, and once more when the source stops. A partition revoked in a
//! rebalance has its done positions committed inside the rebalance callback
//! and is then forgotten: records of it still in the flow may be delivered
//! again to its new owner (at least once). A payload that does not decode
//! goes to the dead letter and its offset moves on like any other.
//!
//! librdkafka reconnects and rejoins the group by itself; errors it reports
//! while doing so are logged and the source keeps reading. Its prefetch
//! queue is bounded (`queued.max.messages.kbytes`), so a slow flow leaves the
//! backlog in the broker.

use super::fields::MetaFields;
use super::offsets::Offsets;
use super::{Endpoint, Logging};
use crate::ordered::{Ordered, Run};
use crate::payload::Payload;
use aqueduct_connectors::support::args::req_str;
use aqueduct_connectors::support::stopped;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source};
use futures::future::BoxFuture;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often moved positions are committed.
const COMMIT_EVERY: Duration = Duration::from_millis(200);
/// Longest wait for the broker on start-up (metadata) and for a commit.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the final commit and leaving the group while stopping.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// A member that stops heartbeating (killed) loses its partitions after this.
const SESSION_TIMEOUT_MS: &str = "10000";
/// The pause after an error event of the client, before reading on.
const ERROR_PAUSE: Duration = Duration::from_millis(200);
/// Bound on librdkafka's prefetch queue, in KiB.
const PREFETCH_KIB: &str = "8192";

pub(crate) struct Consume {
    endpoint: Endpoint,
    topic: String,
    group: String,
    payload: Payload,
    meta: MetaFields,
    client_id: String,
    shutdown: watch::Receiver<bool>,
}

/// The consumer's context: logs through `tracing` and commits the done
/// positions of partitions taken away in a rebalance.
struct Context {
    logging: Logging,
    topic: String,
    offsets: Arc<Mutex<Offsets>>,
}

impl rdkafka::ClientContext for Context {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.logging.log(level, fac, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.logging.error(error, reason);
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let partitions: Vec<i32> = list
            .elements_for_topic(&self.topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        let due = lock(&self.offsets).revoke(&partitions);
        tracing::info!(?partitions, "{}: partitions revoked", self.logging.label);
        if due.is_empty() {
            return;
        }
        if let Err(e) =
            commit_list(&self.topic, &due).and_then(|tpl| consumer.commit(&tpl, CommitMode::Sync))
        {
            tracing::warn!(
                "{}: committing revoked partitions failed (their records may be delivered again): {e}",
                self.logging.label
            );
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let changed = |list: &TopicPartitionList| -> Vec<i32> {
            list.elements_for_topic(&self.topic)
                .iter()
                .map(|e| e.partition())
                .collect()
        };
        // A cooperative rebalance hands over only what changed: the log
        // says what this member holds now, and what came or went.
        let (added, revoked) = match rebalance {
            Rebalance::Assign(list) => (changed(list), Vec::new()),
            Rebalance::Revoke(list) => (Vec::new(), changed(list)),
            Rebalance::Error(_) => return,
        };
        let mut partitions = consumer
            .assignment()
            .map(|held| changed(&held))
            .unwrap_or_default();
        partitions.sort_unstable();
        tracing::info!(
            ?partitions,
            ?added,
            ?revoked,
            "{}: partitions assigned",
            self.logging.label
        );
    }
}

fn lock(offsets: &Mutex<Offsets>) -> MutexGuard<'_, Offsets> {
    // a panic while holding it leaves plain counters behind: still usable
    offsets.lock().unwrap_or_else(|e| e.into_inner())
}

fn commit_list(topic: &str, positions: &[(i32, i64)]) -> KafkaResult<TopicPartitionList> {
    let mut tpl = TopicPartitionList::with_capacity(positions.len());
    for (partition, offset) in positions {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
    }
    Ok(tpl)
}

type Client = StreamConsumer<Context>;

impl Consume {
    pub(crate) fn build(cx: &OpContext) -> Result<Consume, ConnectorError> {
        Ok(Consume {
            endpoint: Endpoint::of(cx)?,
            topic: req_str(cx, "topic")?,
            group: req_str(cx, "group")?,
            payload: Payload::from_args(cx)?,
            meta: MetaFields::from_args(cx)?,
            client_id: format!("aqueduct-{}-{}", cx.flow, std::process::id()),
            shutdown: cx.shutdown.clone(),
        })
    }

    fn client(&self, offsets: &Arc<Mutex<Offsets>>) -> Result<Client, ConnectorError> {
        let context = Context {
            logging: Logging {
                label: self.endpoint.label.clone(),
            },
            topic: self.topic.clone(),
            offsets: offsets.clone(),
        };
        self.endpoint
            .config(&self.client_id)
            .set("group.id", &self.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", SESSION_TIMEOUT_MS)
            // Incremental rebalancing: a member keeps its partitions while
            // others join or leave (in the Java client's default list since
            // Kafka 3.0). tansu 0.6.0, the tests' broker, reassigns a killed
            // member's partition only this way: with the eager `range`
            // strategy the survivors kept their own partitions for good
            // (docs/connectors.md, kafka). Every member of a group must
            // use it.
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("queued.max.messages.kbytes", PREFETCH_KIB)
            .create_with_context(context)
            .map_err(|e| self.endpoint.error("cannot create the consumer", &e))
    }

    /// The topic must exist and the brokers answer: checked once at start-up,
    /// so a typo stops the flow at once instead of waiting forever.
    async fn check_topic(&self, client: &Arc<Client>) -> Result<(), ConnectorError> {
        let (client, topic) = (client.clone(), self.topic.clone());
        let metadata = tokio::task::spawn_blocking(move || {
            client.fetch_metadata(Some(&topic), BROKER_TIMEOUT)
        })
        .await
        .map_err(|e| ConnectorError::Transient(e.to_string()))?;
        let ep = &self.endpoint;
        let metadata = metadata.map_err(|e| {
            ConnectorError::Permanent(format!("`{}`: cannot reach the brokers: {e}", ep.label))
        })?;
        let found = metadata.topics().iter().find(|t| t.name() == self.topic);
        match found {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
            _ => Err(ConnectorError::Permanent(format!(
                "`{}`: topic `{}` does not exist",
                ep.label, self.topic
            ))),
        }
    }

    async fn run_inner(self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let offsets = Arc::new(Mutex::new(Offsets::default()));
        let client = Arc::new(self.client(&offsets)?);
        self.check_topic(&client).await?;
        client
            .subscribe(&[self.topic.as_str()])
            .map_err(|e| self.endpoint.error("cannot subscribe", &e))?;
        tracing::info!(topic = %self.topic, group = %self.group, "{}: consuming (at least once)", self.endpoint.label);
        // records made safe together are marked done under one lock
        let done = offsets.clone();
        let acks = Ordered::start("kafka", move |run: Run<(i32, i64)>| {
            let done = done.clone();
            async move {
                let mut offsets = lock(&done);
                for (partition, offset) in run.items {
                    offsets.acked(partition, offset);
                }
                Ok(())
            }
        });
        // commits run beside the reading, which waits while the flow is busy
        let committer = Committer {
            client: client.clone(),
            offsets: offsets.clone(),
            topic: self.topic.clone(),
            label: self.endpoint.label.clone(),
        };
        let (stop_commits, commits_stopped) = tokio::sync::oneshot::channel::<()>();
        let commits = tokio::spawn(committer.clone().every(COMMIT_EVERY, commits_stopped));
        let mut shutdown = self.shutdown.clone();
        let result = loop {
            let message = tokio::select! {
                m = client.recv() => m,
                _ = stopped(&mut shutdown) => break Ok(()),
            };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    let err = self.endpoint.error("reading failed", &e);
                    if !err.is_retryable() {
                        break Err(err);
                    }
                    // librdkafka reconnects by itself (with its own backoff)
                    // and queues an error event per failed attempt; after an
                    // outage those wait ahead of the messages, so a growing
                    // pause per event would hold the flow for minutes after
                    // the broker is back
                    tracing::warn!("{err}; reading on in {ERROR_PAUSE:?}");
                    tokio::select! {
                        _ = tokio::time::sleep(ERROR_PAUSE) => continue,
                        _ = stopped(&mut shutdown) => break Ok(()),
                    }
                }
            };
            let (partition, offset) = (message.partition(), message.offset());
            let record = match self.payload.decode(message.payload().unwrap_or_default()) {
                Ok(value) if !self.meta.is_empty() => {
                    Ok(self.meta.fill(value, message.key(), message.headers()))
                }
                other => other,
            };
            drop(message);
            lock(&offsets).delivered(partition, offset);
            let (ack, safe) = Ack::new();
            if out.send(Envelope::new(record, ack)).await.is_err() {
                break Ok(());
            }
            acks.track(safe, (partition, offset));
        };
        // the records handed out are still being delivered: wait for them,
        // then commit what they made safe before leaving the group
        drop(out);
        acks.finish().await;
        let waiting = lock(&offsets).waiting();
        if waiting > 0 {
            tracing::warn!(
                waiting,
                "{}: stopping with records not done; they are delivered again",
                self.endpoint.label
            );
        }
        let _ = stop_commits.send(());
        let _ = commits.await;
        committer.commit(CLOSE_TIMEOUT).await;
        // leaving the group blocks until the broker answers: off the runtime
        drop(committer);
        let closing = tokio::task::spawn_blocking(move || {
            client.unsubscribe();
            drop(client);
        });
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
        result
    }
}

/// Commits the positions that moved, beside the reading.
#[derive(Clone)]
struct Committer {
    client: Arc<Client>,
    offsets: Arc<Mutex<Offsets>>,
    topic: String,
    label: String,
}

impl Committer {
    /// Commits every `period` until `stop`.
    async fn every(self, period: Duration, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.commit(BROKER_TIMEOUT).await,
                _ = &mut stop => return,
            }
        }
    }

    /// Commits the positions that moved (synchronously, on a blocking
    /// thread); a failure is retried on the next tick, and until then those
    /// records are merely delivered again after a crash.
    async fn commit(&self, within: Duration) {
        let due = lock(&self.offsets).due();
        if due.is_empty() {
            return;
        }
        let (client, topic, positions) = (self.client.clone(), self.topic.clone(), due.clone());
        let committing = tokio::task::spawn_blocking(move || {
            commit_list(&topic, &positions).and_then(|tpl| client.commit(&tpl, CommitMode::Sync))
        });
        match tokio::time::timeout(within, committing).await {
            Ok(Ok(Ok(()))) => lock(&self.offsets).committed(&due),
            Ok(Ok(Err(e))) => tracing::warn!(
                "{}: committing offsets failed (retried; on a crash those records are delivered again): {e}",
                self.label
            ),
            Ok(Err(_)) | Err(_) => tracing::warn!(
                "{}: committing offsets got no answer in {within:?}",
                self.label
            ),
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
