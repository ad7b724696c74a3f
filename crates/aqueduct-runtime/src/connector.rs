//! The contract between the executor and connectors.
//!
//! A connector kind registers a [`ConnectorFactory`]. At start-up the
//! executor asks the factory for a [`Source`], [`Target`] or [`Call`] for each
//! operation a flow uses, handing it a [`OpContext`] (the system's resolved
//! options, the checked operation call, the record type, state and shutdown).
//! Nothing starts until every piece was built, so a missing connector or a bad
//! option stops `run` at start-up, never mid-stream.
//!
//! Delivery guarantees rest on [`Ack`]: a source hands each record out with an
//! ack, and commits its position only once the executor has acked it (every
//! target accepted it, or the dead letter took it).

use crate::value::{Schemas, Value};
use aqueduct_graph::{ModeKind, OpRef, System, Type};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Why a connector operation failed, and whether trying again may help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectorError {
    /// May succeed later (timeouts, 5xx, connection refused, lock contention).
    #[error("{0}")]
    Transient(String),
    /// Will fail again the same way (4xx, constraint violation, bad data).
    #[error("{0}")]
    Permanent(String),
    /// The remote asked us to wait (HTTP 429/503 with Retry-After).
    #[error("{message} (retry after {after:?})")]
    RetryAfter {
        /// What the remote said.
        message: String,
        /// How long it asked us to wait.
        after: Duration,
    },
    /// The operation cannot be built from its configuration (start-up only).
    #[error("{0}")]
    Config(String),
}

impl ConnectorError {
    /// True when a retry may help.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConnectorError::Transient(_) | ConnectorError::RetryAfter { .. }
        )
    }
}

/// Everything a connector needs to build one operation.
#[derive(Clone)]
pub struct OpContext {
    /// The flow using the operation.
    pub flow: String,
    /// The system, options as written (env/secret still unresolved: use
    /// [`OpContext::config`] to read them resolved).
    pub system: Arc<System>,
    /// The checked call (arguments by parameter name, typed).
    pub op: OpRef,
    /// The type of the records produced (sources, calls) or accepted (targets).
    pub record_type: Type,
    /// Record layouts of the project.
    pub schemas: Arc<Schemas>,
    /// The flow's timing mode.
    pub mode: ModeKind,
    /// Records per chunk in batch mode.
    pub chunk: usize,
    /// Where positions and checkpoints are kept.
    pub state: Arc<dyn StateStore>,
    /// Resolves `env()`/`secret()` option values.
    pub config: Arc<dyn ConfigResolver>,
    /// Flips to `true` when the process is asked to stop.
    pub shutdown: watch::Receiver<bool>,
    /// Flips to `true` once every selected flow of the run was built and
    /// spawned. Inbound servers bind their port while the flows are built
    /// (a taken port is a start-up error) but answer requests only from
    /// then on: no request finds a route of a flow still being built. It
    /// never flips when the built flows are dropped unstarted.
    pub started: watch::Receiver<bool>,
    /// Targets: a `batch` step precedes this target, so every
    /// [`Target::write`] is one whole group (even a group of one), to be
    /// written as one unit (an HTTP target sends a JSON array). `false`:
    /// each write is one record (or, for a dead letter, the entries at hand).
    pub batched: bool,
    /// Where [`OpContext::warn`] records what does not stop the flow.
    pub warnings: Arc<crate::startup_warnings::StartupWarnings>,
}

impl OpContext {
    /// Records a start-up warning at this operation's step (logged by
    /// `run`, a warning diagnostic of `check --connect`).
    pub fn warn(&self, message: impl Into<String>, help: impl Into<String>) {
        self.warnings.push(crate::startup_warnings::StartupWarning {
            flow: self.flow.clone(),
            message: message.into(),
            help: help.into(),
            origin: self.op.origin.clone(),
        });
    }
}

