//! Flows, their steps and policies, and flow tests.

use crate::{Expr, Origin, Type, Value};
use serde::{Deserialize, Serialize};

/// One checked flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Name.
    pub name: String,
    /// Doc comment lines.
    pub doc: Vec<String>,
    /// Timing mode.
    pub mode: Mode,
    /// Where records come from.
    pub source: Source,
    /// Steps in order; route arms nest their own steps.
    pub steps: Vec<Step>,
    /// Policies.
    pub policies: Policies,
    /// The declaration.
    pub origin: Origin,
}

/// The timing mode and its schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mode {
    /// Sync, async or batch.
    pub kind: ModeKind,
    /// When a batch flow runs; `None` runs it once.
    pub schedule: Option<Schedule>,
    /// Records per committed chunk (batch); `None` uses the default (1000).
    pub chunk: Option<u64>,
}

/// The timing mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeKind {
    /// Request-reply.
    Sync,
    /// Event-driven, at-least-once.
    Async,
    /// Bounded input in chunks.
    Batch,
}

impl ModeKind {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            ModeKind::Sync => "sync",
            ModeKind::Async => "async",
            ModeKind::Batch => "batch",
        }
    }
}

/// When a batch flow runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// A validated cron expression (5 or 6 fields).
    Cron(String),
    /// A fixed interval in milliseconds.
    Every(u64),
}

/// The source of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The operation or channel.
    pub endpoint: Endpoint,
    /// The type of the records it produces.
    pub record_type: Type,
    /// The `from` line.
    pub origin: Origin,
}

/// An operation of a system, or a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `system.op(args)`
    Op(OpRef),
    /// A channel by name.
    Channel(String),
}

impl Endpoint {
    /// A short label: `crm.changes` or the channel name.
    pub fn label(&self) -> String {
        match self {
            Endpoint::Op(op) => format!("{}.{}", op.system, op.operation),
            Endpoint::Channel(name) => name.clone(),
        }
    }
}

/// A resolved operation call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpRef {
    /// The system's name.
    pub system: String,
    /// Its connector kind.
    pub connector: String,
    /// The operation.
    pub operation: String,
    /// Arguments by parameter name (positional ones resolved to their names),
    /// in the order the operation declares its parameters.
    pub args: Vec<Arg>,
    /// The call as written.
    pub origin: Origin,
}

impl OpRef {
    /// The argument for parameter `name`.
    pub fn arg(&self, name: &str) -> Option<&Expr> {
        self.args.iter().find(|a| a.name == name).map(|a| &a.value)
    }
}

/// One argument of an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arg {
    /// The parameter name.
    pub name: String,
    /// Its value: a constant for most parameters; a string template may read
    /// the current record (`"/rates/{.currency}"`). Bare enumerated names are
    /// string literals. Field lists (`key: [external_id]`) are lists of strings.
    pub value: Expr,
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Unique within the flow: `s1`, `s2`, …, `s3.0.1` inside route arms.
    pub id: String,
    /// What it does.
    pub kind: StepKind,
    /// The record type it receives.
    pub input: Type,
    /// The record type it passes on.
    pub output: Type,
    /// The step as written.
    pub origin: Origin,
    /// The HTTP status of a `reply 404 …` (`None`: 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// The steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Keep records for which the condition is true (null counts as false).
    Where(Expr),
    /// Build a new record of `ty`: one expression per field in slot order.
    Map {
        /// Record type.
        ty: String,
        /// One expression per slot.
        fields: Vec<Expr>,
    },
    /// Bind a value, read later as `$name`.
    Let {
        /// Binding name.
        name: String,
        /// Its value.
        value: Expr,
    },
    /// Call a system and bind its answer as `$name`.
    Enrich {
        /// Binding name.
        name: String,
        /// The call.
        call: OpRef,
        /// The answer's type.
        ty: Type,
    },
    /// One record per element of a list.
    Split {
        /// The list.
        list: Expr,
        /// Element type (the new record type).
        ty: Type,
    },
    /// Deliver records in groups of at most `size`, waiting at most `within`.
    /// Records keep their type; targets receive each group in one write.
    Batch {
        /// Maximum group size.
        size: u64,
        /// Maximum wait in milliseconds before a partial group is sent.
        within_ms: Option<u64>,
    },
    /// Drop records whose key was seen within the window.
    Dedupe {
        /// The key.
        key: Expr,
        /// Window in milliseconds; `None` remembers keys for the whole run.
        within_ms: Option<u64>,
    },
    /// Send a copy and continue.
    Tap(Endpoint),
    /// Content-based routing: the first arm whose condition holds takes the record.
    Route(Vec<RouteArm>),
    /// Deliver.
    To(Endpoint),
    /// Answer the caller of a sync flow.
    Reply(Expr),
}

