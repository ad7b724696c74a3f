//! The executor: [`build`] a project's flows from a [`Graph`], [`Pieces::spawn`]
//! them on tokio, [`RunningProject::wait`] for the [`RunReport`].
//!
//! Each flow is a source task → a bounded queue (`channel_capacity`, 1024)
//! → a processing task applying the steps → its targets. In-process
//! channels join flows ([`crate::channel`]); a run ends when every flow has
//! ended. Everything is built before anything starts, so a connector this
//! build cannot run, a bad option or a missing secret stops the run at
//! start-up with every problem listed, never mid-stream.
//!
//! ```no_run
//! # async fn demo(graph: aqueduct_graph::Graph, registry: aqueduct_runtime::connector::Registry) {
//! use aqueduct_runtime::executor::{build, RunOptions};
//! let pieces = build(&graph, &registry, RunOptions::default()).expect("builds");
//! aqueduct_runtime::shutdown::on_signals(pieces.shutdown_handle());
//! let running = pieces.spawn();
//! let report = running.wait().await;
//! println!("{report}");
//! # }
//! ```

mod build;
mod dedupe;
mod flow_task;
mod fused_group;
mod inbox;
mod steps;

pub use build::{Input, SourceMaker, Wiring, location};
pub use dedupe::Dedupe;
pub use flow_task::FlowStats;
use inbox::Inbox;
pub use steps::TargetRef;

/// A flow input that is one channel (the flow-test runner feeds flows so).
pub(crate) fn inbox_of(rx: tokio::sync::mpsc::Receiver<Envelope>) -> Inbox {
    Inbox::single(rx)
}

pub(crate) use build::build_flow;
pub(crate) use flow_task::FlowRt;

use crate::channel::ChannelTarget;
use crate::connector::{ConfigResolver, ConnectorError, Envelope, Registry, StateStore};
use crate::expr::Clock;
use crate::metrics::Metrics;
use crate::shutdown::{Readiness, ShutdownHandle};
use crate::value::Schemas;
use aqueduct_graph::{Endpoint, Flow, Graph, OpRef, Origin, Type};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// Only these flows (`None`: every flow).
    pub flows: Option<Vec<String>>,
    /// Positions, checkpoints, dedupe windows.
    pub state: Arc<dyn StateStore>,
    /// Resolves `env()`/`secret()` options.
    pub config: Arc<dyn ConfigResolver>,
    /// Where counters go.
    pub metrics: Arc<Metrics>,
    /// What `now()` reads.
    pub clock: Clock,
    /// How long in-flight records may take to drain after a shutdown signal.
    pub drain_timeout: Duration,
    /// Capacity of each flow's input queue and channel queue.
    pub channel_capacity: usize,
    /// The `.aq` texts by file, to turn spans into line numbers in messages.
    pub sources: BTreeMap<String, Arc<str>>,
    /// Native implementations of step expressions (generated services);
    /// used instead of compiling the graph's expressions.
    pub natives: Option<Arc<crate::native::Natives>>,
    /// Refuse to start when a step expression has no native implementation
    /// (a generated service never interprets an expression).
    pub require_natives: bool,
    /// How long a batch flow's lease lasts without renewal, with a shared
    /// state store ([`crate::lease`]): the longest a dead holder keeps the
    /// others waiting.
    pub lease_ttl: Duration,
    /// Start-up warnings of the operations built ([`OpContext::warn`]).
    pub warnings: Arc<crate::startup_warnings::StartupWarnings>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            flows: None,
            state: Arc::new(crate::state::MemoryStore::default()),
            config: Arc::new(crate::secrets::EnvConfig::new()),
            metrics: Metrics::new(),
            clock: Clock::System,
            drain_timeout: Duration::from_secs(10),
            channel_capacity: 1024,
            sources: BTreeMap::new(),
            natives: None,
            require_natives: false,
            lease_ttl: crate::lease::DEFAULT_TTL,
            warnings: Arc::default(),
        }
    }
}

/// Why a flow cannot start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    /// The flow.
    pub flow: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// Where in the project.
    pub origin: Origin,
}