/// Resolves option values: `env("X")`, `secret("X")`, literals.
pub trait ConfigResolver: Send + Sync {
    /// The option as a string (literal, env or secret), `None` when unset.
    /// Errors when an `env()`/`secret()` without default is missing.
    fn string(&self, system: &System, option: &str) -> Result<Option<String>, ConnectorError>;
}

/// Persistent key/value state: source positions, checkpoints, dedupe windows.
pub trait StateStore: Send + Sync {
    /// Reads a value.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, ConnectorError>>;
    /// Writes a value durably before returning.
    fn put<'a>(&'a self, key: &'a str, value: &'a str)
    -> BoxFuture<'a, Result<(), ConnectorError>>;

    /// Removes every key that starts with `prefix` and whose value sorts
    /// (byte-wise) before `below`; returns how many were removed. Expiring
    /// dedupe windows use it (their values are fixed-width times). The
    /// default removes nothing: a store without it keeps every key.
    fn remove_prefix_below<'a>(
        &'a self,
        prefix: &'a str,
        below: &'a str,
    ) -> BoxFuture<'a, Result<u64, ConnectorError>> {
        let _ = (prefix, below);
        Box::pin(async { Ok(0) })
    }

    /// Whether several processes share this store, so that a batch flow
    /// must hold its lease to run ([`crate::lease`]). The default (a store
    /// of one process: SQLite, memory) says no, and leases are never asked.
    fn shared(&self) -> bool {
        false
    }

    /// Takes, or renews, lease `name` for `holder` until `ttl` from now,
    /// when it is free, expired or already `holder`'s; `None` when another
    /// holder has it. Atomic across every process of a shared store.
    fn lease<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<LeaseGrant>, ConnectorError>> {
        let _ = (name, holder, ttl);
        Box::pin(async { Ok(Some(LeaseGrant::default())) })
    }

    /// Gives lease `name` up, if `holder` has it, so another process can
    /// take it at once; `completed` records that the holder's run ended
    /// complete (a batch run once needs no second run).
    fn release_lease<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        completed: bool,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let _ = (name, holder, completed);
        Box::pin(async { Ok(()) })
    }
}

/// A lease granted by [`StateStore::lease`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseGrant {
    /// The lease was last given up by another holder whose run ended
    /// complete.
    pub completed_by_other: bool,
}

/// Acknowledgement of one record. The executor calls [`Ack::done`] when the
/// record is safe (delivered or dead-lettered); a dropped ack means "not
/// safe": the source must not commit past it.
pub struct Ack {
    tx: Option<oneshot::Sender<()>>,
    /// Work that may only be done once the record is safe, and must be
    /// done before the source hears so (a `dedupe` key is stored only for
    /// a record that landed: stored earlier, a crash before the targets
    /// committed would make the redelivered record a "duplicate", lost).
    then: Vec<BoxFuture<'static, ()>>,
    /// Acknowledgements this record's safety waits for: a record handed
    /// to another flow through an in-process channel is safe only once
    /// that flow made it safe; a dropped one leaves this record unsafe.
    after: Vec<oneshot::Receiver<()>>,
}

impl Ack {
    /// A new ack and the receiver the source awaits.
    pub fn new() -> (Ack, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        (
            Ack {
                tx: Some(tx),
                then: Vec::new(),
                after: Vec::new(),
            },
            rx,
        )
    }

    /// [`Ack::new`] when `tracked`, else [`Ack::none`] (an at-most-once
    /// source, or a setting that acknowledges nothing).
    pub fn new_if(tracked: bool) -> (Ack, Option<oneshot::Receiver<()>>) {
        if tracked {
            let (ack, rx) = Ack::new();
            (ack, Some(rx))
        } else {
            (Ack::none(), None)
        }
    }

    /// An ack nobody waits for (sources without positions).
    pub fn none() -> Ack {
        Ack {
            tx: None,
            then: Vec::new(),
            after: Vec::new(),
        }
    }

    /// Runs `work` when the record is safe, before the source is told.
    pub fn then(&mut self, work: BoxFuture<'static, ()>) {
        self.then.push(work);
    }

