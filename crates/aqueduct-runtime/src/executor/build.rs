//! Building a flow: compiling its steps and resolving every source, target
//! and call through a [`Wiring`] (the connector registry for `run`, stubs
//! and captures for flow tests). Errors are collected, not returned early.

use super::flow_task::{FlowRt, FlowStats};
use super::steps::{Batcher, CKind, CStep, Dedupe, TargetRef};
use super::{BuildError, RunOptions};
use crate::connector::{ConnectorError, Envelope, OpContext, Source};
use crate::expr::{Compiled, compile_with_clock};
use crate::native::{NativeFn, Slot};
use crate::policy::breaker::Breaker;
use crate::policy::rate_limit::RateLimiter;
use crate::policy::retry::RetryPolicy;
use crate::value::Schemas;
use aqueduct_graph::{Endpoint, Flow, ModeKind, OpRef, Origin, Schedule, Step, StepKind, Type};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Builds sources again for each scheduled run.
pub type SourceMaker = Box<dyn Fn() -> Result<Box<dyn Source>, ConnectorError> + Send + Sync>;

/// Where a flow's records come from.
pub enum Input {
    /// A connector source (built once now; rebuilt per scheduled run).
    Source {
        /// The source for the first run.
        first: Box<dyn Source>,
        /// Builds it again.
        remake: SourceMaker,
        /// When to run (batch flows).
        schedule: Option<Schedule>,
    },
    /// An in-process channel's queue for this flow.
    Channel(mpsc::Receiver<Envelope>),
    /// Envelopes fed by a test.
    Fed(mpsc::Receiver<Envelope>),
}

/// Resolves a flow's endpoints.
pub trait Wiring {
    /// The flow's input.
    fn input(&mut self, flow: &Flow) -> Result<Input, String>;
    /// A target for `ep` accepting records of type `ty`.
    fn target(&mut self, flow: &Flow, ep: &Endpoint, ty: &Type) -> Result<TargetRef, String>;
    /// [`Wiring::target`] for a step that `batched` tells whether a `batch`
    /// step precedes on its path (its writes are whole groups: see
    /// [`OpContext::batched`](crate::connector::OpContext::batched)).
    fn target_for(
        &mut self,
        flow: &Flow,
        ep: &Endpoint,
        ty: &Type,
        batched: bool,
    ) -> Result<TargetRef, String> {
        let _ = batched;
        self.target(flow, ep, ty)
    }
    /// A call for `op` answering with type `ty`.
    fn call(
        &mut self,
        flow: &Flow,
        op: &OpRef,
        ty: &Type,
    ) -> Result<Arc<dyn crate::connector::Call>, String>;
    /// The flow's dead letter (entries are JSON records).
    fn dead_letter(&mut self, flow: &Flow, ep: &Endpoint) -> Result<TargetRef, String> {
        self.target(flow, ep, &Type::Json)
    }
}

/// `file:line` of an origin, when the source text is known.
pub fn location(origin: &Origin, sources: &BTreeMap<String, Arc<str>>) -> String {
    match sources.get(&origin.file) {
        Some(text) => {
            let end = (origin.start as usize).min(text.len());
            let line = text.as_bytes()[..end]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            format!("{}:{line}", origin.file)
        }
        None if origin.file.is_empty() => "flow".to_string(),
        None => origin.file.clone(),
    }
}

struct StepBuilder<'a, W: Wiring> {
    flow: &'a Flow,
    wiring: &'a mut W,
    opts: &'a RunOptions,
    schemas: &'a Arc<Schemas>,
    errors: Vec<BuildError>,
    targets: Vec<Arc<dyn crate::connector::Target>>,
    batchers: Vec<Arc<Batcher>>,
    systems: BTreeSet<String>,
    /// A `batch` step precedes on the path being built.
    batched: bool,
}