/// Built flows, ready to start.
pub struct Pieces {
    flows: Vec<(Arc<FlowRt>, Input)>,
    opts: RunOptions,
    shutdown: ShutdownHandle,
    /// Flipped by [`Pieces::spawn`] ([`crate::connector::OpContext::started`]).
    started: watch::Sender<bool>,
    readiness: Arc<Readiness>,
}

/// Builds every selected flow of `graph`, reporting all problems at once.
pub fn build(
    graph: &Graph,
    registry: &Registry,
    opts: RunOptions,
) -> Result<Pieces, Vec<BuildError>> {
    let schemas = Arc::new(Schemas::new(graph));
    let shutdown = ShutdownHandle::new();
    let (started, started_rx) = watch::channel(false);
    let selected: Vec<&Flow> = graph
        .flows
        .iter()
        .filter(|f| {
            opts.flows
                .as_ref()
                .map(|names| names.contains(&f.name))
                .unwrap_or(true)
        })
        .collect();
    let mut errors = Vec::new();
    if let Some(names) = &opts.flows {
        for n in names.iter().filter(|n| graph.flow(n).is_none()) {
            errors.push(BuildError {
                flow: n.clone(),
                message: "there is no flow of that name".to_string(),
                origin: Origin::default(),
            });
        }
    }
    let mut wiring = RegistryWiring::new(
        graph,
        registry,
        &opts,
        &schemas,
        build::RunPhase {
            started: started_rx,
            shutdown: shutdown.receiver(),
        },
        &selected,
    );
    errors.extend(wiring.prepare_targets(&selected));
    let mut flows = Vec::new();
    for flow in &selected {
        match build_flow(flow, &mut wiring, &opts, &schemas) {
            Ok(built) => flows.push(built),
            Err(e) => errors.extend(e),
        }
    }
    drop(wiring);
    // the same missing connector used twice is one problem
    let mut seen = std::collections::BTreeSet::new();
    errors.retain(|e| seen.insert((e.flow.clone(), e.message.clone())));
    if !errors.is_empty() {
        return Err(errors);
    }
    let readiness = Arc::new(Readiness::new(flows.len()));
    Ok(Pieces {
        flows,
        opts,
        shutdown,
        started,
        readiness,
    })
}

impl Pieces {
    /// A handle that asks every flow to stop, before they start: hand it
    /// to [`crate::shutdown::on_signals`] first, so that a signal that
    /// comes while the flows start is caught.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Starts every flow (call inside a tokio runtime).
    pub fn spawn(self) -> RunningProject {
        let Pieces {
            flows,
            opts,
            shutdown,
            started,
            readiness,
        } = self;
        let mut tasks = Vec::new();
        for (rt, input) in flows {
            let stats = rt.stats.clone();
            let name = rt.name.clone();
            let halted = rt.halted.clone();
            let task = tokio::spawn(run_flow(
                rt,
                input,
                opts.channel_capacity,
                opts.lease_ttl,
                shutdown.receiver(),
                readiness.clone(),
            ));
            tasks.push((name, task, stats, halted));
        }
        // every route of every flow is in place: inbound servers answer now
        started.send_replace(true);
        readiness.running.store(true, Ordering::SeqCst);
        RunningProject {
            tasks,
            shutdown,
            drain: opts.drain_timeout,
            metrics: opts.metrics,
            readiness,
        }
    }
}

