//! Runtime stage: executes a validated [`aqueduct_graph::Graph`] on tokio.
//!
//! Input: a checked `Graph` and a [`connector::Registry`] of connector
//! factories. Output: a [`executor::RunReport`] per run, metrics on the
//! admin port, and dead-letter entries for records that kept failing.
//!
//! - [`connector`]: the contract connectors implement (sources, targets, calls, acks).
//! - [`value`]: the value model (records as slot vectors, exact decimals) and JSON/text conversion.
//! - [`expr`]: expressions compiled once into closures.
//! - [`executor`]: `build` → `Pieces::spawn` → `RunningProject::wait`.
//! - [`policy`], [`dead_letter`], [`channel`], [`schedule`], [`shutdown`]: the pieces a flow runs with.
//! - [`state`]: SQLite/PostgreSQL/memory state stores; [`secrets`]: option resolution and redaction.
//! - [`metrics`], [`admin`]: Prometheus counters and the `/metrics`, `/healthz`, `/readyz` port.
//! - [`testing`]: the flow-test runner behind `aqueduct test`.
//! - [`fused`]: the fused batch path (`where`/`map` from lines straight to JSON lines).
//! - [`native`]: the seam generated services plug native Rust expressions into.
//!
//! ```
//! use aqueduct_runtime::{connector::Registry, executor::{build, RunOptions}};
//! let graph = aqueduct_graph::Graph::default();
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let report = rt.block_on(async {
//!     build(&graph, &Registry::default(), RunOptions::default()).unwrap().spawn().wait().await
//! });
//! assert!(report.ok());
//! ```
#![warn(missing_docs)]

pub mod admin;
pub mod ca_file;
pub mod channel;
pub mod connector;
pub mod dead_letter;
pub mod executor;
pub mod expr;
pub mod fused;
pub mod lease;
pub mod metrics;
pub mod native;
pub mod policy;
pub mod postgres_tls;
pub mod schedule;
pub mod secrets;
pub mod shutdown;
pub mod startup_warnings;
pub mod state;
pub mod testing;
pub mod value;

#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