    /// Makes the record safe only once `ack` is done as well (and never
    /// when it is dropped): the acknowledgement of a copy of the record
    /// another flow took over.
    pub fn after(&mut self, ack: oneshot::Receiver<()>) {
        self.after.push(ack);
    }

    /// Marks the record safe: waits for the acknowledgements of
    /// [`Ack::after`], runs the work registered with [`Ack::then`] (on the
    /// runtime, as a task) and then tells the source. When one of those
    /// acknowledgements is dropped, the record is not safe after all:
    /// neither the work nor the source hears of it.
    pub fn done(mut self) {
        let tx = self.tx.take();
        let then = std::mem::take(&mut self.then);
        let after = std::mem::take(&mut self.after);
        if then.is_empty() && after.is_empty() {
            if let Some(tx) = tx {
                let _ = tx.send(());
            }
            return;
        }
        let finish = async move {
            for ack in after {
                if ack.await.is_err() {
                    return;
                }
            }
            for work in then {
                work.await;
            }
            if let Some(tx) = tx {
                let _ = tx.send(());
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(finish);
            }
            // not on a runtime (never in the executor): the work cannot
            // run, and the source is not told, as for a dropped ack
            Err(_) => tracing::warn!(
                "An acknowledgement was given outside the runtime; its record stays unacknowledged."
            ),
        }
    }
}

/// The answer a sync source's caller gets.
#[derive(Debug, Clone)]
pub enum ReplyMsg {
    /// The reply record: HTTP 200 with its JSON.
    Ok(Value),
    /// `reply STATUS VALUE`: the reply with another status (201, 404, …).
    /// A 201 whose record has a string field `location` also sends it as
    /// the `Location` header.
    Status {
        /// The HTTP status.
        status: u16,
        /// The reply.
        value: Value,
    },
    /// A failure: HTTP status, a stable code and a message (sent as
    /// `{"error": message, "code": code}`).
    Err {
        /// HTTP status (400, 422, 500, 502, 504, …).
        status: u16,
        /// A stable, machine-readable code (`rejected`, `internal`, …):
        /// callers may depend on it.
        code: &'static str,
        /// What went wrong, safe to show the caller: no secrets, no project
        /// file names or lines, no remote system's error text.
        message: String,
        /// The internal detail (the expression or connector error, where in
        /// the project), logged and shown by flow tests, never sent to the
        /// caller.
        detail: Option<String>,
    },
}

impl ReplyMsg {
    /// A failure whose message is all there is to say.
    pub fn error(status: u16, code: &'static str, message: impl Into<String>) -> ReplyMsg {
        ReplyMsg::Err {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }
}

/// One record handed from a source to the executor.
pub struct Envelope {
    /// The decoded record, or why it could not be decoded (it goes to the
    /// dead letter with the raw text and the reason).
    pub record: Result<Value, DecodeError>,
    /// Acknowledge when safe.
    pub ack: Ack,
    /// For request-reply sources: where the reply goes.
    pub reply: Option<oneshot::Sender<ReplyMsg>>,
}

impl Envelope {
    /// A record for a flow that answers nobody (every source but a
    /// request-reply one).
    pub fn new(record: Result<Value, DecodeError>, ack: Ack) -> Envelope {
        Envelope {
            record,
            ack,
            reply: None,
        }
    }
}

/// A record a source could not decode.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct DecodeError {
    /// The raw input (a line, a body), truncated to a few KiB; the base64
    /// of its bytes when `raw_base64` is set.
    pub raw: String,
    /// What was wrong, naming the field where known.
    pub reason: String,
    /// `raw` is the base64 of the input bytes, which were not valid UTF-8
    /// (the dead letter carries it as `raw_base64`).
    pub raw_base64: bool,
}

impl DecodeError {
    /// An error for input text.
    pub fn text(raw: impl Into<String>, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            raw: raw.into(),
            reason: reason.into(),
            raw_base64: false,
        }
    }

    /// An error for input bytes that are not text: they travel as base64.
    pub fn bytes(raw: &[u8], reason: impl Into<String>) -> DecodeError {
        use base64::Engine;
        DecodeError {
            raw: base64::engine::general_purpose::STANDARD.encode(raw),
            reason: reason.into(),
            raw_base64: true,
        }
    }
}