/// One arm of a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteArm {
    /// `None` for `else`.
    pub condition: Option<Expr>,
    /// The arm's steps.
    pub steps: Vec<Step>,
}

/// The policies of a flow.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Policies {
    /// Retries of failing calls and deliveries.
    pub retry: Option<Retry>,
    /// Bound on each call (async, batch) or on the whole request (sync).
    pub timeout_ms: Option<u64>,
    /// Where records that keep failing go.
    pub dead_letter: Option<Endpoint>,
    /// At most `count` records per `per_ms`.
    pub rate_limit: Option<RateLimit>,
    /// Records processed at once.
    pub concurrency: Option<u32>,
    /// Stop calling a failing system for a while.
    pub circuit_breaker: Option<CircuitBreaker>,
}

/// `retry N [backoff …]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    /// Attempts after the first.
    pub attempts: u32,
    /// Wait between attempts.
    pub backoff: Backoff,
}

/// A backoff schedule (jitter is added by the runtime).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// Doubling from `base_ms`, capped at `max_ms`.
    Exponential {
        /// First delay.
        base_ms: u64,
        /// Largest delay.
        max_ms: u64,
    },
    /// The same delay each time.
    Fixed {
        /// Delay.
        delay_ms: u64,
    },
}

/// `rate_limit N per D`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Records per period.
    pub count: u64,
    /// Period in milliseconds.
    pub per_ms: u64,
}

/// `circuit_breaker { failures = N, reset = D }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitBreaker {
    /// Consecutive failures that open the breaker.
    pub failures: u32,
    /// How long it stays open before a trial call (half-open).
    pub reset_ms: u64,
}

/// A `test` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowTest {
    /// Name.
    pub name: String,
    /// The flow under test.
    pub flow: String,
    /// Doc comment lines.
    pub doc: Vec<String>,
    /// Records fed in place of the source, in order.
    pub given: Vec<Value>,
    /// Answers to `enrich` calls.
    pub stubs: Vec<Stub>,
    /// What must come out.
    pub expects: Vec<Expect>,
    /// The declaration.
    pub origin: Origin,
}

/// `stub system.op(args) => value`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stub {
    /// The system.
    pub system: String,
    /// The operation.
    pub operation: String,
    /// Arguments that must match the call (constants only); empty matches any call.
    pub args: Vec<(String, Value)>,
    /// The answer.
    pub value: Value,
}

/// `expect [target:] …`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expect {
    /// Target label (`erp.upsert`, a channel name); `None` means the flow's only target.
    pub target: Option<String>,
    /// What is expected.
    pub what: Expected,
    /// The line.
    pub origin: Origin,
}

/// What an `expect` line wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    /// This record, next in order.
    Record(Value),
    /// No record at all.
    Nothing,
    /// This reply, with status 200.
    Reply(Value),
    /// `expect reply STATUS …`: this reply with this status.
    ReplyWith {
        /// The HTTP status.
        status: u16,
        /// The reply.
        value: Value,
    },
    /// A failure whose message contains this text.
    Error(String),
}
