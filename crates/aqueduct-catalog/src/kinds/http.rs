//! `http`: an outbound HTTP client for JSON APIs.
//!
//! Request and response bodies are JSON: a target sends the record as the
//! body, a call answers with the response body. A response that is a JSON
//! array gives one record per element when polled or fetched with `get`.

use super::common::{BOUNDED_SOURCE, EVENTS, OUTBOUND_AUTH, arg, named, option, required};
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
            summary: "GET a path at a fixed interval; each response (or each element of an array response) is a record, with a watermark only those not delivered yet.",
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
                named(
                    "watermark",
                    ValueType::String,
                    "Field that grows with each new element (an id or a timestamp, a dotted path); only elements whose field is greater than the greatest delivered are delivered, and that value is saved as the position once acknowledged (default: none, every response is delivered whole).",
                ),
                named(
                    "watermark_param",
                    ValueType::String,
                    "Query parameter the saved watermark is sent in, e.g. \"since\", so the API can answer only newer elements (default: none, the watermark only filters the answers).",
                ),
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "get",
            role: Role::Source,
            summary: "GET a path once, following its pages; each element of the body (or of its `items` field) is a record.",
            modes: BOUNDED_SOURCE,
            bounded: true,
            request_reply: false,
            params: &[
                arg(
                    "path",
                    ValueType::String,
                    "Path relative to base_url, may carry a query, e.g. \"/orders?per_page=100\".",
                ),
                named(
                    "items",
                    ValueType::String,
                    "Field of each page holding the array of records, a dotted path such as \"data\" (default: the body itself).",
                ),
                named(
                    "paginate",
                    ValueType::Enum(&["none", "link", "cursor", "page"]),
                    "How the next page is found: the `Link: <…>; rel=\"next\"` header, a cursor in the body, or a page number (default: none, one request).",
                ),
                named(
                    "cursor",
                    ValueType::String,
                    "With paginate: cursor, the field of the body holding the next page's cursor, a dotted path (default: \"next_cursor\"); missing, null or empty ends the run.",
                ),
                named(
                    "cursor_param",
                    ValueType::String,
                    "With paginate: cursor, the query parameter the cursor is sent in (default: \"cursor\").",
                ),
                named(
                    "page_param",
                    ValueType::String,
                    "With paginate: page, the query parameter holding the page number (default: \"page\"); an empty page ends the run.",
                ),
                named(
                    "first_page",
                    ValueType::Int,
                    "With paginate: page, the number of the first page (default: 1).",
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