async fn run_flow(
    rt: Arc<FlowRt>,
    input: Input,
    capacity: usize,
    lease_ttl: Duration,
    mut shutdown: watch::Receiver<bool>,
    readiness: Arc<Readiness>,
) -> Result<(), String> {
    let stopping = shutdown.clone();
    // with a shared state store, batch flows run in one process at a time
    let lease = match (&input, rt.mode) {
        (Input::Source { .. }, aqueduct_graph::ModeKind::Batch) => {
            crate::lease::FlowLease::for_flow(&rt.state, &rt.name, lease_ttl)
        }
        _ => None,
    };
    // a batch flow run once holds its lease for the whole run, processing
    // and the targets' finish included (a scheduled one: see `drive`)
    let mut held = None;
    // a process waiting for the lease is ready (it is healthy, not stuck)
    let waits_for_lease = matches!(
        (&lease, &input),
        (Some(_), Input::Source { schedule: None, .. })
    );
    if let (Some(lease), true) = (&lease, waits_for_lease) {
        readiness.source_started();
        match lease.acquire(&mut shutdown).await {
            crate::lease::Acquired::Stopped => return Ok(()),
            crate::lease::Acquired::Held {
                after_complete_run: true,
            } => {
                tracing::info!(flow = %rt.name, "Another process ran this batch flow to completion; this one does not run it again.");
                lease.release(true).await;
                return Ok(());
            }
            crate::lease::Acquired::Held { .. } => held = Some(lease.hold()),
        }
    }
    let (rx, source) = match input {
        Input::Channel(rx) | Input::Fed(rx) => {
            readiness.source_started();
            (Inbox::single(rx), None)
        }
        Input::Source {
            first,
            remake,
            schedule,
        } => {
            let (runs, rx) = mpsc::channel(1);
            let name = rt.name.clone();
            if !waits_for_lease {
                readiness.source_started();
            }
            let scheduled_lease = if schedule.is_some() {
                lease.clone()
            } else {
                None
            };
            let task = tokio::spawn(crate::schedule::drive(
                name,
                first,
                remake,
                schedule,
                crate::schedule::Feed::Runs { runs, capacity },
                shutdown,
                rt.stats.clone(),
                scheduled_lease,
            ));
            (Inbox::runs(rx), Some(task))
        }
    };
    tracing::info!(flow = %rt.name, "Flow started.");
    let work = async {
        let processed = rt.clone().process(rx).await;
        let sourced = match source {
            Some(task) => match task.await {
                Ok(r) => r,
                Err(e) => Err(format!("the source task stopped: {e}")),
            },
            None => Ok(()),
        };
        processed.and(sourced)
    };
    // pinned out here, so that on a lost lease it is dropped only after
    // `halted` is set
    tokio::pin!(work);
    let mut result = match held.as_mut() {
        None => (&mut work).await,
        Some(h) => tokio::select! {
            result = &mut work => result,
            _ = h.lost() => {
                // the records in flight, dropped with `work`, stay unacknowledged
                rt.halted.store(true, Ordering::SeqCst);
                Err("this process lost the flow's lease mid-run (another process may run it now); stopped".to_string())
            }
        },
    };
    if result.is_ok() && !*stopping.borrow() {
        // the input ended by itself: the run is complete
        for t in &rt.targets {
            if let Err(e) = t.finish().await {
                result = Err(format!(
                    "finishing a target failed: {}",
                    crate::secrets::redact(&e.to_string())
                ));
                break;
            }
        }
    }
    if let (Some(lease), Some(held)) = (&lease, held) {
        drop(held);
        lease.release(result.is_ok() && !*stopping.borrow()).await;
    }
    match &result {
        Ok(()) => {
            let [received, delivered, filtered, failed, dead_lettered] = rt.stats.snapshot();
            tracing::info!(
                flow = %rt.name,
                received,
                delivered,
                filtered,
                failed,
                dead_lettered,
                "Flow ended."
            )
        }
        Err(error) => {
            // marked first: whoever reads the log line finds /healthz failing
            readiness.flow_failed(&rt.name);
            tracing::error!(flow = %rt.name, %error, "Flow failed.");
        }
    }
    result
}

/// A spawned flow: its name, task, counters and [`FlowRt::halted`].
type FlowTask = (
    String,
    tokio::task::JoinHandle<Result<(), String>>,
    Arc<FlowStats>,
    Arc<std::sync::atomic::AtomicBool>,
);

/// Flows running on tokio.
pub struct RunningProject {
    tasks: Vec<FlowTask>,
    shutdown: ShutdownHandle,
    drain: Duration,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
}

impl RunningProject {
    /// A handle that asks every flow to stop (sources stop, in-flight records drain).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// The run's metrics (for `admin::serve`).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Liveness and readiness (for `admin::serve`).
    pub fn readiness(&self) -> Arc<Readiness> {
        self.readiness.clone()
    }