/// Produces records until its input ends (bounded sources) or shutdown.
pub trait Source: Send {
    /// Runs the source, sending envelopes to `out` (a bounded channel:
    /// sending waits when the flow is busy, which is the backpressure).
    /// Returns when the input is exhausted, shutdown was signalled, or `out`
    /// closed. Must commit positions only for acked records.
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>>;

    /// Offers the fused path ([`crate::fused`]; an async flow's plan is
    /// [`FusedPlan::streaming`](crate::fused::FusedPlan::streaming)): a source that takes
    /// it runs `plan` over its lines and sends sealed groups (one envelope,
    /// one ack for many lines; lines the plan does not take go as ordinary
    /// envelopes, in their place). `false` (the default): not taken, the
    /// source sends records as usual.
    fn fuse(&mut self, plan: Arc<crate::fused::FusedPlan>) -> bool {
        let _ = plan;
        false
    }
}

/// A record of a group that the system refused while it took the others
/// (Salesforce collections with `allOrNone=false`): it goes to the dead
/// letter on its own.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// Its position in the group handed to [`Target::write_partial`].
    pub index: usize,
    /// Why (permanent: retrying the record alone would fail the same way).
    pub error: ConnectorError,
}

/// A record a target refused while it loaded a chunk at a flush (a
/// database's constraint violation in a `batch` flow): the target took the
/// chunk's other records, and this one goes to the dead letter on its own.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The record as it was handed to [`Target::write`].
    pub record: Value,
    /// Why (permanent: loading the record alone failed the same way).
    pub error: ConnectorError,
}

/// Accepts records.
pub trait Target: Send + Sync {
    /// Writes a group of records (one record unless the flow batches), in one
    /// transaction or request where the system allows. Returns only when the
    /// records are durably accepted.
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>>;

    /// [`Target::write`] for a system that accepts or refuses each record of
    /// a group on its own: `Ok` lists the refused records (every other one
    /// is durably accepted); `Err` means none was. The executor uses it for
    /// `batch` groups, so one bad record does not fail its group. The
    /// default is `write`: all or nothing.
    fn write_partial<'a>(
        &'a self,
        records: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<Rejected>, ConnectorError>> {
        Box::pin(async move { self.write(records).await.map(|()| Vec::new()) })
    }

    /// Group commit: true when this target can split [`Target::write`] into
    /// [`Target::stage`] and [`Target::commit`]. An async flow that has
    /// several records at hand then stages each of them (with its own
    /// retries and dead letter, as if it were written alone), makes them all
    /// durable with one commit (one fsync, one transaction), and only then
    /// releases their acknowledgements. `false` (the default): every record
    /// is written, and made durable, on its own.
    fn group_commits(&self) -> bool {
        false
    }

