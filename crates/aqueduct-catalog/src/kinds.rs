//! The connector kinds, one module each; this module only assembles [`ALL`].
//!
//! Each module holds a `const` [`ConnectorSpec`] built from plain data and
//! the shared pieces in `common` (formats, auth blocks, constructors).

mod amqp;
mod common;
mod endpoint;
mod file;
mod graphql;
mod http;
mod kafka;
mod mqtt;
mod nats;
mod redis;
mod salesforce;
mod soap;
mod sql;
mod stdio;

use crate::ConnectorSpec;

/// Every kind, in the order of the design's catalogue table.
pub(crate) static ALL: &[ConnectorSpec] = &[
    file::SPEC,
    stdio::SPEC,
    http::SPEC,
    endpoint::SPEC,
    sql::SQLITE,
    sql::POSTGRES,
    sql::MYSQL,
    redis::SPEC,
    amqp::SPEC,
    mqtt::SPEC,
    nats::SPEC,
    kafka::SPEC,
    salesforce::SPEC,
    soap::SPEC,
    graphql::SPEC,
];
