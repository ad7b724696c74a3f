//! Builds the node/edge [`Topology`] of the checked project, for
//! `aqueduct graph` and graph algorithms.

use crate::flows::CheckedFlow;
use aqueduct_graph::{Channel, Endpoint, NodeId, NodeKind, Step, StepKind, Topology, Type};
use std::collections::BTreeMap;

/// Nodes for every channel, and per flow its source, steps, targets, reply and dead letter.
pub(crate) fn build(channels: &[Channel], flows: &[CheckedFlow]) -> Topology {
    let mut t = Topology::default();
    // About two nodes and two edges per step: sized once, not regrown.
    let steps: usize = flows.iter().map(|f| f.flow.steps.len() + 3).sum();
    t.nodes.reserve(channels.len() + 2 * steps);
    t.edges.reserve(2 * steps);
    let mut channel_nodes: BTreeMap<&str, NodeId> = BTreeMap::new();
    for c in channels {
        let id = t.add_node(
            NodeKind::Channel,
            c.name.clone(),
            None,
            Some(c.ty.to_string()),
            c.origin.clone(),
        );
        channel_nodes.insert(&c.name, id);
    }
    for checked in flows {
        let f = &checked.flow;
        let labels: BTreeMap<&str, &str> = checked
            .route_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let source = t.add_node(
            NodeKind::Source,
            endpoint_label(&f.source.endpoint),
            Some(&f.name),
            Some(f.mode.kind.as_str().to_string()),
            f.source.origin.clone(),
        );
        if let Endpoint::Channel(name) = &f.source.endpoint
            && let Some(c) = channel_nodes.get(name.as_str())
        {
            t.add_edge(*c, source, f.source.record_type.clone(), None);
        }
        let mut b = Builder {
            t: &mut t,
            flow: &f.name,
            channels: &channel_nodes,
            labels: &labels,
            failing: Vec::new(),
        };
        b.steps(&f.steps, source, f.source.record_type.clone(), None);
        if let Some(dl) = &f.policies.dead_letter {
            let node = b.endpoint_node(NodeKind::DeadLetter, dl, f.origin.clone());
            b.t.add_edge(source, node, Type::Json, Some("failed".to_string()));
            // calls and deliveries that keep failing go there too
            for from in std::mem::take(&mut b.failing) {
                b.t.add_edge(from, node, Type::Json, Some("failed".to_string()));
            }
        }
    }
    t
}

struct Builder<'t, 'f> {
    t: &'t mut Topology,
    flow: &'f str,
    channels: &'f BTreeMap<&'f str, NodeId>,
    labels: &'f BTreeMap<&'f str, &'f str>,
    /// `enrich` steps and `to` targets on systems: what fails into the dead letter.
    failing: Vec<NodeId>,
}

