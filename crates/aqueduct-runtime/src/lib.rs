//! Runtime stage: executes a validated [`aqueduct_graph::Graph`] on tokio.
//!
//! (Being written.) The contract connectors implement is in [`connector`];
//! the value model is in [`value`].
#![warn(missing_docs)]

pub mod connector;
pub mod value;