impl<W: Wiring> StepBuilder<'_, W> {
    fn err(&mut self, origin: &Origin, message: String) {
        self.errors.push(BuildError {
            flow: self.flow.name.clone(),
            message,
            origin: origin.clone(),
        });
    }

    fn compile(&self, e: &aqueduct_graph::Expr) -> crate::expr::Compiled {
        compile_with_clock(e, self.schemas, &self.opts.clock)
    }

    /// The native implementation of `slot` of `step`, when one is registered.
    fn native(&mut self, step: &Step, slot: Slot) -> Option<NativeFn> {
        let found = self
            .opts
            .natives
            .as_ref()
            .and_then(|n| n.get(&self.flow.name, &step.id, &slot));
        if found.is_none() && self.opts.require_natives {
            self.err(
                &step.origin,
                format!(
                    "step `{}` ({slot}) has no native implementation; regenerate the service with `aqueduct build`",
                    step.id
                ),
            );
        }
        found
    }

    /// `slot` of `step`: its native implementation, else `e` compiled.
    fn expr(&mut self, step: &Step, slot: Slot, e: &aqueduct_graph::Expr) -> Compiled {
        match self.native(step, slot) {
            Some(f) => Compiled::native(e.ty.clone(), f),
            None => self.compile(e),
        }
    }

    fn target(&mut self, ep: &Endpoint, ty: &Type, origin: &Origin) -> Option<TargetRef> {
        match self.wiring.target_for(self.flow, ep, ty, self.batched) {
            Ok(t) => {
                self.targets.push(t.target.clone());
                if let Some(s) = &t.system {
                    self.systems.insert(s.clone());
                }
                Some(t)
            }
            Err(message) => {
                self.err(origin, message);
                None
            }
        }
    }

    fn steps(&mut self, steps: &[Step]) -> Arc<[CStep]> {
        // route arms inherit the path's `batch`; a `batch` in an arm ends with it
        let batched = self.batched;
        let mut out = Vec::with_capacity(steps.len());
        for step in steps {
            if let Some(kind) = self.step(step) {
                let at = location(&step.origin, &self.opts.sources);
                let metrics = self.opts.metrics.step(&self.flow.name, &step.id);
                out.push(CStep {
                    id: step.id.clone(),
                    at,
                    metrics,
                    kind,
                });
            }
        }
        self.batched = batched;
        out.into()
    }

    fn step(&mut self, step: &Step) -> Option<CKind> {
        Some(match &step.kind {
            StepKind::Where(e) => CKind::Where(self.expr(step, Slot::Where, e)),
            StepKind::Map { ty, fields } => {
                let Some(layout) = self.schemas.layout(ty).cloned() else {
                    self.err(&step.origin, format!("unknown record type `{ty}`"));
                    return None;
                };
                if let Some(f) = self.native(step, Slot::Map) {
                    return Some(CKind::MapRecord(Compiled::native(
                        Type::Record(ty.clone()),
                        f,
                    )));
                }
                CKind::Map(layout, fields.iter().map(|f| self.compile(f)).collect())
            }
            StepKind::Let { name, value } => {
                CKind::Let(name.clone(), self.expr(step, Slot::Let, value))
            }
            StepKind::Enrich { name, call, ty } => match self.wiring.call(self.flow, call, ty) {
                Ok(c) => {
                    self.systems.insert(call.system.clone());
                    CKind::Enrich {
                        name: name.clone(),
                        call: c,
                        label: format!("{}.{}", call.system, call.operation),
                        system: call.system.clone(),
                    }
                }
                Err(message) => {
                    self.err(&call.origin, message);
                    return None;
                }
            },
            StepKind::Split { list, ty } => CKind::Split(
                self.expr(step, Slot::Split, list),
                ty.clone(),
                self.schemas.clone(),
            ),
            StepKind::Batch { size, within_ms } => {
                let b = Arc::new(Batcher::new(
                    usize::try_from(*size).unwrap_or(usize::MAX),
                    within_ms.map(Duration::from_millis),
                ));
                self.batchers.push(b.clone());
                self.batched = true;
                CKind::Batch(b)
            }
            StepKind::Dedupe { key, within_ms } => CKind::Dedupe(Arc::new(Dedupe::new(
                self.expr(step, Slot::Dedupe, key),
                within_ms.map(Duration::from_millis),
                self.flow.mode.kind != ModeKind::Sync,
                format!("dedupe/{}/{}/", self.flow.name, step.id),
            ))),
            StepKind::Tap(ep) => CKind::Tap(self.target(ep, &step.input, &step.origin)?),
            StepKind::To(ep) => CKind::To(self.target(ep, &step.output, &step.origin)?),
            StepKind::Route(arms) => CKind::Route(
                arms.iter()
                    .enumerate()
                    .map(|(n, arm)| {
                        (
                            arm.condition
                                .as_ref()
                                .map(|c| self.expr(step, Slot::Route(n), c)),
                            self.steps(&arm.steps),
                        )
                    })
                    .collect(),
            ),
            StepKind::Reply(e) => CKind::Reply(self.expr(step, Slot::Reply, e), step.status),
        })
    }
}

