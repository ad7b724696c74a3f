//! Drawing the [`Topology`](crate::Topology) of a [`Graph`]: Graphviz DOT,
//! Mermaid, and a standalone SVG laid out here (no Graphviz needed).
//!
//! All three draw the same picture: one cluster per flow titled
//! `flow NAME (mode)`, channel nodes outside the clusters, a shape per
//! [`NodeKind`], and edges labelled with the record type they carry (and
//! the route condition, when the edge leaves a route). Output is
//! deterministic: the same graph always gives the same text.
//!
//! ```
//! use aqueduct_graph::{Graph, NodeKind, Origin, Type, render};
//! let mut g = Graph::default();
//! let a = g.topology.add_node(NodeKind::Source, "files.read", Some("f"), None, Origin::default());
//! let b = g.topology.add_node(NodeKind::Target, "db.insert", Some("f"), None, Origin::default());
//! g.topology.add_edge(a, b, Type::Record("Order".into()), None);
//! assert!(render::dot(&g).contains("n0 -> n1 [label=\"Order\"]"));
//! assert!(render::mermaid(&g).starts_with("flowchart LR"));
//! assert!(render::svg(&g).starts_with("<svg"));
//! ```

mod dot;
mod layout;
mod mermaid;
mod svg;

pub use dot::dot;
pub use mermaid::mermaid;
pub use svg::svg;

use crate::{Edge, Graph, NodeKind};

/// The nodes of one flow, drawn as a cluster.
pub(crate) struct Cluster {
    /// `flow NAME (mode)`.
    pub title: String,
    /// Indices into `topology.nodes`, in node order.
    pub nodes: Vec<usize>,
}

/// One cluster per flow: the flows of `graph.flows` in order, then any flow
/// named only by nodes. Nodes without a flow (channels) are in no cluster.
pub(crate) fn clusters(graph: &Graph) -> Vec<Cluster> {
    let mut names: Vec<&str> = graph.flows.iter().map(|f| f.name.as_str()).collect();
    for node in &graph.topology.nodes {
        if let Some(flow) = node.flow.as_deref()
            && !names.contains(&flow)
        {
            names.push(flow);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let title = match graph.flow(name) {
                Some(flow) => format!("flow {name} ({})", flow.mode.kind.as_str()),
                None => format!("flow {name}"),
            };
            let nodes = graph
                .topology
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.flow.as_deref() == Some(name))
                .map(|(i, _)| i)
                .collect();
            Cluster { title, nodes }
        })
        .filter(|c| !c.nodes.is_empty())
        .collect()
}

/// Indices of nodes in no cluster (channels), in node order.
pub(crate) fn loose_nodes(graph: &Graph) -> Vec<usize> {
    graph
        .topology
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.flow.is_none())
        .map(|(i, _)| i)
        .collect()
}

/// The edges whose ends exist, as `(from, to, edge)` node indices.
pub(crate) fn edges(graph: &Graph) -> Vec<(usize, usize, &Edge)> {
    let n = graph.topology.nodes.len();
    graph
        .topology
        .edges
        .iter()
        .map(|e| (e.from.0 as usize, e.to.0 as usize, e))
        .filter(|(a, b, _)| *a < n && *b < n)
        .collect()
}

/// The text on an edge: the record type, after the route label if any.
pub(crate) fn edge_text(edge: &Edge) -> String {
    match &edge.label {
        Some(label) => format!("[{label}] {}", edge.record_type),
        None => edge.record_type.to_string(),
    }
}

/// The node kind as a word, for CSS classes and comments.
pub(crate) fn kind_name(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Source => "source",
        NodeKind::Step => "step",
        NodeKind::Target => "target",
        NodeKind::Reply => "reply",
        NodeKind::DeadLetter => "dead_letter",
        NodeKind::Channel => "channel",
    }
}

#[cfg(test)]
mod tests;
