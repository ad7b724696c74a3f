//! One flow at run time: the shared [`FlowRt`], the per-envelope
//! bookkeeping ([`Pending`]: ack and reply), the processing loop and the
//! source driver (schedules included).
//!
//! The processing loop reads envelopes from the flow's bounded input, keeps
//! at most `concurrency` of them in flight, sends partial batch groups when
//! their `within` expires, and flushes targets when the input goes idle, at
//! every `chunk` records (batch mode) and at the end. In batch mode acks are
//! held until the flush that made the records durable, so a source commits
//! a chunk's checkpoint only after its records are flushed.

use super::inbox::{Inbound, Inbox};
use super::steps::{Batcher, CKind, CStep, Cont};
use crate::connector::{Ack, ConnectorError, Envelope, ReplyMsg, StateStore, Target};
use crate::dead_letter;
use crate::expr::Bindings;
use crate::metrics::StepMetrics;
use crate::policy::breaker::Breaker;
use crate::policy::rate_limit::RateLimiter;
use crate::policy::retry::RetryPolicy;
use crate::policy::timeout;
use crate::value::Value;
use aqueduct_graph::ModeKind;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Most records taken from the input at once by a flow that handles one
/// record at a time (see [`FlowRt::handle_all`]).
const GROUP: usize = 256;

/// Flow-level counters for the run report.
#[derive(Debug, Default)]
pub struct FlowStats {
    /// Envelopes received.
    pub received: AtomicU64,
    /// Records accepted by targets (a record delivered to two targets counts
    /// twice), and replies sent by a sync flow.
    pub delivered: AtomicU64,
    /// Records dropped by `where`/`dedupe` (and records no `route` arm takes).
    pub filtered: AtomicU64,
    /// Records that failed (dead-lettered, answered with an error, or fatal).
    pub failed: AtomicU64,
    /// Records the dead letter took.
    pub dead_lettered: AtomicU64,
}

impl FlowStats {
    /// The counters now: received, delivered, filtered, failed, dead-lettered.
    pub fn snapshot(&self) -> [u64; 5] {
        [
            self.received.load(Ordering::Relaxed),
            self.delivered.load(Ordering::Relaxed),
            self.filtered.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.dead_lettered.load(Ordering::Relaxed),
        ]
    }
}

/// The ack and reply of one envelope, shared by every record derived from it.
pub struct Pending {
    ack: Mutex<Option<Ack>>,
    reply: Mutex<Option<oneshot::Sender<ReplyMsg>>>,
    failed: AtomicBool,
    /// Some target accepted a record of this envelope.
    delivered: AtomicBool,
    deferred: Option<Arc<Mutex<Vec<Ack>>>>,
    /// The flow's [`FlowRt::halted`].
    halted: Arc<AtomicBool>,
}

impl Pending {
    fn new(
        ack: Ack,
        reply: Option<oneshot::Sender<ReplyMsg>>,
        deferred: Option<Arc<Mutex<Vec<Ack>>>>,
        halted: Arc<AtomicBool>,
    ) -> Pending {
        Pending {
            ack: Mutex::new(Some(ack)),
            reply: Mutex::new(reply),
            failed: AtomicBool::new(false),
            delivered: AtomicBool::new(false),
            deferred,
            halted,
        }
    }

    /// Notes that a target accepted a record of this envelope.
    pub fn mark_delivered(&self) {
        self.delivered.store(true, Ordering::Relaxed);
    }

