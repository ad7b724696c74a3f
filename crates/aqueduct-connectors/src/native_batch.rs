//! Batch flows run natively by generated services: `file.read` of JSONL
//! through `where` and `map` into `file.append` JSONL targets (and a JSONL
//! `file.append` dead letter), typed from end to end.
//!
//! `aqueduct build` generates, for a flow of that shape, a function taking
//! the source's struct and writing the target's struct as JSON text
//! ([`NativeFlow`]); this module runs it. Each line is decoded straight into
//! the struct (serde, from the line's text), the steps are plain Rust calls,
//! and the result is encoded straight into the target's buffer
//! ([`aqueduct_runtime::native::fast::JsonOut`]): no run-time `Value` and no
//! executor between the steps.
//!
//! The semantics are those of `aqueduct run` on the same flow, by
//! construction where it matters:
//! - lines are split by the file connector's own [`LineSplitter`] (offsets,
//!   line endings, invalid UTF-8, `max_record_size`); a line the typed
//!   decoder does not take is decoded by the connector's own decoder, which
//!   accepts what it accepts (the record then goes on natively) or gives the
//!   very error `run` dead-letters;
//! - dead-letter entries are the runtime's ([`aqueduct_runtime::dead_letter`]);
//! - the position is the `file.read` checkpoint, the very same type
//!   ([`crate::file::checkpoint`]): every `chunk` records and at each file's end, stored
//!   only once the targets' bytes before it are synced (`sync_data`), the
//!   sync and the store running in the background while the next chunk is
//!   processed, as `run`'s group commit does. A killed run resumes after the
//!   last stored position, whichever of `run` and the service wrote it.
//!
//! [`plan`] says whether a flow can run this way at run time (JSONL formats,
//! fixed target paths, no schedule, a state store of one process); when it
//! cannot, the service runs the flow on the executor with its native steps.

mod commit;
mod drive;

use crate::formats::{Codec, Format, LineSplitter};
use crate::support::args::{Options, req_str};
use crate::support::template::Template;
use aqueduct_graph::{Endpoint, Flow, Graph, ModeKind, OpRef, StepKind, Type};
use aqueduct_runtime::connector::{ConfigResolver, OpContext, StateStore};
use aqueduct_runtime::executor::FlowReport;
use aqueduct_runtime::expr::{Bindings, EvalError};
use aqueduct_runtime::metrics::Metrics;
use aqueduct_runtime::native::NativeValue;
use aqueduct_runtime::native::fast::JsonOut;
use aqueduct_runtime::value::{Schemas, Value};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// What the generated code writes one record's results into: one buffer
/// per `to` target of the flow, in step order.
pub struct Out {
    bufs: Vec<Vec<u8>>,
    delivered: u64,
    filtered: bool,
}

impl Out {
    fn new(targets: usize) -> Out {
        Out {
            bufs: (0..targets).map(|_| Vec::with_capacity(1 << 16)).collect(),
            delivered: 0,
            filtered: false,
        }
    }

    /// Appends `record` as one JSONL line to target `target` (its place
    /// among the flow's `to` steps).
    pub fn deliver<T: JsonOut + ?Sized>(&mut self, target: usize, record: &T) {
        if let Some(buf) = self.bufs.get_mut(target) {
            record.write_json(buf);
            buf.push(b'\n');
            self.delivered += 1;
        }
    }

    /// The record was dropped by a `where`.
    pub fn filtered(&mut self) {
        self.filtered = true;
    }
}

/// A record that failed at a step: it goes to the dead letter as `run`'s would.
#[derive(Debug)]
pub struct Failed {
    step: &'static str,
    error: String,
    record: Value,
}

impl Failed {
    /// Step `step` (its id) failed with `error` on `record` (the record it received).
    pub fn at(step: &'static str, error: EvalError, record: Value) -> Failed {
        Failed {
            step,
            error: error.message,
            record,
        }
    }
}

/// The generated function for one record: the steps, then the deliveries.
pub type RecordFn<I> = fn(I, &Bindings, &mut Out) -> Result<(), Failed>;

/// The typed decoder of the source's struct (`serde_json::from_str`);
/// `None` hands the line to the connector's decoder.
pub type DecodeFn<I> = fn(&str) -> Option<I>;

type Runner = dyn Fn(Plan) -> FlowReport + Send + Sync;

/// A flow a generated service can run natively.
#[derive(Clone)]
pub struct NativeFlow {
    flow: &'static str,
    run: Arc<Runner>,
}

impl NativeFlow {
    /// Flow `flow`, whose source records are `I`.
    pub fn new<I: NativeValue + Send + 'static>(
        flow: &'static str,
        decode: DecodeFn<I>,
        record: RecordFn<I>,
    ) -> NativeFlow {
        NativeFlow {
            flow,
            run: Arc::new(move |plan| drive::run(plan, decode, record)),
        }
    }

    /// The flow's name.
    pub fn flow(&self) -> &'static str {
        self.flow
    }

    /// Runs the flow to the end of its input (or a shutdown, or a failure).
    pub async fn run(&self, mut plan: Plan) -> FlowReport {
        plan.handle = Some(tokio::runtime::Handle::current());
        let run = self.run.clone();
        let name = plan.flow.clone();
        match tokio::task::spawn_blocking(move || run(plan)).await {
            Ok(report) => report,
            Err(e) => drive::report(&name, Default::default(), Some(format!("stopped: {e}"))),
        }
    }
}