    /// Waits until every flow has ended; after a shutdown signal, waits at
    /// most the drain timeout, then stops what is left.
    pub async fn wait(self) -> RunReport {
        let RunningProject {
            tasks,
            shutdown,
            drain,
            ..
        } = self;
        let aborts: Vec<_> = tasks
            .iter()
            .map(|(_, t, _, halted)| (t.abort_handle(), halted.clone()))
            .collect();
        let (names, handles, stats): (Vec<_>, Vec<_>, Vec<_>) = tasks.into_iter().fold(
            (Vec::new(), Vec::new(), Vec::new()),
            |(mut n, mut h, mut s), (name, handle, st, _)| {
                n.push(name);
                h.push(handle);
                s.push(st);
                (n, h, s)
            },
        );
        let joined = futures::future::join_all(handles);
        tokio::pin!(joined);
        let mut rx = shutdown.receiver();
        let deadline = async move {
            let _ = rx.wait_for(|stop| *stop).await;
            tokio::time::sleep(drain).await;
        };
        let results = tokio::select! {
            r = &mut joined => r,
            _ = deadline => {
                tracing::warn!(drain_secs = drain.as_secs_f64(), "Flows did not drain in time; stopping them.");
                // halted first: the records the abort drops were not
                // finished, and must not be acknowledged as they go
                for (abort, halted) in &aborts {
                    halted.store(true, Ordering::SeqCst);
                    abort.abort();
                }
                joined.await
            }
        };
        let flows = names
            .into_iter()
            .zip(results)
            .zip(stats)
            .map(|((name, r), s)| FlowReport {
                name,
                received: s.received.load(Ordering::Relaxed),
                delivered: s.delivered.load(Ordering::Relaxed),
                filtered: s.filtered.load(Ordering::Relaxed),
                failed: s.failed.load(Ordering::Relaxed),
                dead_lettered: s.dead_lettered.load(Ordering::Relaxed),
                error: match r {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(e) if e.is_cancelled() => Some(format!(
                        "stopped before in-flight records drained ({drain:?})"
                    )),
                    Err(e) => Some(format!("the flow task panicked: {e}")),
                },
            })
            .collect();
        RunReport { flows }
    }
}

/// What a run did, per flow.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunReport {
    /// One entry per flow, in graph order.
    pub flows: Vec<FlowReport>,
}

/// What one flow did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FlowReport {
    /// Flow name.
    pub name: String,
    /// Records taken from the source.
    pub received: u64,
    /// Records accepted by targets (once per target), and replies sent.
    pub delivered: u64,
    /// Records dropped by `where`/`dedupe` (and records no `route` arm takes).
    pub filtered: u64,
    /// Records that failed.
    pub failed: u64,
    /// Records the dead letter took.
    pub dead_lettered: u64,
    /// Why the flow stopped, when it failed.
    pub error: Option<String>,
}

impl RunReport {
    /// True when no flow failed.
    pub fn ok(&self) -> bool {
        self.flows.iter().all(|f| f.error.is_none())
    }