    /// True when a target accepted a record of this envelope.
    pub fn was_delivered(&self) -> bool {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Answers the caller (first answer wins; no-op without a caller).
    pub fn reply(&self, msg: ReplyMsg) {
        if let Ok(mut r) = self.reply.lock()
            && let Some(tx) = r.take()
        {
            let _ = tx.send(msg);
        }
    }

    /// Runs `work` once the envelope is safe, before its source is told
    /// (nothing when it never becomes safe).
    pub fn on_safe(&self, work: futures::future::BoxFuture<'static, ()>) {
        if let Ok(mut ack) = self.ack.lock()
            && let Some(ack) = ack.as_mut()
        {
            ack.then(work);
        }
    }

    /// Makes the envelope safe only once `ack` is done too ([`Ack::after`]).
    pub fn after(&self, ack: oneshot::Receiver<()>) {
        if let Ok(mut own) = self.ack.lock()
            && let Some(own) = own.as_mut()
        {
            own.after(ack);
        }
    }

    /// Marks the envelope unsafe: its ack will not be done.
    pub fn mark_failed(&self) {
        self.failed.store(true, Ordering::SeqCst);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.reply(ReplyMsg::error(
            500,
            "no_reply",
            "the flow ended without a reply",
        ));
        // A record dropped because its flow stopped (failed, or aborted
        // after the drain timeout) was not finished: in flight at a target,
        // or waiting in a `batch` group. Acknowledging it would commit the
        // source past a record no target took.
        if self.failed.load(Ordering::SeqCst) || self.halted.load(Ordering::SeqCst) {
            return;
        }
        let Some(ack) = self.ack.get_mut().ok().and_then(Option::take) else {
            return;
        };
        match &self.deferred {
            Some(list) => match list.lock() {
                Ok(mut l) => l.push(ack),
                Err(_) => ack.done(),
            },
            None => ack.done(),
        }
    }
}

impl Drop for FlowRt {
    fn drop(&mut self) {
        // records a stopped flow left in a `batch` group
        for b in &self.batchers {
            b.clear();
        }
    }
}

/// One record on its way through the steps.
pub struct Item {
    /// The record.
    pub value: Value,
    /// `let`/`enrich` bindings.
    pub bindings: Bindings,
    /// Its envelope's ack and reply.
    pub pending: Arc<Pending>,
}

impl Item {
    /// A record derived from this one (split), sharing its envelope.
    pub fn with_value(&self, value: Value) -> Item {
        Item {
            value,
            bindings: self.bindings.clone(),
            pending: self.pending.clone(),
        }
    }
}

/// Everything a running flow shares between its in-flight records.
pub struct FlowRt {
    /// Flow name.
    pub name: String,
    /// Timing mode.
    pub mode: ModeKind,
    /// The compiled steps.
    pub steps: Arc<[CStep]>,
    /// Where failing records go.
    pub dead_letter: Option<super::steps::TargetRef>,
    /// Every target, for flushing.
    pub targets: Vec<Arc<dyn Target>>,
    /// Every batch step, for timed and final flushes.
    pub batchers: Vec<Arc<Batcher>>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Per-call timeout (async, batch) or whole-request timeout (sync).
    pub timeout: Option<Duration>,
    /// Token bucket on records taken in.
    pub rate: Option<RateLimiter>,
    /// Records in flight.
    pub concurrency: usize,
    /// Records per chunk (batch mode flush interval).
    pub chunk: usize,
    /// Breakers by system.
    pub breakers: BTreeMap<String, Breaker>,
    /// State (dedupe windows).
    pub state: Arc<dyn StateStore>,
    /// Counters of the source and dead letter pseudo-steps.
    pub source_metrics: Arc<StepMetrics>,
    /// Dead letter counters.
    pub dl_metrics: Arc<StepMetrics>,
    /// Run report counters.
    pub stats: Arc<FlowStats>,
    /// The fused batch path, when the flow's source took it.
    pub fused: Option<super::fused_group::Fused>,
    /// Set once the flow stopped for good before its records were
    /// finished (it failed, lost its lease, or was aborted after the drain
    /// timeout): a record dropped from then on is not acknowledged.
    pub halted: Arc<AtomicBool>,
    /// The flow reads an in-process channel, whose producers wait for the
    /// acknowledgements of what they sent: a partial `batch` group is sent
    /// once the input paused [`CHANNEL_IDLE`], or a producer waiting for
    /// its records (a bounded run's end) would wait forever.
    pub from_channel: bool,
}

/// How long a flow reading a channel waits for more input before it sends
/// its partial `batch` groups (see [`FlowRt::from_channel`]).
pub const CHANNEL_IDLE: Duration = Duration::from_secs(2);

impl FlowRt {
    /// Runs `op` with breaker, per-attempt timeout and retries. Returns the
    /// last error and the number of attempts made.
    pub(crate) async fn with_policies<'a, T, F, Fut>(
        &self,
        step: &CStep,
        system: Option<&str>,
        mut op: F,
    ) -> Result<T, (ConnectorError, u32)>
    where
        F: FnMut() -> Fut + 'a,
        Fut: Future<Output = Result<T, ConnectorError>> + 'a,
    {
        let breaker = system.and_then(|s| self.breakers.get(s));
        let per_call = if self.mode == ModeKind::Sync {
            None
        } else {
            self.timeout
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(b) = breaker
                && !b.allow()
            {
                let name = system.unwrap_or_default();
                return Err((
                    ConnectorError::Transient(format!("circuit breaker for `{name}` is open")),
                    attempt - 1,
                ));
            }
            match timeout::bounded(per_call, op()).await {
                Ok(v) => {
                    breaker.inspect(|b| b.success());
                    return Ok(v);
                }
                Err(e) => {
                    breaker.inspect(|b| b.failure());
                    if !self.retry.should_retry(attempt, &e) {
                        return Err((e, attempt));
                    }
                    StepMetrics::add(&step.metrics.retried, 1);
                    let wait = self.retry.delay(attempt, &e);
                    tracing::debug!(flow = %self.name, step = %step.id, attempt, error = %crate::secrets::redact(&e.to_string()), "Retrying after a failure.");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// A record failed at `step`: answer the caller (sync), or dead-letter
    /// it; `Err` when it can be neither (the flow stops, the ack stays undone).
    pub(crate) async fn fail(
        &self,
        step: &CStep,
        items: Vec<Item>,
        error: &str,
        attempts: u32,
        status: u16,
    ) -> Result<(), String> {
        let n = items.len() as u64;
        StepMetrics::add(&step.metrics.failed, n);
        StepMetrics::add(&self.stats.failed, n);
        let error = crate::secrets::redact(error);
        if self.mode == ModeKind::Sync {
            // the caller gets a stable code and message; where and why only
            // go to the log (and to flow tests, through `detail`)
            let (code, message) = caller_error(status);
            tracing::warn!(
                flow = %self.name,
                step = %step.id,
                at = %step.at,
                status,
                code,
                error = %error,
                "A request failed."
            );
            for item in &items {
                item.pending.reply(ReplyMsg::Err {
                    status,
                    code,
                    message: message.to_string(),
                    detail: Some(format!("{error} ({})", step.at)),
                });
            }
            return Ok(());
        }
        let at = chrono::Utc::now();
        let failure = dead_letter::Failure {
            flow: &self.name,
            step: &step.id,
            error: &error,
            attempts,
            at,
        };
        let entries: Vec<Value> = items
            .iter()
            .map(|i| dead_letter::for_record(&i.value, &failure))
            .collect();
        self.dead_letter(entries, &items, step, &error).await
    }

    /// Input that could not be decoded.
    async fn fail_decode(
        &self,
        pending: Arc<Pending>,
        decode: &crate::connector::DecodeError,
    ) -> Result<(), String> {
        let reason = decode.reason.as_str();
        StepMetrics::add(&self.source_metrics.failed, 1);
        StepMetrics::add(&self.stats.failed, 1);
        let reason = crate::secrets::redact(reason);
        if self.mode == ModeKind::Sync {
            pending.reply(ReplyMsg::error(
                400,
                "bad_request",
                format!("cannot decode the request: {reason}"),
            ));
            return Ok(());
        }
        let failure = dead_letter::Failure {
            flow: &self.name,
            step: "source",
            error: &reason,
            attempts: 1,
            at: chrono::Utc::now(),
        };
        let item = Item {
            value: Value::Null,
            bindings: Bindings::new(),
            pending,
        };
        let entry = if decode.raw_base64 {
            dead_letter::for_raw_bytes(&decode.raw, &failure)
        } else {
            dead_letter::for_raw(&decode.raw, &failure)
        };
        match self.dead_letter_write(vec![entry]).await {
            Ok(()) => Ok(()),
            Err(e) => {
                item.pending.mark_failed();
                Err(match e {
                    None => format!(
                        "input could not be decoded ({reason}); the flow has no dead_letter"
                    ),
                    Some(e) => {
                        format!("input could not be decoded ({reason}) nor dead-lettered ({e})")
                    }
                })
            }
        }
    }

    async fn dead_letter(
        &self,
        entries: Vec<Value>,
        items: &[Item],
        step: &CStep,
        error: &str,
    ) -> Result<(), String> {
        match self.dead_letter_write(entries).await {
            Ok(()) => {
                StepMetrics::add(&step.metrics.dead_lettered, items.len() as u64);
                Ok(())
            }
            Err(dl_error) => {
                for item in items {
                    item.pending.mark_failed();
                }
                Err(match dl_error {
                    None => format!(
                        "step {} ({}): {error}; the flow has no dead_letter",
                        step.id, step.at
                    ),
                    Some(e) => format!(
                        "step {} ({}): {error}; the dead letter failed too: {e}",
                        step.id, step.at
                    ),
                })
            }
        }
    }

    /// Writes dead-letter entries (with the flow's retries); `Err(None)` without a dead letter.
    async fn dead_letter_write(&self, entries: Vec<Value>) -> Result<(), Option<String>> {
        let Some(dl) = &self.dead_letter else {
            return Err(None);
        };
        let n = entries.len() as u64;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match timeout::bounded(self.timeout, dl.target.write(&entries)).await {
                Ok(()) => {
                    StepMetrics::add(&self.dl_metrics.records_in, n);
                    StepMetrics::add(&self.stats.dead_lettered, n);
                    return Ok(());
                }
                Err(e) if self.retry.should_retry(attempt, &e) => {
                    tokio::time::sleep(self.retry.delay(attempt, &e)).await
                }
                Err(e) => return Err(Some(crate::secrets::redact(&e.to_string()))),
            }
        }
    }

    /// Handles one envelope from the input.
    async fn handle(
        self: Arc<Self>,
        env: Envelope,
        deferred: Option<Arc<Mutex<Vec<Ack>>>>,
    ) -> Result<(), String> {
        StepMetrics::add(&self.source_metrics.records_in, 1);
        StepMetrics::add(&self.stats.received, 1);
        let pending = Arc::new(Pending::new(
            env.ack,
            env.reply,
            deferred,
            self.halted.clone(),
        ));
        let value = match env.record {
            Ok(v) => v,
            Err(d) => return self.fail_decode(pending, &d).await,
        };
        if self.handle_sealed(&value, &pending).await? {
            return Ok(());
        }
        StepMetrics::add(&self.source_metrics.records_out, 1);
        let item = Item {
            value,
            bindings: Bindings::new(),
            pending: pending.clone(),
        };
        let cont: Cont = vec![(self.steps.clone(), 0)];
        match (self.mode, self.timeout) {
            (ModeKind::Sync, Some(limit)) => {
                match tokio::time::timeout(limit, self.run(vec![item], cont)).await {
                    Ok(r) => r,
                    Err(_) => {
                        StepMetrics::add(&self.stats.failed, 1);
                        pending.reply(ReplyMsg::error(
                            504,
                            "timeout",
                            format!("the flow did not answer within {}", timeout::human(limit)),
                        ));
                        Ok(())
                    }
                }
            }
            _ => self.run(vec![item], cont).await,
        }
    }

    /// Handles envelopes taken from the input together: decoded records move
    /// through the steps as one group ([`FlowRt::run_in`]); a record that
    /// could not be decoded is handled in its place in the order.
    async fn handle_all(
        self: Arc<Self>,
        envs: Vec<Envelope>,
        deferred: Option<Arc<Mutex<Vec<Ack>>>>,
    ) -> Result<(), String> {
        if envs.len() == 1 {
            let Some(env) = envs.into_iter().next() else {
                return Ok(());
            };
            return self.handle(env, deferred).await;
        }
        let n = envs.len() as u64;
        StepMetrics::add(&self.source_metrics.records_in, n);
        StepMetrics::add(&self.stats.received, n);
        // Held until the whole group is done: when the flow stops half-way
        // through a group, none of its records is acked (they are read again).
        let mut held: Vec<Arc<Pending>> = Vec::with_capacity(envs.len());
        let mut items = Vec::with_capacity(envs.len());
        let mut result = Ok(());
        for env in envs {
            let pending = Arc::new(Pending::new(
                env.ack,
                env.reply,
                deferred.clone(),
                self.halted.clone(),
            ));
            held.push(pending.clone());
            match env.record {
                Ok(value) if self.fused.is_some() && self.fused_value(&value) => {
                    // a sealed group of the fused path, in its place in the order
                    if !items.is_empty() {
                        let group = std::mem::take(&mut items);
                        result = self
                            .run_in(group, vec![(self.steps.clone(), 0)], true)
                            .await;
                        if result.is_err() {
                            break;
                        }
                    }
                    result = self.handle_sealed(&value, &pending).await.map(|_| ());
                    if result.is_err() {
                        break;
                    }
                }
                Ok(value) => {
                    StepMetrics::add(&self.source_metrics.records_out, 1);
                    items.push(Item {
                        value,
                        bindings: Bindings::new(),
                        pending,
                    });
                }
                Err(d) => {
                    if !items.is_empty() {
                        let group = std::mem::take(&mut items);
                        result = self
                            .run_in(group, vec![(self.steps.clone(), 0)], true)
                            .await;
                        if result.is_err() {
                            break;
                        }
                    }
                    result = self.fail_decode(pending, &d).await;
                    if result.is_err() {
                        break;
                    }
                }
            }
        }
        if result.is_ok() && !items.is_empty() {
            result = self
                .run_in(items, vec![(self.steps.clone(), 0)], true)
                .await;
        }
        if result.is_err() {
            held.iter().for_each(|p| p.mark_failed());
        }
        result
    }

    async fn flush_batches(self: &Arc<Self>, only_due: bool) -> Result<(), String> {
        for b in &self.batchers {
            while let Some((group, cont)) = b.take(only_due) {
                self.run(group, cont).await?;
            }
        }
        Ok(())
    }

    async fn flush_targets(&self) -> Result<(), String> {
        let mut refused = false;
        for t in &self.targets {
            t.flush().await.map_err(|e| {
                format!(
                    "flushing a target failed: {}",
                    crate::secrets::redact(&e.to_string())
                )
            })?;
            refused |= self.dead_letter_refused(t).await?;
        }
        self.flush_dead_letter(refused).await
    }

    /// Dead-letters the records `t` refused at its last flush
    /// ([`Target::take_refused`]): they were counted as delivered when
    /// written, so they move to failed. `Err` when the flow has no dead
    /// letter or it failed: the flow stops and the chunk stays unacked.
    /// `Ok(true)` when it wrote to the dead letter.
    async fn dead_letter_refused(&self, t: &Arc<dyn Target>) -> Result<bool, String> {
        let refused = t.take_refused();
        if refused.is_empty() {
            return Ok(false);
        }
        if let Some(dl) = &self.dead_letter
            && std::ptr::addr_eq(Arc::as_ptr(&dl.target), Arc::as_ptr(t))
        {
            // the dead letter's own entries: nowhere else to put them
            return Err(format!(
                "the dead letter refused {} entries: {}",
                refused.len(),
                crate::secrets::redact(&refused[0].error.to_string())
            ));
        }
        let n = refused.len() as u64;
        let _ = self
            .stats
            .delivered
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_sub(n))
            });
        StepMetrics::add(&self.stats.failed, n);
        let found = find_target(&self.steps, t);
        if let Some((step, _)) = found {
            StepMetrics::add(&step.metrics.failed, n);
        }
        let (id, at, label) = match found {
            Some((step, r)) => (step.id.as_str(), step.at.as_str(), r.label.as_str()),
            None => ("target", "", "target"),
        };
        let now = chrono::Utc::now();
        let errors: Vec<String> = refused
            .iter()
            .map(|r| crate::secrets::redact(&format!("{label}: {}", r.error)))
            .collect();
        let entries: Vec<Value> = refused
            .iter()
            .zip(&errors)
            .map(|(r, error)| {
                let failure = dead_letter::Failure {
                    flow: &self.name,
                    step: id,
                    error,
                    attempts: 1,
                    at: now,
                };
                dead_letter::for_record(&r.record, &failure)
            })
            .collect();
        tracing::warn!(flow = %self.name, step = %id, refused = n, error = %errors[0], "A chunk's target refused records; they go to the dead letter.");
        match self.dead_letter_write(entries).await {
            Ok(()) => {
                if let Some((step, _)) = found {
                    StepMetrics::add(&step.metrics.dead_lettered, n);
                }
                Ok(true)
            }
            Err(None) => Err(format!(
                "step {id} ({at}): {}; the flow has no dead_letter",
                errors[0]
            )),
            Err(Some(e)) => Err(format!(
                "step {id} ({at}): {}; the dead letter failed too: {e}",
                errors[0]
            )),
        }
    }

