//! Runtime stage: executes a validated [`aqueduct_graph::Graph`] on tokio.
//!
//! The contract connectors implement is in [`connector`]; the value model is
//! in [`value`]; expressions compile once into closures in [`expr`].
#![warn(missing_docs)]

pub mod connector;
pub mod value;
pub mod expr;
pub mod secrets;
pub mod state;