/// Builds the run-time form of `flow`, collecting every error.
pub fn build_flow<W: Wiring>(
    flow: &Flow,
    wiring: &mut W,
    opts: &RunOptions,
    schemas: &Arc<Schemas>,
) -> Result<(Arc<FlowRt>, Input), Vec<BuildError>> {
    let mut b = StepBuilder {
        flow,
        wiring,
        opts,
        schemas,
        errors: Vec::new(),
        targets: Vec::new(),
        batchers: Vec::new(),
        systems: BTreeSet::new(),
        batched: false,
    };
    let input = match b.wiring.input(flow) {
        Ok(i) => Some(i),
        Err(message) => {
            b.err(&flow.source.origin, message);
            None
        }
    };
    let steps = b.steps(&flow.steps);
    let dead_letter = match &flow.policies.dead_letter {
        Some(ep) => match b.wiring.dead_letter(flow, ep) {
            Ok(t) => {
                b.targets.push(t.target.clone());
                Some(t)
            }
            Err(message) => {
                b.err(&flow.origin, message);
                None
            }
        },
        None => None,
    };
    let StepBuilder {
        errors,
        targets,
        batchers,
        systems,
        ..
    } = b;
    let Some(input) = input.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    // generated services run their own native expressions: never fused
    let (input, fused) = if opts.natives.is_none() {
        super::fused_group::attach(flow, schemas, &steps, input)
    } else {
        (input, None)
    };
    let p = &flow.policies;
    let breakers = match &p.circuit_breaker {
        Some(cb) => systems
            .iter()
            .map(|s| {
                let gauge = opts.metrics.breaker(&flow.name, s);
                (
                    s.clone(),
                    Breaker::new(cb.failures, Duration::from_millis(cb.reset_ms), gauge),
                )
            })
            .collect(),
        None => BTreeMap::new(),
    };
    let rt = FlowRt {
        name: flow.name.clone(),
        mode: flow.mode.kind,
        steps,
        dead_letter,
        targets,
        batchers,
        retry: RetryPolicy::from_graph(p.retry.as_ref()),
        timeout: p.timeout_ms.map(Duration::from_millis),
        rate: p
            .rate_limit
            .as_ref()
            .map(|r| RateLimiter::new(r.count, Duration::from_millis(r.per_ms))),
        // sync requests are independent: serve several callers at once by default
        concurrency: p.concurrency.map(|c| c.max(1) as usize).unwrap_or(
            if flow.mode.kind == ModeKind::Sync {
                64
            } else {
                1
            },
        ),
        chunk: flow
            .mode
            .chunk
            .map(|c| usize::try_from(c).unwrap_or(usize::MAX))
            .unwrap_or(1000)
            .max(1),
        breakers,
        state: opts.state.clone(),
        source_metrics: opts.metrics.step(&flow.name, "source"),
        dl_metrics: opts.metrics.step(&flow.name, "dead_letter"),
        stats: Arc::new(FlowStats::default()),
        fused,
        halted: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        from_channel: matches!(input, Input::Channel(_)),
    };
    Ok((Arc::new(rt), input))
}

/// What every operation of a run watches: the run's start and its stop.
#[derive(Clone)]
pub struct RunPhase {
    /// Flips to `true` once every flow was built and spawned.
    pub started: tokio::sync::watch::Receiver<bool>,
    /// Flips to `true` when the process is asked to stop.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// The operation context the registry's factories get.
pub fn op_context(
    graph: &aqueduct_graph::Graph,
    flow: &Flow,
    op: &OpRef,
    ty: &Type,
    opts: &RunOptions,
    schemas: &Arc<Schemas>,
    phase: &RunPhase,
) -> Result<OpContext, String> {
    let system = graph
        .system(&op.system)
        .ok_or_else(|| format!("uses system `{}`, which is not declared", op.system))?;
    Ok(OpContext {
        flow: flow.name.clone(),
        system: Arc::new(system.clone()),
        op: op.clone(),
        record_type: ty.clone(),
        schemas: schemas.clone(),
        mode: flow.mode.kind,
        chunk: flow
            .mode
            .chunk
            .map(|c| usize::try_from(c).unwrap_or(usize::MAX))
            .unwrap_or(1000)
            .max(1),
        state: opts.state.clone(),
        config: opts.config.clone(),
        shutdown: phase.shutdown.clone(),
        started: phase.started.clone(),
        batched: false,
        warnings: opts.warnings.clone(),
    })
}
