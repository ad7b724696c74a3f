//! The embedded connectors: `file`, `stdio`, `http`, `endpoint`, `sqlite`.
//!
//! Each kind implements [`ConnectorFactory`] from the runtime contract;
//! [`embedded_registry`] registers them all. Record formats shared by the
//! file-like connectors live in [`formats`].
#![warn(missing_docs)]

pub mod file;
pub mod formats;
pub mod sqlite;
pub mod stdio;
mod support;

use aqueduct_runtime::connector::{ConnectorFactory, Registry};
use std::sync::Arc;

/// Every embedded connector kind, ready for the executor.
pub fn embedded_registry() -> Registry {
    let mut registry = Registry::default();
    let factories: Vec<Arc<dyn ConnectorFactory>> = vec![];
    for factory in factories {
        registry.register(factory);
    }
    registry
}
