//! Pieces several kinds share: record formats, auth blocks, helpers.
//!
//! # Formats
//!
//! File and stream operations take `format`, one of `jsonl json csv xml text
//! bytes`. The record shape of those operations is `Declared`, because a shape
//! cannot depend on an argument; what each format reads and writes is:
//!
//! | format | one record is | fields |
//! |---|---|---|
//! | `jsonl` | one line, a JSON object | as declared |
//! | `json` | one element of a top-level array (or the single top-level object) | as declared |
//! | `csv` | one row; with `header: true` (the default) the first row names the fields | as declared, converted from text |
//! | `xml` | one element named by `record` (default: each child of the root element) | child elements and attributes, as declared |
//! | `text` | one line, without its line ending | `{ line: string }` |
//! | `bytes` | the whole file (or stream) | `{ bytes: bytes }` |
//!
//! Message brokers carry one document per message, so their `format` is one
//! of `json text bytes`: `json` decodes the payload into the declared fields,
//! `text` gives `{ text: string }`, `bytes` gives `{ bytes: bytes }`.

use crate::{BlockSpec, Mode, OptionSpec, ParamSpec, ValueType};

/// The file formats, as the bare names `format:` accepts.
pub(crate) const FILE_FORMATS: &[&str] = &["jsonl", "json", "csv", "xml", "text", "bytes"];

/// The payload formats of a message broker.
pub(crate) const MESSAGE_FORMATS: &[&str] = &["json", "text", "bytes"];

/// Modes of a bounded source: a batch run, or a one-shot read feeding events.
pub(crate) const BOUNDED_SOURCE: &[Mode] = &[Mode::Batch, Mode::Async];

/// Modes of an event source that is not request-reply.
pub(crate) const EVENTS: &[Mode] = &[Mode::Async];

/// Modes of an inbound request: answered by the flow, or with 202 Accepted.
pub(crate) const REQUEST_REPLY: &[Mode] = &[Mode::Sync, Mode::Async];

/// An optional option.
pub(crate) const fn option(name: &'static str, ty: ValueType, summary: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        ty,
        required: false,
        secret: false,
        summary,
    }
}

/// A required option.
pub(crate) const fn required(
    name: &'static str,
    ty: ValueType,
    summary: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        ty,
        required: true,
        secret: false,
        summary,
    }
}

/// A required option holding a credential.
pub(crate) const fn secret(name: &'static str, ty: ValueType, summary: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        ty,
        required: true,
        secret: true,
        summary,
    }
}

/// An optional option holding a credential.
pub(crate) const fn opt_secret(
    name: &'static str,
    ty: ValueType,
    summary: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        ty,
        required: false,
        secret: true,
        summary,
    }
}

/// A required positional parameter.
pub(crate) const fn arg(name: &'static str, ty: ValueType, summary: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        positional: true,
        required: true,
        ty,
        summary,
    }
}

/// An optional positional parameter.
pub(crate) const fn opt_arg(name: &'static str, ty: ValueType, summary: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        positional: true,
        required: false,
        ty,
        summary,
    }
}

/// An optional named parameter.
pub(crate) const fn named(name: &'static str, ty: ValueType, summary: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        positional: false,
        required: false,
        ty,
        summary,
    }
}

/// A required named parameter.
pub(crate) const fn req_named(
    name: &'static str,
    ty: ValueType,
    summary: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        positional: false,
        required: true,
        ty,
        summary,
    }
}

// ----- format parameters ----------------------------------------------------

/// `format`, positional after the path (or first when there is no path).
pub(crate) const FORMAT: ParamSpec = opt_arg(
    "format",
    ValueType::Enum(FILE_FORMATS),
    "Record format: jsonl, json, csv, xml, text or bytes (default: from the file extension, else jsonl).",
);

/// `header` for csv.
pub(crate) const HEADER: ParamSpec = named(
    "header",
    ValueType::Bool,
    "csv: the first row names the fields (default: true).",
);

/// `delimiter` for csv.
pub(crate) const DELIMITER: ParamSpec = named(
    "delimiter",
    ValueType::String,
    "csv: the field separator, one character (default: \",\").",
);

/// `record` for xml.
pub(crate) const RECORD: ParamSpec = named(
    "record",
    ValueType::String,
    "xml: the element holding one record (default: each child of the root element).",
);

/// `max_record_size` of a reading source.
pub(crate) const MAX_RECORD_SIZE: ParamSpec = named(
    "max_record_size",
    ValueType::Size,
    "Largest record (a jsonl/csv/text line, a bytes input); a larger one goes to the dead letter without being held in memory (default: 16MiB).",
);

/// `format` of a message payload (named).
pub(crate) const MESSAGE_FORMAT: ParamSpec = named(
    "format",
    ValueType::Enum(MESSAGE_FORMATS),
    "Payload format: json, text ({ text: string }) or bytes ({ bytes: bytes }) (default: json).",
);

// ----- auth blocks ----------------------------------------------------------

/// `bearer { token }`: an `Authorization: Bearer` token.
pub(crate) const BEARER: BlockSpec = BlockSpec {
    kind: "bearer",
    summary: "A static bearer token sent as an `Authorization: Bearer` header.",
    options: &[secret("token", ValueType::String, "The token.")],
};

/// `basic { username, password }`.
pub(crate) const BASIC: BlockSpec = BlockSpec {
    kind: "basic",
    summary: "HTTP basic authentication.",
    options: &[
        required("username", ValueType::String, "The user name."),
        secret("password", ValueType::String, "The password."),
    ],
};

/// `api_key { header, value }`.
pub(crate) const API_KEY: BlockSpec = BlockSpec {
    kind: "api_key",
    summary: "A key sent in (or expected in) a request header.",
    options: &[
        required(
            "header",
            ValueType::String,
            "The header name, e.g. \"X-Api-Key\".",
        ),
        secret("value", ValueType::String, "The key."),
    ],
};

/// `oauth2_client_credentials { token_url, client_id, client_secret, scope }`.
pub(crate) const OAUTH2_CLIENT_CREDENTIALS: BlockSpec = BlockSpec {
    kind: "oauth2_client_credentials",
    summary: "OAuth 2.0 client credentials: a token fetched from `token_url`, refreshed when it expires.",
    options: &[
        required("token_url", ValueType::Url, "The token endpoint."),
        required("client_id", ValueType::String, "The client id."),
        secret("client_secret", ValueType::String, "The client secret."),
        option(
            "scope",
            ValueType::String,
            "Space-separated scopes to request (default: none).",
        ),
    ],
};

/// The auth blocks of an outbound HTTP client (`http`, `graphql`).
pub(crate) const OUTBOUND_AUTH: ValueType =
    ValueType::Block(&[BEARER, BASIC, API_KEY, OAUTH2_CLIENT_CREDENTIALS]);
