//! The embedded connectors: `file`, `stdio`, `http`, `endpoint`, `sqlite`.
//!
//! Each kind implements [`ConnectorFactory`] from the runtime contract;
//! [`embedded_registry`] registers them all. Record formats shared by the
//! file-like connectors live in [`formats`].
#![warn(missing_docs)]

pub mod endpoint;
pub mod file;
pub mod formats;
pub mod http;
pub mod native_batch;
pub mod sqlite;
pub mod stdio;
pub mod support;

use aqueduct_runtime::connector::{ConnectorFactory, Registry};
use std::sync::Arc;

/// Installs the process-wide TLS crypto provider (ring) once; does nothing
/// when one is already installed. Call before building an HTTP client.
pub fn install_crypto() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may win the race: that is fine, one provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Every embedded connector kind, ready for the executor.
pub fn embedded_registry() -> Registry {
    let mut registry = Registry::default();
    let factories: Vec<Arc<dyn ConnectorFactory>> = vec![
        Arc::new(file::FileConnector),
        Arc::new(stdio::StdioConnector),
        Arc::new(http::HttpConnector),
        Arc::new(endpoint::EndpointConnector),
        Arc::new(sqlite::SqliteConnector),
    ];
    for factory in factories {
        registry.register(factory);
    }
    registry
}
