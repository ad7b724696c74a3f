//! The `salesforce` connector: a Salesforce org through OAuth 2.0, the REST
//! API and Bulk API 2.0.
//!
//! Operations: sources `query` (REST, every `nextRecordsUrl` page, streamed)
//! and `bulk_query` (a Bulk API 2.0 query job, result pages streamed by
//! `Sforce-Locator`); targets `insert`, `update`, `upsert` and `delete`
//! through sObject Collections (≤ 200 records a call, `allOrNone=false`, so a
//! refused record goes to the dead letter and the others go through); calls
//! `get` and `query` for `enrich`; `publish` inserts platform events the
//! same way, or sends them with the Pub/Sub API's `Publish` (Avro
//! payloads, ≤ 200 a request) with `transport: pubsub`; sources `changes`
//! and `events` over the Streaming API (CometD), or over the Pub/Sub API
//! (gRPC, Avro payloads) with `transport: pubsub` (both Pub/Sub uses in
//! builds with the `pubsub` feature), and
//! `outbound_messages`, a listener for workflow outbound
//! messages.
//!
//! Every operation of one system shares one [`client::Client`]: one access
//! token, fetched on first use, replaced once on a 401 and the request
//! replayed. Tokens, keys and secrets never appear in messages. Building a
//! write, a `get` or a `changes` source first describes its sObject and
//! compares it with the record type (the start-up preflight, `describe`).
#![warn(missing_docs)]

mod auth;
mod bulk;
mod client;
mod convert;
mod describe;
mod ingest;
mod jwt;
mod lookup;
mod outbound;
#[cfg(feature = "pubsub")]
mod pubsub;
mod query;
pub mod soql;
mod stream;
mod write;

use aqueduct_connectors::support::args::arg_str;
use aqueduct_runtime::connector::{
    Call, ConnectorError, ConnectorFactory, OpContext, Registry, Source, Target,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use client::Backoff;

/// The `salesforce` connector kind.
pub struct SalesforceConnector {
    /// One client (and token) per system, shared by its operations.
    clients: Mutex<HashMap<String, Arc<client::Client>>>,
    /// Retry timing for 429/503/`REQUEST_LIMIT_EXCEEDED` (tests shorten it).
    backoff: Backoff,
    /// Rows asked for per Bulk API result page.
    bulk_page_rows: usize,
    /// Write groups above this size go as Bulk API 2.0 ingest jobs.
    bulk_threshold: usize,
}

impl Default for SalesforceConnector {
    fn default() -> Self {
        SalesforceConnector::with_backoff(Backoff::default())
    }
}

impl SalesforceConnector {
    /// A connector retrying rate-limited calls with `backoff`.
    pub fn with_backoff(backoff: Backoff) -> SalesforceConnector {
        SalesforceConnector {
            clients: Mutex::default(),
            backoff,
            bulk_page_rows: bulk::PAGE_ROWS,
            bulk_threshold: ingest::THRESHOLD,
        }
    }

    /// The same, writing groups of more than `records` through Bulk API
    /// 2.0 ingest jobs (default 2,000).
    pub fn with_bulk_threshold(mut self, records: usize) -> SalesforceConnector {
        self.bulk_threshold = records;
        self
    }

    /// The same, reading Bulk API results `rows` at a time (default 10,000).
    pub fn with_bulk_page_rows(mut self, rows: usize) -> SalesforceConnector {
        self.bulk_page_rows = rows.max(1);
        self
    }

    fn client(&self, cx: &OpContext) -> Result<Arc<client::Client>, ConnectorError> {
        // Keyed by system: every flow using it shares its token.
        let key = cx.system.name.clone();
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| ConnectorError::Config("salesforce client cache poisoned".into()))?;
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let c = Arc::new(client::Client::build(cx, self.backoff.clone())?);
        clients.insert(key, c.clone());
        Ok(c)
    }
}

/// Registers the `salesforce` kind.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(SalesforceConnector::default()));
}

fn not_yet(cx: &OpContext, role: &str) -> ConnectorError {
    ConnectorError::Config(format!(
        "`{}.{}`: the salesforce connector cannot run `{}` as a {role} yet (implemented: query, bulk_query, changes, events, outbound_messages, get, insert, update, upsert, delete, publish)",
        cx.op.system, cx.op.operation, cx.op.operation
    ))
}

#[cfg(not(feature = "pubsub"))]
fn without_pubsub(cx: &OpContext) -> ConnectorError {
    let default = if cx.op.operation == "publish" {
        "rest"
    } else {
        "cometd"
    };
    ConnectorError::Config(format!(
        "`{}.{}`: this aqueduct was built without the Pub/Sub API transport (cargo feature `pubsub`); use transport: {default} or a build with it",
        cx.op.system, cx.op.operation
    ))
}

impl ConnectorFactory for SalesforceConnector {
    fn kind(&self) -> &'static str {
        "salesforce"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        match cx.op.operation.as_str() {
            "query" => Ok(Box::new(query::QuerySource::build(cx, self.client(cx)?)?)),
            "bulk_query" => Ok(Box::new(bulk::BulkQuery::build(
                cx,
                self.client(cx)?,
                self.bulk_page_rows,
            )?)),
            "changes" | "events" => match arg_str(cx, "transport")?.as_deref() {
                None | Some("cometd") => {
                    Ok(Box::new(stream::StreamSource::build(cx, self.client(cx)?)?))
                }
                #[cfg(feature = "pubsub")]
                Some("pubsub") => Ok(Box::new(pubsub::PubSubSource::build(cx, self.client(cx)?)?)),
                #[cfg(not(feature = "pubsub"))]
                Some("pubsub") => Err(without_pubsub(cx)),
                Some(other) => Err(ConnectorError::Config(format!(
                    "`{}.{}`: transport must be cometd or pubsub, not `{other}`",
                    cx.op.system, cx.op.operation
                ))),
            },
            "outbound_messages" => Ok(Box::new(outbound::OutboundSource::build(cx)?)),
            _ => Err(not_yet(cx, "source")),
        }
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        match cx.op.operation.as_str() {
            "publish" => match arg_str(cx, "transport")?.as_deref() {
                None | Some("rest") => Ok(Arc::new(write::WriteTarget::build(
                    cx,
                    self.client(cx)?,
                    self.bulk_threshold,
                )?)),
                #[cfg(feature = "pubsub")]
                Some("pubsub") => Ok(Arc::new(pubsub::publish::PubSubPublish::build(
                    cx,
                    self.client(cx)?,
                )?)),
                #[cfg(not(feature = "pubsub"))]
                Some("pubsub") => Err(without_pubsub(cx)),
                Some(other) => Err(ConnectorError::Config(format!(
                    "`{}.{}`: transport must be rest or pubsub, not `{other}`",
                    cx.op.system, cx.op.operation
                ))),
            },
            "insert" | "update" | "upsert" | "delete" => Ok(Arc::new(write::WriteTarget::build(
                cx,
                self.client(cx)?,
                self.bulk_threshold,
            )?)),
            _ => Err(not_yet(cx, "target")),
        }
    }

    fn call(&self, cx: &OpContext) -> Result<Arc<dyn Call>, ConnectorError> {
        match cx.op.operation.as_str() {
            "get" => Ok(Arc::new(lookup::GetCall::build(cx, self.client(cx)?)?)),
            "query" => Ok(Arc::new(lookup::QueryCall::build(cx, self.client(cx)?)?)),
            _ => Err(not_yet(cx, "call")),
        }
    }
}
