//! `graphql`: GraphQL APIs over HTTP.
//!
//! The record's fields are the document's variables; the answer is the
//! response's `data` object. A response with `errors` is a failure.

use super::common::{OUTBOUND_AUTH, arg, named, option, required};
use crate::{
    ALL_MODES, ConnectorSpec, OperationSpec, ParamSpec, RecordShape, Role, Support, ValueType,
};

/// `document`: a GraphQL operation, usually a `"""…"""` string.
const DOCUMENT: ParamSpec = arg(
    "document",
    ValueType::String,
    "The GraphQL document; its variables are taken from the record's fields.",
);

/// `operation`: which operation of a document with several to run.
const OPERATION: ParamSpec = named(
    "operation",
    ValueType::String,
    "The operation to run when the document defines several (sent as operationName) (default: the document's only operation).",
);

/// The `graphql` kind.
pub(crate) const SPEC: ConnectorSpec = ConnectorSpec {
    kind: "graphql",
    summary: "A GraphQL API: run mutations with records, or queries as lookups.",
    options: &[
        required(
            "url",
            ValueType::Url,
            "The GraphQL endpoint, e.g. https://api.example.com/graphql.",
        ),
        option(
            "timeout",
            ValueType::Duration,
            "Time limit for one request, including the answer (default: 30s).",
        ),
        option(
            "auth",
            OUTBOUND_AUTH,
            "How requests authenticate (default: not at all).",
        ),
    ],
    inline_positional: &["url"],
    operations: &[
        OperationSpec {
            name: "mutate",
            role: Role::Target,
            summary: "Run a mutation per record.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[DOCUMENT, OPERATION],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "query",
            role: Role::Call,
            summary: "Run a query per record and answer with its data.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[DOCUMENT, OPERATION],
            record: RecordShape::Declared,
        },
    ],
    support: Support::Feature("web"),
};
