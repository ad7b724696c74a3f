//! The server database connectors: `postgres` (cargo feature `postgres`)
//! and `mysql` for MySQL and MariaDB (cargo feature `mysql`).
//!
//! [`register`] adds each compiled-in kind to a runtime [`Registry`]; the
//! `aqueduct` binary calls it behind its `db` feature. Every operation of
//! the catalogue's `postgres` kind is implemented: `query` (a bounded
//! source read through a cursor), `poll` (a watermark kept in the state
//! store), `changes` (logical decoding with pgoutput, the slot advanced
//! after acknowledgements), `insert`, `upsert`, `delete` (COPY per chunk in
//! batch flows) and `query` as an `enrich` lookup with bound parameters;
//! `mysql` the same, with multi-row statements for batch chunks and the
//! row-based binary log for `changes`.
#![warn(missing_docs)]

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod bisect;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod resume;
pub mod sqltext;
pub mod startup;
pub mod values;

use aqueduct_runtime::connector::Registry;

/// Registers every database kind compiled into this crate.
pub fn register(registry: &mut Registry) {
    #[cfg(feature = "postgres")]
    registry.register(std::sync::Arc::new(postgres::PostgresConnector));
    #[cfg(feature = "mysql")]
    registry.register(std::sync::Arc::new(mysql::MysqlConnector));
    let _ = registry;
}