/// Where a native flow reads, writes and keeps its position, resolved at start-up.
pub struct Plan {
    flow: String,
    root: PathBuf,
    glob: String,
    codec: Codec,
    key: String,
    chunk: usize,
    state: Arc<dyn StateStore>,
    targets: Vec<PathBuf>,
    dead_letter: Option<PathBuf>,
    /// The service's metrics (`/metrics`): the flow's source and dead
    /// letter counters, and the failures of its steps.
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    handle: Option<tokio::runtime::Handle>,
}

impl Plan {
    fn splitter(&self, offset: u64, line: u64) -> LineSplitter {
        self.codec.splitter(offset, line)
    }
}

/// How flow `name` of `graph` runs natively; `Err` says why it cannot (the
/// service then runs it on the executor).
pub fn plan(
    graph: &Graph,
    name: &str,
    config: Arc<dyn ConfigResolver>,
    state: Arc<dyn StateStore>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) -> Result<Plan, String> {
    let flow = graph
        .flow(name)
        .ok_or_else(|| format!("no flow `{name}`"))?;
    if flow.mode.kind != ModeKind::Batch {
        return Err("not a batch flow".into());
    }
    if flow.mode.schedule.is_some() {
        return Err("it runs on a schedule".into());
    }
    if state.shared() {
        return Err("the state store is shared: batch flows run under a lease".into());
    }
    let schemas = Arc::new(Schemas::new(graph));
    let cx = |op: &OpRef, ty: &Type| -> Result<OpContext, String> {
        let system = graph
            .system(&op.system)
            .ok_or_else(|| format!("system `{}` is not declared", op.system))?;
        Ok(OpContext {
            flow: flow.name.clone(),
            system: Arc::new(system.clone()),
            op: op.clone(),
            record_type: ty.clone(),
            schemas: schemas.clone(),
            mode: flow.mode.kind,
            chunk: chunk(flow),
            state: state.clone(),
            config: config.clone(),
            shutdown: shutdown.clone(),
            // the native path runs as soon as it is planned
            started: watch::channel(true).1,
            batched: false,
            // nothing reports them here; pushing still logs each one
            warnings: Arc::default(),
        })
    };
    let Endpoint::Op(source) = &flow.source.endpoint else {
        return Err("its source is a channel".into());
    };
    if (source.connector.as_str(), source.operation.as_str()) != ("file", "read") {
        return Err("its source is not `file.read`".into());
    }
    let scx = cx(source, &flow.source.record_type)?;
    let glob = req_str(&scx, "glob").map_err(|e| e.to_string())?;
    let codec = Codec::from_args(&scx, Some(&glob), Format::Jsonl).map_err(|e| e.to_string())?;
    if codec.format != Format::Jsonl {
        return Err(format!("it reads {}, not jsonl", codec.format.name()));
    }
    let mut targets = Vec::new();
    for step in &flow.steps {
        match &step.kind {
            StepKind::Where(_) | StepKind::Map { .. } => {}
            StepKind::To(ep) => targets.push(append_path(ep, &step.input, &cx)?),
            _ => return Err(format!("step {} is not where, map or to", step.id)),
        }
    }
    let dead_letter = match &flow.policies.dead_letter {
        Some(ep) => Some(append_path(ep, &Type::Json, &cx)?),
        None => None,
    };
    Ok(Plan {
        flow: flow.name.clone(),
        root: root(&scx)?,
        key: format!("file:{}:{}", flow.name, glob),
        glob,
        codec,
        chunk: chunk(flow),
        state,
        targets,
        dead_letter,
        metrics,
        shutdown,
        handle: None,
    })
}

fn chunk(flow: &Flow) -> usize {
    flow.mode
        .chunk
        .map(|c| usize::try_from(c).unwrap_or(usize::MAX))
        .unwrap_or(1000)
        .max(1)
}

fn root(cx: &OpContext) -> Result<PathBuf, String> {
    Ok(PathBuf::from(
        Options::of(cx)
            .string("root")
            .map_err(|e| e.to_string())?
            .unwrap_or_else(|| ".".to_string()),
    ))
}

/// The file a `file.append` JSONL target with a fixed path writes.
fn append_path(
    ep: &Endpoint,
    ty: &Type,
    cx: &dyn Fn(&OpRef, &Type) -> Result<OpContext, String>,
) -> Result<PathBuf, String> {
    let Endpoint::Op(op) = ep else {
        return Err("a target is a channel".into());
    };
    if (op.connector.as_str(), op.operation.as_str()) != ("file", "append") {
        return Err(format!(
            "target `{}.{}` is not `file.append`",
            op.system, op.operation
        ));
    }
    let tcx = cx(op, ty)?;
    let expr = op
        .arg("path")
        .ok_or_else(|| "a target has no path".to_string())?;
    let path = Template::new(expr, &tcx.schemas)?;
    let shape = path.shape(|_| "\0".to_string());
    if shape.contains('\0') {
        return Err("a target's path reads the record".into());
    }
    let codec = Codec::from_args(&tcx, Some(&shape), Format::Jsonl).map_err(|e| e.to_string())?;
    if codec.format != Format::Jsonl {
        return Err(format!(
            "a target writes {}, not jsonl",
            codec.format.name()
        ));
    }
    Ok(root(&tcx)?.join(shape))
}
