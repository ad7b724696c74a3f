//! `postgres` (options `url`, `pool_size`): a PostgreSQL database.
//!
//! Every operation of one system shares one connection pool of at most
//! `pool_size` connections (default 4), opened on first use and kept for
//! the process. At start-up each operation checks its SQL (and a target its
//! table) through a connection of its own on a separate thread, so a bad
//! statement or a missing table stops `run` before any record moves.
//! TLS follows the URL's `sslmode` and `sslrootcert` as libpq reads them
//! ([`tls`]).
//!
//! Column values convert exactly both ways ([`types`]): `numeric` ↔
//! `decimal` through `rust_decimal`, never `f64` and never rounded (a
//! value with more digits than a decimal holds is an error, [`numeric`]);
//! `timestamptz` ↔
//! `timestamp`; `json`/`jsonb` ↔ `json`, lists and records.

mod catalog;
mod changes;
mod chunk;
mod copy;
mod lookup;
mod numeric;
pub mod pgoutput;
mod poll;
mod pool;
mod query;
mod rows;
pub mod schema;
mod slot;
mod sql;
pub mod types;
mod write;

use aqueduct_connectors::support::args::Options;
use aqueduct_runtime::connector::{
    Call, ConnectorError, ConnectorFactory, OpContext, Source, Target,
};
use std::sync::Arc;

pub use pool::Pool;

/// The `postgres` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct PostgresConnector;

impl ConnectorFactory for PostgresConnector {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        match cx.op.operation.as_str() {
            "query" => Ok(Box::new(query::QuerySource::build(cx, pool(cx)?)?)),
            "poll" => Ok(Box::new(poll::PollSource::build(cx, pool(cx)?)?)),
            "changes" => Ok(Box::new(changes::ChangesSource::build(cx, pool(cx)?)?)),
            other => Err(ConnectorError::Config(format!(
                "`postgres.{other}` cannot be used as a source"
            ))),
        }
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        Ok(Arc::new(write::PgTarget::build(cx, pool(cx)?)?))
    }

    fn call(&self, cx: &OpContext) -> Result<Arc<dyn Call>, ConnectorError> {
        match cx.op.operation.as_str() {
            "query" => Ok(Arc::new(lookup::Lookup::build(cx, pool(cx)?)?)),
            other => Err(ConnectorError::Config(format!(
                "`postgres.{other}` cannot be used in `enrich`"
            ))),
        }
    }
}

/// The pool of the context's system.
fn pool(cx: &OpContext) -> Result<Arc<Pool>, ConnectorError> {
    let options = Options::of(cx);
    let url = options.required("url")?;
    let size = match options.string("pool_size")? {
        None => 4,
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                ConnectorError::Config(format!(
                    "`{}`: option `pool_size` must be a whole number above 0, not `{text}`",
                    cx.op.system
                ))
            })?,
    };
    Pool::shared(&cx.op.system, &url, size)
}

/// A PostgreSQL error as a connector error. Lost connections, serialization
/// failures, deadlocks and resource shortages may pass on a retry;
/// constraint violations, bad data and bad SQL will not. The text is the
/// server's message (with its detail), which never holds the URL.
pub(crate) fn pg_error(system: &str, err: &tokio_postgres::Error) -> ConnectorError {
    let Some(db) = err.as_db_error() else {
        // no server answer: the connection broke or could not be made
        return ConnectorError::Transient(format!("postgres `{system}`: {err}"));
    };
    let mut message = format!("postgres `{system}`: {}", db.message());
    if let Some(detail) = db.detail() {
        message.push_str(&format!(" ({detail})"));
    }
    let code = db.code().code();
    let transient = code == "40001" // serialization_failure
        || code == "40P01" // deadlock_detected
        || code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources
        || code.starts_with("57P") // operator intervention (shutdown, restart)
        || code == "55P03"; // lock_not_available
    if transient {
        ConnectorError::Transient(message)
    } else {
        ConnectorError::Permanent(message)
    }
}

pub(crate) use crate::startup::startup;
