//! `channel` declarations: their record types and broker operations, and
//! the graph rules over flows joined by channels (dangling channels, cycles,
//! fan-in of different types).

use crate::decls::{Decls, doc_lines};
use crate::flows::{CheckedFlow, FlowChecker};
use crate::names::FxHashMap;
use crate::project::Ctx;
use crate::typeck::{Scope, TypeEnv, Typer};
use aqueduct_catalog::Role;
use aqueduct_diagnostics::{Diagnostic, codes};
use aqueduct_graph::{Channel, Type};
use aqueduct_syntax::ast;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// A flow with no lines: the context for checking a channel's `via` call.
static NO_FLOW: LazyLock<ast::FlowDecl> = LazyLock::new(|| ast::FlowDecl {
    doc: None,
    name: ast::Ident {
        name: String::new(),
        span: Default::default(),
    },
    items: Vec::new(),
    span: Default::default(),
});

/// Resolves every channel's type (into `ctx.channel_types`) and `via` call.
pub(crate) fn check_channels<'a>(
    ctx: &mut Ctx<'a>,
    env: &TypeEnv,
    decls: &Decls<'a>,
) -> Vec<Channel> {
    let mut out = Vec::new();
    for (name, at) in decls.channels.sorted() {
        let ty = Typer::new(env, at.file, &mut ctx.diags).resolve_type(&at.decl.ty);
        ctx.channel_types.insert(name, ty.clone());
        out.push((name.to_string(), at, ty));
    }
    let mut channels = Vec::new();
    for (name, at, ty) in out {
        let via = at.decl.via.as_ref().and_then(|call| {
            let no_flow: &'static ast::FlowDecl = &NO_FLOW;
            let mut fc = FlowChecker::bare(ctx, env, decls, at.file, no_flow);
            let scope = Scope {
                current: Some(ty.clone()),
                ..Scope::default()
            };
            fc.op_call(call, Role::Target, &scope).map(|(op, _)| op)
        });
        let origin = ctx.origin(at.file, at.decl.span);
        channels.push(Channel {
            name,
            ty,
            via,
            producers: Vec::new(),
            consumers: Vec::new(),
            doc: doc_lines(&at.decl.doc),
            origin,
        });
    }
    channels
}

/// Fills producers/consumers and reports dangling channels, cycles and fan-in.
pub(crate) fn check_graph(
    ctx: &mut Ctx<'_>,
    decls: &Decls<'_>,
    channels: &mut [Channel],
    flows: &[CheckedFlow],
) {
    let unresolved_names = ctx.diags.iter().any(|d| d.code == codes::AQ0204);
    // One pass over the flows, then one lookup per channel: linear in the
    // project, where comparing every channel with every flow is not.
    let (writers, readers) = channel_users(flows);
    for channel in channels.iter_mut() {
        if let Some(w) = writers.get(channel.name.as_str()) {
            channel.producers = w.iter().map(|s| (*s).to_string()).collect();
        }
        if let Some(r) = readers.get(channel.name.as_str()) {
            channel.consumers = r.iter().map(|s| (*s).to_string()).collect();
        }
        let Some(at) = decls.channels.get(&channel.name) else {
            continue;
        };
        if channel.via.is_some() {
            // Other services may produce or consume a broker channel.
            continue;
        }
        let (file, span) = (at.file, at.decl.name.span);
        match (channel.producers.is_empty(), channel.consumers.is_empty()) {
            // A misspelled channel name was reported where it is used; the
            // channel it meant would look unused only because of that typo.
            (true, true) if unresolved_names => {}
            (true, true) => ctx.diags.push(
                Diagnostic::warning(
                    codes::AQ0310,
                    format!("channel `{}` is never used", channel.name),
                )
                .with_primary(file, span, "declared but no flow writes or reads it")
                .with_help(
                    "remove it, or use it: `to CHANNEL` in one flow and `from CHANNEL` in another",
                ),
            ),
            (false, true) => ctx.diags.push(
                Diagnostic::error(
                    codes::AQ0302,
                    format!("records sent to channel `{}` are never read", channel.name),
                )
                .with_primary(file, span, "no flow reads from this channel")
                .with_help(format!(
                    "add a flow with `from {}`, or put the channel on a broker with `via`",
                    channel.name
                )),
            ),
            (true, false) => ctx.diags.push(
                Diagnostic::error(
                    codes::AQ0303,
                    format!("no flow sends records to channel `{}`", channel.name),
                )
                .with_primary(file, span, "read, but never written")
                .with_help(format!(
                    "add `to {}` in the flow that produces its records",
                    channel.name
                )),
            ),
            (false, false) => {}
        }
    }
    check_cycles(ctx, flows);
    check_fan_in(ctx, flows);
}

/// Flow names writing to and reading from each channel, in flow order,
/// each flow once per channel.
type Users<'f> = BTreeMap<&'f str, Vec<&'f str>>;

