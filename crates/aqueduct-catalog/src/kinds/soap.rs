//! `soap`: SOAP 1.1 web services.
//!
//! The record becomes the operation's body element (one child element per
//! field); the response body element becomes the answer.

use super::common::{BASIC, arg, named, option, required};
use crate::{
    ALL_MODES, ConnectorSpec, OperationSpec, ParamSpec, RecordShape, Role, Support, ValueType,
};

/// The parameters of `call`, in both roles.
const CALL_PARAMS: &[ParamSpec] = &[
    arg(
        "operation",
        ValueType::String,
        "The operation, the body element's name, e.g. \"CreateOrder\".",
    ),
    named(
        "action",
        ValueType::String,
        "SOAPAction header value (default: \"\").",
    ),
];

/// The `soap` kind.
pub(crate) const SPEC: ConnectorSpec = ConnectorSpec {
    kind: "soap",
    summary: "A SOAP 1.1 web service: call operations with records as request bodies.",
    options: &[
        required("url", ValueType::Url, "The service endpoint."),
        option(
            "namespace",
            ValueType::String,
            "XML namespace of the operation elements (default: none).",
        ),
        option(
            "timeout",
            ValueType::Duration,
            "Time limit for one request, including the answer (default: 30s).",
        ),
        option(
            "auth",
            ValueType::Block(&[BASIC]),
            "How requests authenticate (default: not at all).",
        ),
    ],
    inline_positional: &["url"],
    operations: &[
        OperationSpec {
            name: "call",
            role: Role::Target,
            summary: "Call an operation per record; a SOAP fault is a failure.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: CALL_PARAMS,
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "call",
            role: Role::Call,
            summary: "Call an operation per record and answer with the response body.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: CALL_PARAMS,
            record: RecordShape::Declared,
        },
    ],
    support: Support::Feature("web"),
};
