//! The validated flow graph: the IR between the checker and the back ends.
//!
//! Only `aqueduct-check` builds a [`Graph`]; the runtime executes it and the
//! code generator turns it into Rust. Everything in it has been checked:
//! names are resolved, every expression is typed ([`Expr::ty`]), record
//! fields carry their slot in their record type, `...` spreads are expanded,
//! and every node keeps its [`Origin`] so run-time errors can point back at
//! the `.aq` source.
//!
//! The graph serializes to JSON and YAML (`aqueduct graph --format json`).
//! [`Topology`] is the node/edge view drawn by `aqueduct graph`; it converts to
//! a petgraph [`petgraph::stable_graph::StableDiGraph`] for graph algorithms.
//!
//! ```
//! use aqueduct_graph::{Graph, Type};
//! let g = Graph::default();
//! assert!(g.flows.is_empty());
//! assert_eq!(Type::Decimal.optional().to_string(), "decimal?");
//! ```
#![warn(missing_docs)]

mod expr;
mod flow;
pub mod render;
mod topology;
mod types;
mod value;

pub use expr::*;
pub use flow::*;
pub use topology::*;
pub use types::*;
pub use value::*;

use serde::{Deserialize, Serialize};

/// A whole checked project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// Project name (from `aqueduct.yaml`, else the directory name).
    pub project: String,
    /// Record types by name, declared ones first in source order.
    pub types: Vec<RecordType>,
    /// Declared systems, plus one per distinct inline system, named by its text (`file("dlq")`).
    pub systems: Vec<System>,
    /// Declared channels.
    pub channels: Vec<Channel>,
    /// Flows in source order.
    pub flows: Vec<Flow>,
    /// Flow tests in source order.
    pub tests: Vec<FlowTest>,
    /// Nodes and edges, for drawing and graph algorithms.
    pub topology: Topology,
}

impl Graph {
    /// The record type named `name`.
    pub fn record_type(&self, name: &str) -> Option<&RecordType> {
        self.types.iter().find(|t| t.name == name)
    }

    /// The system named `name`.
    pub fn system(&self, name: &str) -> Option<&System> {
        self.systems.iter().find(|s| s.name == name)
    }

    /// The channel named `name`.
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// The flow named `name`.
    pub fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.name == name)
    }
}

/// Where a node came from: a file of the project and a byte span in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// Path of the `.aq` file relative to the project root.
    pub file: String,
    /// Byte offset of the start.
    pub start: u32,
    /// Byte offset one past the end.
    pub end: u32,
}

/// A `system` declaration with its options resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct System {
    /// Name (`crm`), or the text of an inline system (`file("dlq")`).
    pub name: String,
    /// Connector kind (`salesforce`).
    pub kind: String,
    /// Options as written, checked against the catalogue, in source order.
    pub options: Vec<(String, ConfigValue)>,
    /// Doc comment lines.
    pub doc: Vec<String>,
    /// The declaration (or the inline `kind(…)`).
    pub origin: Origin,
}

impl System {
    /// The option named `name`.
    pub fn option(&self, name: &str) -> Option<&ConfigValue> {
        self.options.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// A `channel` declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Name.
    pub name: String,
    /// The record type it carries.
    pub ty: Type,
    /// The broker operation it rides on; `None` for in-process.
    pub via: Option<OpRef>,
    /// Flows that write to it.
    pub producers: Vec<String>,
    /// Flows that read from it.
    pub consumers: Vec<String>,
    /// Doc comment lines.
    pub doc: Vec<String>,
    /// The declaration.
    pub origin: Origin,
}