    /// The report of flow `name`.
    pub fn flow(&self, name: &str) -> Option<&FlowReport> {
        self.flows.iter().find(|f| f.name == name)
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.flows {
            write!(
                f,
                "{}: {} in, {} delivered, {} filtered, {} failed, {} dead-lettered",
                r.name, r.received, r.delivered, r.filtered, r.failed, r.dead_lettered
            )?;
            match &r.error {
                Some(e) => writeln!(f, " — FAILED: {e}")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}

/// Resolves endpoints through the connector registry and in-process channels.
struct RegistryWiring<'a> {
    graph: &'a Graph,
    registry: &'a Registry,
    opts: &'a RunOptions,
    schemas: &'a Arc<Schemas>,
    phase: build::RunPhase,
    channel_inputs: BTreeMap<String, mpsc::Receiver<Envelope>>,
    channel_targets: BTreeMap<String, Arc<ChannelTarget>>,
}

impl<'a> RegistryWiring<'a> {
    fn new(
        graph: &'a Graph,
        registry: &'a Registry,
        opts: &'a RunOptions,
        schemas: &'a Arc<Schemas>,
        phase: build::RunPhase,
        selected: &[&Flow],
    ) -> RegistryWiring<'a> {
        let mut senders: BTreeMap<String, Vec<mpsc::Sender<Envelope>>> = BTreeMap::new();
        let mut channel_inputs = BTreeMap::new();
        for flow in selected {
            if let Endpoint::Channel(name) = &flow.source.endpoint
                && graph.channel(name).is_some_and(|c| c.via.is_none())
            {
                let (tx, rx) = mpsc::channel(opts.channel_capacity.max(1));
                senders.entry(name.clone()).or_default().push(tx);
                channel_inputs.insert(flow.name.clone(), rx);
            }
        }
        let channel_targets = graph
            .channels
            .iter()
            .filter(|c| c.via.is_none())
            .map(|c| {
                (
                    c.name.clone(),
                    Arc::new(ChannelTarget::new(
                        &c.name,
                        senders.remove(&c.name).unwrap_or_default(),
                    )),
                )
            })
            .collect();
        RegistryWiring {
            graph,
            registry,
            opts,
            schemas,
            phase,
            channel_inputs,
            channel_targets,
        }
    }

    fn factory(&self, op: &OpRef) -> Result<Arc<dyn crate::connector::ConnectorFactory>, String> {
        self.registry.get(&op.connector).cloned().ok_or_else(|| {
            format!(
                "connector `{}` cannot run in this build of aqueduct yet",
                op.connector
            )
        })
    }

    fn cx(
        &self,
        flow: &Flow,
        op: &OpRef,
        ty: &Type,
    ) -> Result<crate::connector::OpContext, String> {
        build::op_context(
            self.graph,
            flow,
            op,
            ty,
            self.opts,
            self.schemas,
            &self.phase,
        )
    }

    /// Lets each connector prepare the targets of the project on the
    /// systems the selected flows use (`sqlite` creates tables), before
    /// anything is built: a flow reading what another flow's target creates
    /// does not depend on which flow starts first, nor on that flow being
    /// selected. A target's own build reports its errors again; only
    /// targets of unselected flows report theirs here.
    fn prepare_targets(&self, selected: &[&Flow]) -> Vec<BuildError> {
        let mut used = std::collections::BTreeSet::new();
        for flow in selected {
            flow_ops(self.graph, flow, &mut |op, _| {
                used.insert(op.system.clone());
            });
        }
        let mut errors = Vec::new();
        for flow in &self.graph.flows {
            let is_selected = selected.iter().any(|f| f.name == flow.name);
            let mut targets = Vec::new();
            flow_ops(self.graph, flow, &mut |op, ty| {
                if let Some(ty) = ty
                    && used.contains(&op.system)
                {
                    targets.push((op.clone(), ty.clone()));
                }
            });
            for (op, ty) in targets {
                let Ok(factory) = self.factory(&op) else {
                    continue;
                };
                let prepared = self.cx(flow, &op, &ty).and_then(|cx| {
                    factory
                        .prepare(&cx)
                        .map_err(|e| op_error(&format!("{}.{}", op.system, op.operation), &e))
                });
                if let Err(message) = prepared
                    && !is_selected
                {
                    errors.push(BuildError {
                        flow: flow.name.clone(),
                        message,
                        origin: op.origin.clone(),
                    });
                }
            }
        }
        errors
    }

    fn source_op(&self, flow: &Flow, op: &OpRef, ty: &Type) -> Result<Input, String> {
        let factory = self.factory(op)?;
        let cx = self.cx(flow, op, ty)?;
        let label = format!("{}.{}", op.system, op.operation);
        let first = factory.source(&cx).map_err(|e| op_error(&label, &e))?;
        let remake: SourceMaker = Box::new(move || factory.source(&cx));
        let schedule = flow.mode.schedule.clone();
        if let Some(aqueduct_graph::Schedule::Cron(expr)) = &schedule {
            crate::schedule::parse_cron(expr).map_err(|e| e.to_string())?;
        }
        Ok(Input::Source {
            first,
            remake,
            schedule,
        })
    }
}

/// A connector's start-up error; the flow is named once, by whoever shows
/// the [`BuildError`] (`flow `x`: …`).
fn op_error(label: &str, e: &ConnectorError) -> String {
    format!("`{label}`: {}", crate::secrets::redact(&e.to_string()))
}

/// Calls `f` for every operation `flow` uses: its source, enrich calls and
/// dead letter with `None`, its targets (`to`, `tap`, in every route arm)
/// with the type of the records they get. Channels count by their `via`.
fn flow_ops(graph: &Graph, flow: &Flow, f: &mut dyn FnMut(&OpRef, Option<&Type>)) {
    let op_of = |ep: &Endpoint| -> Option<OpRef> {
        match ep {
            Endpoint::Op(op) => Some(op.clone()),
            Endpoint::Channel(name) => graph.channel(name).and_then(|c| c.via.clone()),
        }
    };
    if let Some(op) = op_of(&flow.source.endpoint) {
        f(&op, None);
    }
    if let Some(op) = flow.policies.dead_letter.as_ref().and_then(op_of) {
        f(&op, None);
    }
    fn walk(
        steps: &[aqueduct_graph::Step],
        op_of: &dyn Fn(&Endpoint) -> Option<OpRef>,
        f: &mut dyn FnMut(&OpRef, Option<&Type>),
    ) {
        use aqueduct_graph::StepKind;
        for step in steps {
            match &step.kind {
                StepKind::Enrich { call, .. } => f(call, None),
                StepKind::To(ep) => {
                    if let Some(op) = op_of(ep) {
                        f(&op, Some(&step.output));
                    }
                }
                StepKind::Tap(ep) => {
                    if let Some(op) = op_of(ep) {
                        f(&op, Some(&step.input));
                    }
                }
                StepKind::Route(arms) => {
                    for arm in arms {
                        walk(&arm.steps, op_of, f);
                    }
                }
                _ => {}
            }
        }
    }
    walk(&flow.steps, &op_of, f);
}

impl Wiring for RegistryWiring<'_> {
    fn input(&mut self, flow: &Flow) -> Result<Input, String> {
        match &flow.source.endpoint {
            Endpoint::Op(op) => self.source_op(flow, op, &flow.source.record_type),
            Endpoint::Channel(name) => {
                let channel = self
                    .graph
                    .channel(name)
                    .ok_or_else(|| format!("channel `{name}` is not declared"))?;
                match &channel.via {
                    Some(op) => self.source_op(flow, op, &channel.ty),
                    None => self
                        .channel_inputs
                        .remove(&flow.name)
                        .map(Input::Channel)
                        .ok_or_else(|| format!("reads channel `{name}` twice")),
                }
            }
        }
    }