    /// Flushes the dead letter again after refused records went to it, so
    /// they are durable before the chunk is acknowledged (its own flush may
    /// have been fixed before they were written).
    async fn flush_dead_letter(&self, wrote: bool) -> Result<(), String> {
        match &self.dead_letter {
            Some(dl) if wrote => dl.target.flush().await.map_err(|e| {
                format!(
                    "flushing the dead letter failed: {}",
                    crate::secrets::redact(&e.to_string())
                )
            }),
            _ => Ok(()),
        }
    }

    /// Finishes the flushes started at a chunk's end ([`Target::start_flush`]),
    /// flushing the targets that started none.
    async fn finish_flushes(
        &self,
        started: Vec<Option<futures::future::BoxFuture<'static, Result<(), ConnectorError>>>>,
    ) -> Result<(), String> {
        let mut refused = false;
        for (t, flush) in self.targets.iter().zip(started) {
            let result = match flush {
                Some(flush) => flush.await,
                None => t.flush().await,
            };
            result.map_err(|e| {
                format!(
                    "flushing a target failed: {}",
                    crate::secrets::redact(&e.to_string())
                )
            })?;
            refused |= self.dead_letter_refused(t).await?;
        }
        self.flush_dead_letter(refused).await
    }

    fn next_deadline(&self, last_input: std::time::Instant) -> Option<std::time::Instant> {
        let stalled = (self.from_channel && self.batchers.iter().any(|b| b.holds_records()))
            .then(|| last_input + CHANNEL_IDLE);
        self.batchers
            .iter()
            .filter_map(|b| b.deadline())
            .chain(stalled)
            .min()
    }

