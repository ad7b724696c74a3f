//! Nodes and edges of the whole project, for drawing and graph algorithms.

use crate::{Origin, Type};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use serde::{Deserialize, Serialize};

/// Identifies a node in a [`Topology`]; petgraph indices never leave this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(pub u32);

/// The node/edge view of a project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    /// Nodes; a node's [`NodeId`] is its index here.
    pub nodes: Vec<Node>,
    /// Directed edges carrying the record type that flows along them.
    pub edges: Vec<Edge>,
}

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// The `from` of a flow.
    Source,
    /// A step of a flow.
    Step,
    /// A `to` or `tap` delivery to a system.
    Target,
    /// The reply to the caller of a sync flow.
    Reply,
    /// A flow's dead letter.
    DeadLetter,
    /// A channel between flows.
    Channel,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Its id (its index in [`Topology::nodes`]).
    pub id: NodeId,
    /// What it stands for.
    pub kind: NodeKind,
    /// Short text to draw: `crm.changes("Account")`, `where`, `map Customer`.
    pub label: String,
    /// The flow it belongs to; `None` for channels.
    pub flow: Option<String>,
    /// The flow's mode (on source nodes) or the system kind (on source and target nodes).
    pub detail: Option<String>,
    /// Where it was written.
    pub origin: Origin,
}

/// One directed edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// From this node.
    pub from: NodeId,
    /// To this node.
    pub to: NodeId,
    /// The record type carried.
    pub record_type: Type,
    /// A route condition or `else`, when the edge leaves a route.
    pub label: Option<String>,
}

impl Topology {
    /// Adds a node and returns its id.
    pub fn add_node(
        &mut self,
        kind: NodeKind,
        label: impl Into<String>,
        flow: Option<&str>,
        detail: Option<String>,
        origin: Origin,
    ) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(Node {
            id,
            kind,
            label: label.into(),
            flow: flow.map(str::to_string),
            detail,
            origin,
        });
        id
    }

    /// Adds an edge.
    pub fn add_edge(&mut self, from: NodeId, to: NodeId, record_type: Type, label: Option<String>) {
        self.edges.push(Edge {
            from,
            to,
            record_type,
            label,
        });
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.0 as usize)
    }

    /// The topology as a petgraph graph whose node weights are [`NodeId`]s
    /// and edge weights are indices into [`Topology::edges`].
    pub fn to_petgraph(&self) -> StableDiGraph<NodeId, usize> {
        let mut g = StableDiGraph::with_capacity(self.nodes.len(), self.edges.len());
        let idx: Vec<NodeIndex> = self.nodes.iter().map(|n| g.add_node(n.id)).collect();
        for (i, e) in self.edges.iter().enumerate() {
            if let (Some(&a), Some(&b)) = (idx.get(e.from.0 as usize), idx.get(e.to.0 as usize)) {
                g.add_edge(a, b, i);
            }
        }
        g
    }

    /// Node ids in topological order, or `None` when the graph has a cycle.
    pub fn topological_order(&self) -> Option<Vec<NodeId>> {
        let g = self.to_petgraph();
        petgraph::algo::toposort(&g, None).ok().map(|order| {
            order
                .into_iter()
                .filter_map(|i| g.node_weight(i).copied())
                .collect()
        })
    }
}
