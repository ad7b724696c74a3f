//! `endpoint`: an inbound HTTP server whose requests are records.
//!
//! In a `sync` flow the caller waits for the flow's `reply`; in an `async`
//! flow the request is answered `202 Accepted` once the record is taken in.
//! Route segments written `:name` become string fields of the record.

use super::common::{API_KEY, BEARER, REQUEST_REPLY, arg, option, required, secret};
use crate::{
    BlockSpec, ConnectorSpec, Mode, OperationSpec, ParamSpec, RecordShape, Role, Support, ValueType,
};

/// `hmac { header, secret, algorithm }`: a signature of the body.
const HMAC: BlockSpec = BlockSpec {
    kind: "hmac",
    summary: "Requests carry a hex HMAC of the raw body in a header (webhook signatures).",
    options: &[
        required(
            "header",
            ValueType::String,
            "The header holding the signature, e.g. \"X-Signature\".",
        ),
        secret("secret", ValueType::String, "The shared key."),
        option(
            "algorithm",
            ValueType::Enum(&["sha256"]),
            "The hash function (default: sha256).",
        ),
    ],
};

/// `path` of an inbound route.
const PATH: ParamSpec = arg(
    "path",
    ValueType::String,
    "Route, e.g. \"/orders\" or \"/orders/:id\" (:id fills the field `id`, converted to its type).",
);

/// A source taking requests with the HTTP method `name`.
const fn route(name: &'static str, summary: &'static str) -> OperationSpec {
    OperationSpec {
        name,
        role: Role::Source,
        summary,
        modes: REQUEST_REPLY,
        bounded: false,
        request_reply: true,
        params: &[PATH],
        record: RecordShape::Declared,
    }
}

/// The `endpoint` kind.
pub(crate) const SPEC: ConnectorSpec = ConnectorSpec {
    kind: "endpoint",
    summary: "An inbound HTTP server: each request is a record, answered by a sync flow or with 202.",
    options: &[
        required(
            "listen",
            ValueType::String,
            "Address and port to listen on, e.g. \"127.0.0.1:8080\".",
        ),
        option(
            "auth",
            ValueType::Block(&[API_KEY, BEARER, HMAC]),
            "What callers must present; others get 401 (default: no check).",
        ),
        option(
            "max_body",
            ValueType::Size,
            "Largest request body accepted; larger ones get 413 (default: 1MiB).",
        ),
        option(
            "header_timeout",
            ValueType::Duration,
            "A client must send a request's headers within this time of connecting or of its previous request, else the connection is closed (default: 10s).",
        ),
        option(
            "body_timeout",
            ValueType::Duration,
            "A request's whole body must arrive within this time, else 408 (default: 30s).",
        ),
        option(
            "max_connections",
            ValueType::Int,
            "Most connections open at once; more wait to be accepted (default: 512).",
        ),
        option(
            "max_unverified_bodies",
            ValueType::Int,
            "hmac auth: most request bodies read at once before their signature is checked; more wait, then get 503 (default: 16).",
        ),
    ],
    inline_positional: &["listen"],
    operations: &[
        route(
            "post",
            "Accept POST requests; the JSON body (plus path fields) is the record.",
        ),
        route(
            "put",
            "Accept PUT requests; the JSON body (plus path fields) is the record.",
        ),
        route(
            "get",
            "Accept GET requests; path fields and query-string parameters make the record.",
        ),
        OperationSpec {
            name: "events",
            role: Role::Target,
            summary: "Push each record as a server-sent event (JSON data) to every client connected to the path.",
            modes: &[Mode::Sync, Mode::Async],
            bounded: false,
            request_reply: false,
            params: &[arg(
                "path",
                ValueType::String,
                "Route clients connect to, e.g. \"/events\".",
            )],
            record: RecordShape::Declared,
        },
    ],
    support: Support::Embedded,
};