    /// The processing loop: runs until the input closes, or a record can
    /// be neither delivered nor dead-lettered (`Err`).
    pub(crate) async fn process(self: Arc<Self>, mut rx: Inbox) -> Result<(), String> {
        const IDLE: Duration = Duration::from_millis(20);
        // A batch flow's chunk ends when it is full or its run's input ends;
        // only a long pause (a source that waits for acknowledgements while
        // it could still send) closes one early, never a loaded CPU's hiccup.
        const BATCH_IDLE: Duration = Duration::from_secs(2);
        let deferred =
            (self.mode == ModeKind::Batch).then(|| Arc::new(Mutex::new(Vec::<Ack>::new())));
        let release = |d: &Option<Arc<Mutex<Vec<Ack>>>>| {
            if let Some(list) = d {
                let acks = list
                    .lock()
                    .map(|mut l| std::mem::take(&mut *l))
                    .unwrap_or_default();
                acks.into_iter().for_each(Ack::done);
            }
        };
        let mut inflight = FuturesUnordered::new();
        let mut since_flush = 0usize;
        let mut dirty = false;
        let mut open = true;
        let mut run_ended = false;
        let mut last_input = std::time::Instant::now();
        // Group commit: the commit of full chunks runs while the next chunks
        // are processed, one commit at a time; chunks that fill up meanwhile
        // wait (`waiting`) and share the next commit. Acks are released only
        // once the commit covering their chunk succeeded.
        let mut committing: Option<tokio::task::JoinHandle<Result<(), String>>> = None;
        let mut waiting: Vec<Ack> = Vec::new();
        let max_waiting = self.chunk.saturating_mul(8).max(8192);
        let result: Result<(), String> = async {
            while open || !inflight.is_empty() {
                let deadline = self
                    .next_deadline(last_input)
                    .map(tokio::time::Instant::from_std);
                let idle_after = if self.mode == ModeKind::Batch { BATCH_IDLE } else { IDLE };
                let idle = (dirty && inflight.is_empty())
                    .then(|| tokio::time::Instant::now() + idle_after);
                let wake = match (deadline, idle) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                tokio::select! {
                    biased;
                    Some(r) = inflight.next(), if !inflight.is_empty() => r?,
                    event = rx.recv(), if open && inflight.len() < self.concurrency => match event {
                        Inbound::Record(env) => {
                            last_input = std::time::Instant::now();
                            if let Some(rate) = &self.rate {
                                rate.acquire().await;
                            }
                            let mut envs = vec![env];
                            // One record at a time anyway: take what is already
                            // queued along (never waiting for more), so the steps
                            // run once per group, not once per record. Not under
                            // `rate_limit`: each record takes its token right
                            // before it is processed, so deliveries are spaced.
                            if self.concurrency == 1
                                && self.mode != ModeKind::Sync
                                && self.rate.is_none()
                            {
                                let limit = if self.mode == ModeKind::Batch {
                                    self.chunk.saturating_sub(since_flush).clamp(1, GROUP)
                                } else {
                                    GROUP
                                };
                                // (a sealed group of the fused path counts as its lines)
                                let mut taken = self.weight(&envs[0]);
                                while taken < limit {
                                    let Some(env) = rx.try_recv() else { break };
                                    taken += self.weight(&env);
                                    envs.push(env);
                                }
                            }
                            since_flush += envs.iter().map(|e| self.weight(e)).sum::<usize>();
                            inflight.push(self.clone().handle_all(envs, deferred.clone()));
                            dirty = true;
                        }
                        // A scheduled run ended: what it sent is committed
                        // now, as at the end of the input.
                        Inbound::RunEnded => run_ended = true,
                        Inbound::Closed => open = false,
                    },
                    _ = tokio::time::sleep_until(wake.unwrap_or_else(tokio::time::Instant::now)), if wake.is_some() => {
                        self.flush_batches(true).await?;
                        if self.from_channel && last_input.elapsed() >= CHANNEL_IDLE {
                            self.flush_batches(false).await?;
                        }
                        if idle.is_some_and(|i| i <= tokio::time::Instant::now()) && inflight.is_empty() {
                            if self.mode == ModeKind::Batch {
                                self.flush_batches(false).await?;
                                // what was committed closes the chunk: the
                                // next one is a whole chunk again
                                since_flush = 0;
                            }
                            settle(&mut committing).await?;
                            self.flush_targets().await?;
                            waiting.drain(..).for_each(Ack::done);
                            release(&deferred);
                            dirty = false;
                        }
                    }
                }
                if run_ended {
                    run_ended = false;
                    while let Some(r) = inflight.next().await {
                        r?;
                    }
                    self.flush_batches(false).await?;
                    settle(&mut committing).await?;
                    self.flush_targets().await?;
                    waiting.drain(..).for_each(Ack::done);
                    release(&deferred);
                    since_flush = 0;
                    dirty = false;
                }
                if self.mode == ModeKind::Batch && since_flush >= self.chunk {
                    while let Some(r) = inflight.next().await {
                        r?;
                    }
                    self.flush_batches(false).await?;
                    if let Some(list) = &deferred
                        && let Ok(mut l) = list.lock()
                    {
                        waiting.append(&mut l);
                    }
                    if committing.as_ref().is_some_and(|c| c.is_finished())
                        || waiting.len() >= max_waiting
                    {
                        settle(&mut committing).await?;
                    }
                    if committing.is_none() {
                        let acks = std::mem::take(&mut waiting);
                        // started here, so each commit covers whole chunks only
                        let started: Vec<_> =
                            self.targets.iter().map(|t| t.start_flush()).collect();
                        let rt = self.clone();
                        committing = Some(tokio::spawn(async move {
                            rt.finish_flushes(started).await?;
                            acks.into_iter().for_each(Ack::done);
                            Ok(())
                        }));
                    }
                    since_flush = 0;
                    dirty = false;
                }
            }
            self.flush_batches(false).await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            // before the records still in flight or in a `batch` group are
            // dropped: they were not finished, and are not acknowledged
            self.halted.store(true, Ordering::SeqCst);
        }
        // deliver what was accepted, even when the flow failed; acks only
        // for what was made durable
        let settled = settle(&mut committing).await;
        let flushed = self.flush_targets().await;
        if settled.is_ok() && flushed.is_ok() {
            waiting.drain(..).for_each(Ack::done);
            release(&deferred);
        }
        result.and(settled).and(flushed)
    }
}

