//! `http`: an outbound HTTP client for JSON APIs.
//!
//! Request and response bodies are JSON: a target sends the record as the
//! body, a call answers with the response body. A response that is a JSON
//! array gives one record per element when polled.

use super::common::{EVENTS, OUTBOUND_AUTH, arg, option, required};
use crate::{
    ALL_MODES, ConnectorSpec, OperationSpec, ParamSpec, RecordShape, Role, Support, ValueType,
};

/// `path` of a target or call: relative to `base_url`, may use record fields.
const PATH: ParamSpec = arg(
    "path",
    ValueType::Template,
    "Path relative to base_url; may use record fields, e.g. \"/orders/{.id}\".",
);

/// A target sending each record with the HTTP method `name`.
const fn target(name: &'static str, summary: &'static str) -> OperationSpec {
    OperationSpec {
        name,
        role: Role::Target,
        summary,
        modes: ALL_MODES,
        bounded: false,
        request_reply: false,
        params: &[PATH],
        record: RecordShape::Declared,
    }
}

/// The `http` kind.
pub(crate) const SPEC: ConnectorSpec = ConnectorSpec {
    kind: "http",
    summary: "An outbound HTTP client for JSON APIs: poll, send records, or look values up.",
    options: &[
        required(
            "base_url",
            ValueType::Url,
            "URL that operation paths are relative to, e.g. \"https://api.example.com/v1\".",
        ),
        option(
            "auth",
            OUTBOUND_AUTH,
            "How requests authenticate (default: not at all).",
        ),
        option(
            "timeout",
            ValueType::Duration,
            "Time limit for one request, including the body (default: 30s).",
        ),
        option(
            "headers",
            ValueType::Map,
            "Headers sent with every request.",
        ),
    ],
    inline_positional: &["base_url"],
    operations: &[
        OperationSpec {
            name: "poll",
            role: Role::Source,
            summary: "GET a path at a fixed interval; each response (or each element of an array response) is a record.",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[
                arg("path", ValueType::String, "Path relative to base_url."),
                arg(
                    "every",
                    ValueType::Duration,
                    "Time between two requests, e.g. 30s.",
                ),
            ],
            record: RecordShape::Declared,
        },
        target(
            "post",
            "POST each record as a JSON body; any 2xx status accepts it.",
        ),
        target(
            "put",
            "PUT each record as a JSON body; any 2xx status accepts it.",
        ),
        target(
            "patch",
            "PATCH each record as a JSON body; any 2xx status accepts it.",
        ),
        target(
            "delete",
            "DELETE the path built from each record (no body); any 2xx status or 404 accepts it.",
        ),
        OperationSpec {
            name: "get",
            role: Role::Call,
            summary: "GET a path built from the record; answers with the JSON response body (null on 404).",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[PATH],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "post",
            role: Role::Call,
            summary: "POST the record as a JSON body; answers with the JSON response body.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[PATH],
            record: RecordShape::Declared,
        },
    ],
    support: Support::Embedded,
};
