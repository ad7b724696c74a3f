//! Web-service connectors over the `http` connector's client: `soap`
//! (SOAP 1.1 calls, records as body elements, faults as per-record
//! failures) and `graphql` (documents with variables from records, `errors`
//! as failures, `data` as the answer).
//!
//! Both send one request per record through
//! [`aqueduct_connectors::http::client::Client`], so `timeout`, `auth`, the
//! token refresh on 401 and the status classes (408, 429, 5xx and transport
//! failures are transient, other statuses permanent) are those of `http`;
//! retries are the flow's `retry` policy.
#![warn(missing_docs)]

mod graphql;
mod group;
mod soap;

use aqueduct_runtime::connector::Registry;
use std::sync::Arc;

pub use graphql::GraphqlConnector;
pub use soap::SoapConnector;

/// Registers the `soap` and `graphql` kinds.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(SoapConnector));
    registry.register(Arc::new(GraphqlConnector));
}
