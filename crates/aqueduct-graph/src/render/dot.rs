//! Graphviz DOT output (`aqueduct graph --format dot | dot -Tsvg`).

use super::{clusters, edge_text, edges, loose_nodes};
use crate::{Graph, Node, NodeKind};
use std::fmt::Write;

/// The graph as a DOT digraph, left to right, one `cluster_N` per flow.
pub fn dot(graph: &Graph) -> String {
    let mut out = String::from("digraph aqueduct {\n");
    out.push_str("  rankdir=LR;\n");
    out.push_str("  node [fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
    let nodes = &graph.topology.nodes;
    for (i, cluster) in clusters(graph).iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_{i} {{");
        let _ = writeln!(out, "    label=\"{}\";", escape(&cluster.title));
        out.push_str("    style=rounded;\n    color=\"#94a3b8\";\n");
        for &n in &cluster.nodes {
            out.push_str(&node_line(n, &nodes[n], "    "));
        }
        out.push_str("  }\n");
    }
    for n in loose_nodes(graph) {
        out.push_str(&node_line(n, &nodes[n], "  "));
    }
    for (from, to, edge) in edges(graph) {
        let style = if edge.label.is_some() {
            ", style=dashed"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  n{from} -> n{to} [label=\"{}\"{style}];",
            escape(&edge_text(edge))
        );
    }
    out.push_str("}\n");
    out
}

fn node_line(index: usize, node: &Node, indent: &str) -> String {
    format!(
        "{indent}n{index} [label=\"{}\", {}];\n",
        escape(&node.label),
        shape(node.kind)
    )
}

/// Shape and fill per kind.
fn shape(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Source => "shape=invhouse, style=filled, fillcolor=\"#dbeafe\"",
        NodeKind::Step => "shape=box, style=rounded",
        NodeKind::Target => "shape=house, style=filled, fillcolor=\"#dcfce7\"",
        NodeKind::Reply => "shape=oval, style=filled, fillcolor=\"#fef9c3\"",
        NodeKind::DeadLetter => "shape=box, style=\"filled,dashed\", fillcolor=\"#fee2e2\"",
        NodeKind::Channel => "shape=cds, style=filled, fillcolor=\"#ede9fe\"",
    }
}

/// Escapes a DOT double-quoted string; newlines become `\n` line breaks.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}