/// The step (and its target) that writes to `t`, searched through routes.
fn find_target<'a>(
    steps: &'a [CStep],
    t: &Arc<dyn Target>,
) -> Option<(&'a CStep, &'a super::steps::TargetRef)> {
    let same =
        |r: &super::steps::TargetRef| std::ptr::addr_eq(Arc::as_ptr(&r.target), Arc::as_ptr(t));
    steps.iter().find_map(|step| match &step.kind {
        CKind::To(r) | CKind::Tap(r) if same(r) => Some((step, r)),
        CKind::Route(arms) => arms.iter().find_map(|(_, arm)| find_target(arm, t)),
        _ => None,
    })
}

/// Waits for the chunk commit in progress, if any.
async fn settle(
    committing: &mut Option<tokio::task::JoinHandle<Result<(), String>>>,
) -> Result<(), String> {
    match committing.take() {
        None => Ok(()),
        Some(task) => task
            .await
            .unwrap_or_else(|e| Err(format!("committing a chunk stopped: {e}"))),
    }
}

/// The stable code and message a sync caller gets for a failure with
/// `status`; the failure itself is logged, never sent.
pub(crate) fn caller_error(status: u16) -> (&'static str, &'static str) {
    match status {
        502 => ("upstream_failed", "a system the flow calls failed"),
        503 => (
            "unavailable",
            "a system the flow calls is unavailable; try again later",
        ),
        504 => (
            "upstream_timeout",
            "a system the flow calls did not answer in time",
        ),
        _ => ("internal", "the flow could not process the request"),
    }
}

#[cfg(test)]
mod tests {
    /// The codes and messages language.md's sync failure table quotes.
    #[test]
    fn callers_get_stable_codes_and_messages() {
        assert_eq!(
            super::caller_error(500),
            ("internal", "the flow could not process the request")
        );
        assert_eq!(
            super::caller_error(502),
            ("upstream_failed", "a system the flow calls failed")
        );
        assert_eq!(
            super::caller_error(503),
            (
                "unavailable",
                "a system the flow calls is unavailable; try again later"
            )
        );
        assert_eq!(
            super::caller_error(504),
            (
                "upstream_timeout",
                "a system the flow calls did not answer in time"
            )
        );
    }
}
