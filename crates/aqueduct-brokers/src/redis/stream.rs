//! `redis.stream(key, group, consumer:, claim_after:)`: a stream read in a
//! consumer group, at least once.
//!
//! The group is created at the stream's start (and the stream with it) when
//! missing. On start the consumer re-reads its own pending entries (read
//! before a crash, never acked), then alternates: entries other consumers
//! left pending longer than `claim_after` (default 60s) are claimed with
//! XAUTOCLAIM, new ones are read with XREADGROUP (at most 100 at a time,
//! blocking up to a second). Each entry is XACKed only after the executor
//! acked its record. Reads wait while the flow is busy, so the backlog
//! stays in Redis. Connection failures are retried with backoff. A stop
//! lets a read under way finish (it blocks a second at most) and hands its
//! entries to the flow, which acks them while draining.

use super::{Endpoint, entry};
use crate::backoff::Backoff;
use crate::ordered::{Ordered, Run};
use aqueduct_connectors::support::args::{arg_duration, arg_str, req_str};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source};
use aqueduct_runtime::value::Schemas;
use futures::future::BoxFuture;
use redis::aio::ConnectionManager;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Default idle time after which another consumer's pending entry is taken over.
const DEFAULT_CLAIM_AFTER: Duration = Duration::from_secs(60);
/// Tries of an XACK before the entry is left pending (to be claimed later).
const ACK_ATTEMPTS: u32 = 8;
/// Entries per read.
const COUNT: usize = 100;
/// Longest a read blocks waiting for new entries.
const BLOCK: Duration = Duration::from_secs(1);

pub(crate) struct StreamSource {
    endpoint: Endpoint,
    key: String,
    group: String,
    consumer: String,
    claim_after: Duration,
    ty: Type,
    schemas: Arc<Schemas>,
    shutdown: watch::Receiver<bool>,
}

/// What to read next.
#[derive(Clone, PartialEq, Eq)]
enum Phase {
    /// This consumer's own pending entries after this id (from 0).
    Own(String),
    /// New entries (`>`).
    New,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

impl StreamSource {
    pub(crate) fn build(cx: &OpContext) -> Result<StreamSource, ConnectorError> {
        Ok(StreamSource {
            endpoint: super::Endpoint::of(cx)?,
            key: req_str(cx, "key")?,
            group: req_str(cx, "group")?,
            consumer: arg_str(cx, "consumer")?
                .unwrap_or_else(|| format!("{}-{}", cx.flow, host_name())),
            claim_after: arg_duration(cx, "claim_after")?.unwrap_or(DEFAULT_CLAIM_AFTER),
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    async fn create_group(&self, conn: &mut ConnectionManager) -> Result<(), ConnectorError> {
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.key)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(conn)
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(self.endpoint.error(
                &format!(
                    "cannot create group `{}` on stream `{}`",
                    self.group, self.key
                ),
                &e,
            )),
        }
    }

    async fn read(
        &self,
        conn: &mut ConnectionManager,
        phase: &Phase,
    ) -> Result<Vec<StreamId>, ConnectorError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(COUNT);
        let from = match phase {
            Phase::Own(after) => after.as_str(),
            Phase::New => {
                cmd.arg("BLOCK").arg(BLOCK.as_millis() as u64);
                ">"
            }
        };
        cmd.arg("STREAMS").arg(&self.key).arg(from);
        let reply: Option<StreamReadReply> = cmd.query_async(conn).await.map_err(|e| {
            self.endpoint
                .error(&format!("cannot read stream `{}`", self.key), &e)
        })?;
        Ok(reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default())
    }

    async fn claim(&self, conn: &mut ConnectionManager) -> Result<Vec<StreamId>, ConnectorError> {
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&self.key)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(self.claim_after.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(COUNT)
            .query_async(conn)
            .await
            .map_err(|e| {
                self.endpoint
                    .error(&format!("cannot claim entries of `{}`", self.key), &e)
            })?;
        Ok(reply.claimed)
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let mut reader = self.endpoint.manager(BLOCK).await?;
        // acks go on their own connection: a blocked read would hold them back
        let acker = self.endpoint.manager(Duration::from_secs(10)).await?;
        self.create_group(&mut reader).await?;
        tracing::info!(key = %self.key, group = %self.group, consumer = %self.consumer,
            "{}: reading the stream (at least once)", self.endpoint.label);
        // one XACK naming every entry of a run made safe together
        let (key, group) = (self.key.clone(), self.group.clone());
        let acks = Ordered::start("redis stream", move |run: Run<String>| {
            let (mut conn, key, group) = (acker.clone(), key.clone(), group.clone());
            async move { xack(&mut conn, &key, &group, &run.items).await }
        });
        let mut backoff = Backoff::default();
        let mut phase = Phase::Own("0".to_string());
        let mut last_claim: Option<Instant> = None;
        'reading: loop {
            if *self.shutdown.borrow() {
                break;
            }
            // look for abandoned entries every few seconds (claim_after bounds their age)
            let claim_every = self
                .claim_after
                .clamp(Duration::from_millis(500), Duration::from_secs(5));
            let claim_due =
                phase == Phase::New && last_claim.is_none_or(|t| t.elapsed() >= claim_every);
            let batch = if claim_due {
                last_claim = Some(Instant::now());
                self.claim(&mut reader).await
            } else {
                // not cut short by a stop: the entries Redis answers with are
                // pending for this consumer from then on, and dropped here
                // they stayed so until a restart read them again (BLOCK
                // bounds the wait, and they are handed to the flow)
                self.read(&mut reader, &phase).await
            };
            let entries = match batch {
                Ok(entries) => entries,
                Err(e) if !e.is_retryable() => {
                    // a group deleted under us, a key of another type
                    drop(out);
                    acks.finish().await;
                    return Err(e);
                }
                Err(e) => {
                    backoff.reset_if_worked();
                    tracing::warn!("{e}; retrying in {:?}", backoff.peek());
                    if backoff.wait(&mut self.shutdown).await {
                        continue;
                    }
                    break;
                }
            };
            if let Phase::Own(after) = &mut phase {
                match entries.last() {
                    Some(last) => *after = last.id.clone(),
                    None => phase = Phase::New,
                }
            }
            for entry in entries {
                // an own pending entry since deleted from the stream reads as an empty map
                let record = entry::decode(&entry.map, &self.ty, &self.schemas);
                let (ack, safe) = Ack::new();
                if out.send(Envelope::new(record, ack)).await.is_err() {
                    break 'reading;
                }
                acks.track(safe, entry.id);
            }
        }
        drop(out);
        acks.finish().await;
        Ok(())
    }
}

/// XACKs `ids`, retrying: the connection manager reconnects, so an ack
/// lost to a cut connection is sent again rather than left pending.
async fn xack(
    conn: &mut ConnectionManager,
    key: &str,
    group: &str,
    ids: &[String],
) -> Result<(), String> {
    let mut attempt = 0u32;
    loop {
        let acked = redis::cmd("XACK")
            .arg(key)
            .arg(group)
            .arg(ids)
            .query_async::<i64>(conn)
            .await;
        match acked {
            Ok(_) => return Ok(()),
            Err(e) if attempt >= ACK_ATTEMPTS => return Err(e.to_string()),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(250) * attempt).await;
            }
        }
    }
}

impl Source for StreamSource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(self.run_inner(out))
    }
}