    fn target(&mut self, flow: &Flow, ep: &Endpoint, ty: &Type) -> Result<TargetRef, String> {
        self.target_for(flow, ep, ty, false)
    }

    fn target_for(
        &mut self,
        flow: &Flow,
        ep: &Endpoint,
        ty: &Type,
        batched: bool,
    ) -> Result<TargetRef, String> {
        let op = match ep {
            Endpoint::Op(op) => op,
            Endpoint::Channel(name) => {
                let channel = self
                    .graph
                    .channel(name)
                    .ok_or_else(|| format!("channel `{name}` is not declared"))?;
                match &channel.via {
                    Some(op) => op,
                    None => {
                        let target = self
                            .channel_targets
                            .get(name)
                            .cloned()
                            .ok_or_else(|| format!("channel `{name}` is not declared"))?;
                        return Ok(TargetRef {
                            label: name.clone(),
                            system: None,
                            target: target.clone(),
                            channel: Some(target),
                        });
                    }
                }
            }
        };
        let factory = self.factory(op)?;
        let mut cx = self.cx(flow, op, ty)?;
        cx.batched = batched;
        let label = format!("{}.{}", op.system, op.operation);
        let target = factory.target(&cx).map_err(|e| op_error(&label, &e))?;
        Ok(TargetRef {
            label,
            system: Some(op.system.clone()),
            target,
            channel: None,
        })
    }

    fn call(
        &mut self,
        flow: &Flow,
        op: &OpRef,
        ty: &Type,
    ) -> Result<Arc<dyn crate::connector::Call>, String> {
        let factory = self.factory(op)?;
        let cx = self.cx(flow, op, ty)?;
        factory
            .call(&cx)
            .map_err(|e| op_error(&format!("{}.{}", op.system, op.operation), &e))
    }
}
