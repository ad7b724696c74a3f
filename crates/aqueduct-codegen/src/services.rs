//! Services: which flows run together, and the sub-graph each one embeds.
//!
//! Flows joined by an in-process channel (`channel c: T` without `via`)
//! must share a process, so they form one service; flows joined through a
//! broker (`via`) are separate services. Each service embeds the part of
//! the graph it runs: its flows, the systems and channels they use, the
//! record types they need, and their tests.

use crate::names;
use aqueduct_graph::{
    ConfigValue, Endpoint, Flow, Graph, ModeKind, OpRef, Schedule, Step, StepKind, Type,
};
use std::collections::{BTreeMap, BTreeSet};

/// One service: a crate and a deployable unit.
#[derive(Debug, Clone)]
pub struct Service {
    /// Crate and directory name (`import-orders`).
    pub name: String,
    /// Its flows, in graph order.
    pub flows: Vec<String>,
    /// The sub-graph it embeds.
    pub graph: Graph,
}

/// How a service is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Long-running (sync, async, `every` schedules, or a mix).
    Deployment,
    /// Batch flows on one cron schedule: one run per firing.
    CronJob,
    /// Batch flows without a schedule: run to completion once.
    Job,
}

/// Groups the flows of `graph` into services (flows joined by in-process
/// channels together), in the order of their first flow.
pub fn group(graph: &Graph) -> Vec<Vec<String>> {
    let names: Vec<&str> = graph.flows.iter().map(|f| f.name.as_str()).collect();
    let mut parent: Vec<usize> = (0..names.len()).collect();
    fn find(parent: &mut [usize], i: usize) -> usize {
        let mut i = i;
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let index = |n: &str| names.iter().position(|x| *x == n);
    for channel in graph.channels.iter().filter(|c| c.via.is_none()) {
        let members: Vec<usize> = channel
            .producers
            .iter()
            .chain(&channel.consumers)
            .filter_map(|n| index(n))
            .collect();
        for pair in members.windows(2) {
            let (a, b) = (find(&mut parent, pair[0]), find(&mut parent, pair[1]));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push((*n).to_string());
    }
    groups.into_values().collect()
}

/// The service running `flows` (a group from [`group`]).
pub fn service(graph: &Graph, flows: &[String]) -> Service {
    let selected: Vec<&Flow> = graph
        .flows
        .iter()
        .filter(|f| flows.contains(&f.name))
        .collect();
    let mut systems = BTreeSet::new();
    let mut channels = BTreeSet::new();
    let mut types = BTreeSet::new();
    for flow in &selected {
        endpoint(&flow.source.endpoint, &mut systems, &mut channels);
        type_names(&flow.source.record_type, &mut types);
        if let Some(dl) = &flow.policies.dead_letter {
            endpoint(dl, &mut systems, &mut channels);
        }
        steps(&flow.steps, &mut systems, &mut channels, &mut types);
    }
    for c in graph.channels.iter().filter(|c| channels.contains(&c.name)) {
        type_names(&c.ty, &mut types);
        if let Some(op) = &c.via {
            systems.insert(op.system.clone());
        }
    }
    let tests: Vec<_> = graph
        .tests
        .iter()
        .filter(|t| flows.contains(&t.flow))
        .cloned()
        .collect();
    for t in &tests {
        for v in t.given.iter().chain(t.stubs.iter().map(|s| &s.value)) {
            value_types(v, &mut types);
        }
        for e in &t.expects {
            if let aqueduct_graph::Expected::Record(v) | aqueduct_graph::Expected::Reply(v) =
                &e.what
            {
                value_types(v, &mut types);
            }
        }
    }
    // record types reachable through fields
    loop {
        let before = types.len();
        for t in graph
            .types
            .iter()
            .filter(|t| types.contains(&t.name))
            .cloned()
            .collect::<Vec<_>>()
        {
            for f in &t.fields {
                type_names(&f.ty, &mut types);
            }
        }
        if types.len() == before {
            break;
        }
    }
    let sub = Graph {
        project: graph.project.clone(),
        types: graph
            .types
            .iter()
            .filter(|t| types.contains(&t.name))
            .cloned()
            .collect(),
        systems: graph
            .systems
            .iter()
            .filter(|s| systems.contains(&s.name))
            .cloned()
            .collect(),
        channels: graph
            .channels
            .iter()
            .filter(|c| channels.contains(&c.name))
            .cloned()
            .collect(),
        flows: selected.into_iter().cloned().collect(),
        tests,
        topology: Default::default(),
    };
    Service {
        name: names::kebab(flows.first().map(String::as_str).unwrap_or("service")),
        flows: flows.to_vec(),
        graph: sub,
    }
}

fn op(op: &OpRef, systems: &mut BTreeSet<String>) {
    systems.insert(op.system.clone());
}

fn endpoint(ep: &Endpoint, systems: &mut BTreeSet<String>, channels: &mut BTreeSet<String>) {
    match ep {
        Endpoint::Op(o) => op(o, systems),
        Endpoint::Channel(c) => {
            channels.insert(c.clone());
        }
    }
}

fn steps(
    steps: &[Step],
    systems: &mut BTreeSet<String>,
    channels: &mut BTreeSet<String>,
    types: &mut BTreeSet<String>,
) {
    for s in steps {
        type_names(&s.input, types);
        type_names(&s.output, types);
        match &s.kind {
            StepKind::Enrich { call, ty, .. } => {
                op(call, systems);
                type_names(ty, types);
            }
            StepKind::Split { ty, .. } => type_names(ty, types),
            StepKind::Map { ty, .. } => {
                types.insert(ty.clone());
            }
            StepKind::Tap(ep) | StepKind::To(ep) => endpoint(ep, systems, channels),
            StepKind::Route(arms) => {
                for arm in arms {
                    self::steps(&arm.steps, systems, channels, types);
                }
            }
            _ => {}
        }
        for e in crate::steps::exprs_of(s) {
            expr_types(e, types);
        }
    }
}

fn expr_types(e: &aqueduct_graph::Expr, types: &mut BTreeSet<String>) {
    type_names(&e.ty, types);
    use aqueduct_graph::ExprKind as K;
    match &e.kind {
        K::Record { ty, fields } => {
            types.insert(ty.clone());
            fields.iter().for_each(|f| expr_types(f, types));
        }
        K::Field { base, .. } => expr_types(base, types),
        K::Index { base, index } => {
            expr_types(base, types);
            expr_types(index, types);
        }
        K::Unary { expr, .. } => expr_types(expr, types),
        K::Convert { to, expr } => {
            type_names(to, types);
            expr_types(expr, types);
        }
        K::Binary { lhs, rhs, .. } => {
            expr_types(lhs, types);
            expr_types(rhs, types);
        }
        K::If {
            cond,
            then,
            otherwise,
        } => {
            expr_types(cond, types);
            expr_types(then, types);
            if let Some(o) = otherwise {
                expr_types(o, types);
            }
        }
        K::Call { args, .. } | K::List(args) | K::Interpolate(args) => {
            args.iter().for_each(|a| expr_types(a, types))
        }
        K::Object(fields) => fields.iter().for_each(|(_, a)| expr_types(a, types)),
        K::Lit(v) => value_types(v, types),
        K::Current | K::Binding(_) => {}
    }
}

fn value_types(v: &aqueduct_graph::Value, types: &mut BTreeSet<String>) {
    use aqueduct_graph::Value as V;
    match v {
        V::Record { ty, fields } => {
            types.insert(ty.clone());
            fields.iter().for_each(|f| value_types(f, types));
        }
        V::List(items) => items.iter().for_each(|i| value_types(i, types)),
        V::Object(fields) => fields.iter().for_each(|(_, f)| value_types(f, types)),
        _ => {}
    }
}

fn type_names(ty: &Type, out: &mut BTreeSet<String>) {
    match ty {
        Type::Record(n) => {
            out.insert(n.clone());
        }
        Type::List(t) | Type::Optional(t) => type_names(t, out),
        _ => {}
    }
}

impl Service {
    /// How the service is deployed.
    pub fn workload(&self) -> Workload {
        let flows = &self.graph.flows;
        if flows.iter().all(|f| f.mode.kind == ModeKind::Batch) {
            let mut schedules: Vec<Option<&Schedule>> = Vec::new();
            for f in flows {
                if !schedules.contains(&f.mode.schedule.as_ref()) {
                    schedules.push(f.mode.schedule.as_ref());
                }
            }
            match schedules.as_slice() {
                [None] => return Workload::Job,
                [Some(Schedule::Cron(_))] => return Workload::CronJob,
                _ => {}
            }
        }
        Workload::Deployment
    }

    /// The cron schedule of a [`Workload::CronJob`] service.
    pub fn cron(&self) -> Option<String> {
        self.graph
            .flows
            .iter()
            .find_map(|f| match &f.mode.schedule {
                Some(Schedule::Cron(c)) => Some(c.clone()),
                _ => None,
            })
    }

    /// Environment variables its systems read with `env("NAME", default?)`, sorted.
    pub fn env_vars(&self) -> Vec<(String, Option<String>)> {
        let mut out = BTreeMap::new();
        for s in &self.graph.systems {
            for (_, v) in &s.options {
                config_refs(v, &mut |r| {
                    if let ConfigRef::Env(name, default) = r {
                        out.entry(name).or_insert(default);
                    }
                });
            }
        }
        out.into_iter().collect()
    }

    /// Secrets its systems read with `secret("NAME")`, sorted (names only).
    pub fn secrets(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        for s in &self.graph.systems {
            for (_, v) in &s.options {
                config_refs(v, &mut |r| {
                    if let ConfigRef::Secret(name) = r {
                        out.insert(name);
                    }
                });
            }
        }
        out.into_iter().collect()
    }

    /// Inbound HTTP ports: one per `endpoint` system, with the variable that sets its address.
    pub fn ports(&self) -> Vec<Port> {
        let mut out = Vec::new();
        for s in self.graph.systems.iter().filter(|s| s.kind == "endpoint") {
            let (var, address) = match s.option("listen") {
                Some(ConfigValue::Env { name, default }) => (Some(name.clone()), default.clone()),
                Some(ConfigValue::Literal(aqueduct_graph::Value::String(a))) => {
                    (None, Some(a.clone()))
                }
                _ => (None, None),
            };
            let port = address
                .as_deref()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(8080);
            out.push(Port {
                system: s.name.clone(),
                // Kubernetes port names: at most 15 characters
                name: names::kebab(&s.name)
                    .chars()
                    .take(15)
                    .collect::<String>()
                    .trim_end_matches('-')
                    .to_string(),
                port,
                var,
            });
        }
        out
    }
}

/// An inbound port of a service.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Port {
    /// The endpoint system.
    pub system: String,
    /// Port name (Kubernetes).
    pub name: String,
    /// Port number.
    pub port: u16,
    /// The variable holding the listen address, when it is `env(…)`.
    pub var: Option<String>,
}

enum ConfigRef {
    Env(String, Option<String>),
    Secret(String),
}

fn config_refs(v: &ConfigValue, f: &mut dyn FnMut(ConfigRef)) {
    match v {
        ConfigValue::Env { name, default } => f(ConfigRef::Env(name.clone(), default.clone())),
        ConfigValue::Secret { name } => f(ConfigRef::Secret(name.clone())),
        ConfigValue::List(items) => items.iter().for_each(|i| config_refs(i, f)),
        ConfigValue::Block { options, .. } => options.iter().for_each(|(_, o)| config_refs(o, f)),
        ConfigValue::Literal(_) | ConfigValue::Enum(_) => {}
    }
}