impl Builder<'_, '_> {
    /// Chains `steps` after `prev`; the first edge carries `label` (a route arm).
    fn steps(&mut self, steps: &[Step], mut prev: NodeId, mut ty: Type, mut label: Option<String>) {
        for step in steps {
            match &step.kind {
                StepKind::To(ep) | StepKind::Tap(ep) => {
                    let node = self.endpoint_node(NodeKind::Target, ep, step.origin.clone());
                    self.t
                        .add_edge(prev, node, step.input.clone(), label.take());
                    if matches!((&step.kind, ep), (StepKind::To(_), Endpoint::Op(_))) {
                        self.failing.push(node);
                    }
                    if matches!(step.kind, StepKind::Tap(_)) {
                        // A tap passes the record on: the chain continues from the step before.
                        continue;
                    }
                }
                StepKind::Reply(e) => {
                    let node = self.t.add_node(
                        NodeKind::Reply,
                        format!("reply {}", e.ty),
                        Some(self.flow),
                        None,
                        step.origin.clone(),
                    );
                    self.t
                        .add_edge(prev, node, step.input.clone(), label.take());
                }
                StepKind::Route(arms) => {
                    let node = self.t.add_node(
                        NodeKind::Step,
                        "route",
                        Some(self.flow),
                        None,
                        step.origin.clone(),
                    );
                    self.t
                        .add_edge(prev, node, step.input.clone(), label.take());
                    for (i, arm) in arms.iter().enumerate() {
                        let key = format!("{}.{}", step.id, i + 1);
                        let arm_label = self.labels.get(key.as_str()).map(|s| (*s).to_string());
                        self.steps(&arm.steps, node, step.input.clone(), arm_label);
                    }
                    return;
                }
                kind => {
                    let where_label = matches!(kind, StepKind::Where(_))
                        .then(|| self.labels.get(format!("where:{}", step.id).as_str()))
                        .flatten()
                        .map(|s| (*s).to_string());
                    let node = self.t.add_node(
                        NodeKind::Step,
                        where_label.unwrap_or_else(|| step_label(kind)),
                        Some(self.flow),
                        None,
                        step.origin.clone(),
                    );
                    self.t.add_edge(prev, node, ty.clone(), label.take());
                    if matches!(kind, StepKind::Enrich { .. }) {
                        self.failing.push(node);
                    }
                    prev = node;
                }
            }
            ty = step.output.clone();
        }
    }

    fn endpoint_node(
        &mut self,
        kind: NodeKind,
        ep: &Endpoint,
        origin: aqueduct_graph::Origin,
    ) -> NodeId {
        match ep {
            Endpoint::Channel(name) if kind == NodeKind::Target => {
                match self.channels.get(name.as_str()) {
                    Some(id) => *id,
                    None => self
                        .t
                        .add_node(NodeKind::Channel, name.clone(), None, None, origin),
                }
            }
            _ => {
                let detail = match ep {
                    Endpoint::Op(op) => Some(op.connector.clone()),
                    Endpoint::Channel(_) => None,
                };
                self.t
                    .add_node(kind, endpoint_label(ep), Some(self.flow), detail, origin)
            }
        }
    }
}

/// `crm.changes("Account")`-style label for an endpoint.
pub(crate) fn endpoint_label(ep: &Endpoint) -> String {
    match ep {
        Endpoint::Channel(name) => name.clone(),
        Endpoint::Op(op) => {
            // The first text argument, quoted, if any.
            let text = op.args.iter().find_map(|a| match &a.value.kind {
                aqueduct_graph::ExprKind::Lit(aqueduct_graph::Value::String(s)) => Some(s),
                _ => None,
            });
            // Built by hand: formatting was most of the cost of a node.
            let mut label = String::with_capacity(
                op.system.len() + op.operation.len() + text.map_or(0, |s| s.len() + 2) + 3,
            );
            label.push_str(&op.system);
            label.push('.');
            label.push_str(&op.operation);
            label.push('(');
            match text {
                // `{:?}` leaves printable ASCII other than `"` and `\` as it is.
                Some(s)
                    if s.bytes()
                        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\') =>
                {
                    label.push('"');
                    label.push_str(s);
                    label.push('"');
                }
                Some(s) => {
                    use std::fmt::Write as _;
                    let _ = write!(label, "{s:?}");
                }
                None => {}
            }
            label.push(')');
            label
        }
    }
}

fn step_label(kind: &StepKind) -> String {
    match kind {
        StepKind::Where(_) => "where".into(),
        StepKind::Map { ty, .. } => format!("map {ty}"),
        StepKind::Let { name, .. } => format!("let ${name}"),
        StepKind::Enrich { name, call, .. } => {
            format!("enrich ${name} = {}.{}", call.system, call.operation)
        }
        StepKind::Split { ty, .. } => format!("split as {ty}"),
        StepKind::Batch { size, .. } => format!("batch {size}"),
        StepKind::Dedupe { .. } => "dedupe".into(),
        StepKind::Tap(_) | StepKind::To(_) => "to".into(),
        StepKind::Route(_) => "route".into(),
        StepKind::Reply(_) => "reply".into(),
    }
}
