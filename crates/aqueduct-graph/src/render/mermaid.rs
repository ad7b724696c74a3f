//! Mermaid flowchart output (renders in GitHub and GitLab Markdown).

use super::{clusters, edge_text, edges, loose_nodes};
use crate::{Graph, Node, NodeKind};
use std::fmt::Write;

/// The graph as a left-to-right Mermaid flowchart, one subgraph per flow.
pub fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    let nodes = &graph.topology.nodes;
    for (i, cluster) in clusters(graph).iter().enumerate() {
        let _ = writeln!(out, "  subgraph flow_{i}[\"{}\"]", escape(&cluster.title));
        for &n in &cluster.nodes {
            out.push_str(&node_line(n, &nodes[n], "    "));
        }
        out.push_str("  end\n");
    }
    for n in loose_nodes(graph) {
        out.push_str(&node_line(n, &nodes[n], "  "));
    }
    for (from, to, edge) in edges(graph) {
        let arrow = if edge.label.is_some() { "-.->" } else { "-->" };
        let _ = writeln!(
            out,
            "  n{from} {arrow}|\"{}\"| n{to}",
            escape(&edge_text(edge))
        );
    }
    out
}

fn node_line(index: usize, node: &Node, indent: &str) -> String {
    let (open, close) = shape(node.kind);
    format!("{indent}n{index}{open}\"{}\"{close}\n", escape(&node.label))
}

/// Opening and closing brackets of the shape per kind.
fn shape(kind: NodeKind) -> (&'static str, &'static str) {
    match kind {
        NodeKind::Source => (">", "]"),
        NodeKind::Step => ("(", ")"),
        NodeKind::Target => ("[/", "/]"),
        NodeKind::Reply => ("([", "])"),
        NodeKind::DeadLetter => ("{{", "}}"),
        NodeKind::Channel => ("[(", ")]"),
    }
}

/// Escapes text inside a quoted Mermaid label with its entity codes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