fn channel_users(flows: &[CheckedFlow]) -> (Users<'_>, Users<'_>) {
    let mut writers: Users<'_> = BTreeMap::new();
    let mut readers: Users<'_> = BTreeMap::new();
    for f in flows {
        let name = f.flow.name.as_str();
        for t in f.targets.iter().filter(|t| t.channel) {
            let list = writers.entry(t.name.as_str()).or_default();
            if list.last() != Some(&name) {
                list.push(name);
            }
        }
        if let Some(read) = &f.reads_channel {
            readers.entry(read.as_str()).or_default().push(name);
        }
    }
    (writers, readers)
}

/// Flows that feed records back into themselves through channels.
fn check_cycles(ctx: &mut Ctx<'_>, flows: &[CheckedFlow]) {
    let mut g: DiGraph<usize, ()> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..flows.len()).map(|i| g.add_node(i)).collect();
    let mut readers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (j, consumer) in flows.iter().enumerate() {
        if let Some(read) = &consumer.reads_channel {
            readers.entry(read.as_str()).or_default().push(j);
        }
    }
    for (i, producer) in flows.iter().enumerate() {
        let mut targets: Vec<usize> = producer
            .targets
            .iter()
            .filter(|t| t.channel)
            .filter_map(|t| readers.get(t.name.as_str()))
            .flatten()
            .copied()
            .collect();
        targets.sort_unstable();
        targets.dedup();
        for j in targets {
            g.update_edge(nodes[i], nodes[j], ());
        }
    }
    for scc in petgraph::algo::tarjan_scc(&g) {
        let cyclic = scc.len() > 1 || scc.first().is_some_and(|n| g.contains_edge(*n, *n));
        if !cyclic {
            continue;
        }
        let mut members: Vec<usize> = scc
            .iter()
            .filter_map(|n| g.node_weight(*n).copied())
            .collect();
        members.sort_unstable();
        let Some(first) = members.first().and_then(|i| flows.get(*i)) else {
            continue;
        };
        let names: Vec<String> = members
            .iter()
            .filter_map(|i| flows.get(*i))
            .map(|f| format!("`{}`", f.flow.name))
            .collect();
        let mut d = Diagnostic::error(
            codes::AQ0301,
            format!(
                "flows {} feed records back into themselves",
                names.join(", ")
            ),
        )
        .with_primary(first.file, first.name_span, "part of a cycle");
        for i in members.iter().skip(1) {
            if let Some(f) = flows.get(*i) {
                d = d.with_context(f.file, f.name_span, "also part of the cycle");
            }
        }
        ctx.diags.push(d.with_help("break the loop: one of these flows must deliver somewhere other than the channel it reads from"));
    }
}

/// Different record types delivered to the same operation of a system.
fn check_fan_in(ctx: &mut Ctx<'_>, flows: &[CheckedFlow]) {
    type Use<'f> = (&'f Type, &'f CheckedFlow, &'f crate::flows::TargetUse);
    // Deliveries go to the same place when their label and arguments are
    // equal: they are grouped by `label` plus the arguments' `Debug` text.
    // Writing that text is costly, and only a label delivered two record
    // types can need it, so uses are first grouped by label.
    let mut by_label: FxHashMap<&str, Vec<Use<'_>>> = FxHashMap::default();
    for f in flows {
        for t in f.targets.iter().filter(|t| !t.channel && !t.dead_letter) {
            by_label
                .entry(t.label.as_str())
                .or_default()
                .push((&t.ty, f, t));
        }
    }
    let mut by_key: BTreeMap<String, Vec<Use<'_>>> = BTreeMap::new();
    for uses in by_label.into_values() {
        let mut types = uses
            .iter()
            .map(|(ty, _, _)| *ty)
            .filter(|ty| **ty != Type::Json);
        let first = types.next();
        if types.all(|ty| Some(ty) == first) {
            continue;
        }
        for u in uses {
            let key = format!(
                "{}{:?}",
                u.2.label,
                u.2.args
                    .iter()
                    .map(|a| (&a.name, &a.value.kind))
                    .collect::<Vec<_>>()
            );
            by_key.entry(key).or_default().push(u);
        }
    }
    for uses in by_key.values() {
        let Some((first_ty, first_flow, first_use)) = uses.first() else {
            continue;
        };
        for (ty, flow, used) in uses.iter().skip(1) {
            if ty != first_ty && **ty != Type::Json && **first_ty != Type::Json {
                ctx.diags.push(
                    Diagnostic::error(
                        codes::AQ0305,
                        format!("`{}` receives `{first_ty}` and `{ty}` records", used.label),
                    )
                    .with_primary(
                        used.file,
                        used.span,
                        format!("flow `{}` sends `{ty}`", flow.flow.name),
                    )
                    .with_context(
                        first_use.file,
                        first_use.span,
                        format!("flow `{}` sends `{first_ty}`", first_flow.flow.name),
                    )
                    .with_help(format!("map both to one type before `to {}`", used.label)),
                );
            }
        }
    }
}