    /// Writes records so that the next [`Target::commit`] makes them
    /// durable; they need not be durable, nor visible, before it. Only called
    /// when [`Target::group_commits`] said yes. The default is
    /// [`Target::write`] (durable at once, so a commit has nothing to do).
    fn stage<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        self.write(records)
    }

    /// Makes every record staged so far durable in one commit. `Err` means
    /// none of them may be taken as durable: the executor stages the whole
    /// group again before it retries. The default has nothing to commit.
    fn commit(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }

    /// True when this target writes each record as one line of compact
    /// JSON (`value::json::write_json_bytes` and a line end) to one place,
    /// so it can take records already encoded so ([`Target::write_encoded`]).
    fn takes_encoded_jsonl(&self) -> bool {
        false
    }

    /// Writes `bytes`: whole JSON lines encoded as this target would encode
    /// them (only called when [`Target::takes_encoded_jsonl`] said yes), as
    /// [`Target::write`] would write their records.
    fn write_encoded<'a>(&'a self, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let _ = bytes;
        Box::pin(async {
            Err(ConnectorError::Permanent(
                "this target does not take encoded records".to_string(),
            ))
        })
    }

    /// Flushes buffered output (end of a chunk, end of input, shutdown).
    fn flush(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }

    /// A flush started now, for the end of a batch chunk: what it commits is
    /// fixed by this call (everything written before it; later writes are
    /// left to the next flush), and the returned future, which does not
    /// borrow the target, finishes it. The executor awaits it in the
    /// background while the next chunk is written, so a target that commits
    /// a chunk as one transaction (`sqlite`) commits exactly that chunk.
    /// `None` (the default): no such split; the executor awaits
    /// [`Target::flush`] in the background instead.
    fn start_flush(&self) -> Option<BoxFuture<'static, Result<(), ConnectorError>>> {
        None
    }

    /// Takes the records the flushes finished so far refused (each with
    /// its error): a target that loads a chunk at its flush and isolates
    /// the records the system will not take, so one bad record does not
    /// fail its chunk, keeps them here. The executor calls it after each
    /// successful flush ([`Target::flush`], [`Target::start_flush`]) and
    /// dead-letters them before it acknowledges the chunk. The default
    /// refuses nothing.
    fn take_refused(&self) -> Vec<Refused> {
        Vec::new()
    }

    /// The flow's input ended by itself (a bounded source read all of it:
    /// not stopped by a shutdown, and the flow did not fail) and every record
    /// was flushed: the run is complete, and the next one starts anew. A
    /// target keeping state across the runs of a flow (`file.write`, which
    /// continues its file when a run resumes an interrupted one) closes it
    /// here. Not called when a run was stopped or failed.
    fn finish(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Answers a request for each record (`enrich`).
pub trait Call: Send + Sync {
    /// Calls the system for `record` (templates in arguments are evaluated
    /// against it) and returns the answer typed as the enrich's type.
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>>;
}

/// Builds the operations of one connector kind.
pub trait ConnectorFactory: Send + Sync {
    /// The kind name (`file`, `sqlite`, …).
    fn kind(&self) -> &'static str;

    /// Builds a source for `cx.op`.
    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        Err(ConnectorError::Config(format!(
            "`{}.{}` cannot be used as a source",
            self.kind(),
            cx.op.operation
        )))
    }

    /// Builds a target for `cx.op`.
    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        Err(ConnectorError::Config(format!(
            "`{}.{}` cannot be used as a target",
            self.kind(),
            cx.op.operation
        )))
    }

    /// Prepares what a target of `cx.op` needs to exist before any flow
    /// starts: the executor calls it for every target of the project before
    /// it builds sources, calls and targets, so a lookup in one flow can read
    /// a table that another flow's target creates, whatever order the flows
    /// start in (`sqlite` creates the tables of `insert`/`upsert` here). The
    /// default prepares nothing.
    fn prepare(&self, cx: &OpContext) -> Result<(), ConnectorError> {
        let _ = cx;
        Ok(())
    }

    /// Builds a call for `cx.op`.
    fn call(&self, cx: &OpContext) -> Result<Arc<dyn Call>, ConnectorError> {
        Err(ConnectorError::Config(format!(
            "`{}.{}` cannot be used in `enrich`",
            self.kind(),
            cx.op.operation
        )))
    }
}

/// The connector factories available to the executor, by kind.
#[derive(Default, Clone)]
pub struct Registry {
    factories: Vec<Arc<dyn ConnectorFactory>>,
}

impl Registry {
    /// Adds a factory (a later one for the same kind wins).
    pub fn register(&mut self, factory: Arc<dyn ConnectorFactory>) {
        self.factories.retain(|f| f.kind() != factory.kind());
        self.factories.push(factory);
    }

    /// The factory for `kind`.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn ConnectorFactory>> {
        self.factories.iter().find(|f| f.kind() == kind)
    }

    /// Kinds registered.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.factories.iter().map(|f| f.kind())
    }
}
