//! `redis`: Redis streams, pub/sub and keys.
//!
//! Stream entries map field by field onto records. Keys set by `set` hold the
//! record as JSON, and `get` parses it back.

use super::common::{EVENTS, MESSAGE_FORMAT, arg, named, secret};
use crate::{ALL_MODES, ConnectorSpec, OperationSpec, RecordShape, Role, Support, ValueType};

/// The `redis` kind.
pub(crate) const SPEC: ConnectorSpec = ConnectorSpec {
    kind: "redis",
    summary: "A Redis server: stream consumer groups, pub/sub channels, and keys.",
    options: &[secret(
        "url",
        ValueType::Url,
        "Connection URL, e.g. redis://:password@host:6379/0.",
    )],
    inline_positional: &["url"],
    operations: &[
        OperationSpec {
            name: "stream",
            role: Role::Source,
            summary: "Read a stream in a consumer group (XREADGROUP); an entry is acknowledged once delivered.",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[
                arg("key", ValueType::String, "The stream key."),
                arg(
                    "group",
                    ValueType::String,
                    "Consumer group, created at the stream's start if missing; replicas share its entries.",
                ),
                named(
                    "consumer",
                    ValueType::String,
                    "Consumer name within the group (default: the flow name, a dash and the host name).",
                ),
                named(
                    "claim_after",
                    ValueType::Duration,
                    "Take over entries another consumer left unacknowledged this long (XAUTOCLAIM; default: 60s).",
                ),
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "subscribe",
            role: Role::Source,
            summary: "Receive messages published on a channel (a * pattern uses PSUBSCRIBE); at most once: nothing is replayed.",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "channel",
                    ValueType::String,
                    "Channel name or glob pattern.",
                ),
                MESSAGE_FORMAT,
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "xadd",
            role: Role::Target,
            summary: "Append each record to a stream as one entry (one entry field per record field).",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "key",
                    ValueType::Template,
                    "The stream key; may use record fields.",
                ),
                named(
                    "maxlen",
                    ValueType::Int,
                    "Trim the stream to about this many entries (default: no trimming).",
                ),
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "publish",
            role: Role::Target,
            summary: "Publish each record on a channel.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "channel",
                    ValueType::Template,
                    "The channel; may use record fields.",
                ),
                MESSAGE_FORMAT,
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "set",
            role: Role::Target,
            summary: "Store each record as JSON under a key built from it.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "key_expr",
                    ValueType::Template,
                    "The key, e.g. \"customer:{.id}\".",
                ),
                named(
                    "ttl",
                    ValueType::Duration,
                    "Expire the key after this long (default: never).",
                ),
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "get",
            role: Role::Call,
            summary: "Read the JSON value of a key built from the record; answers null when the key is missing.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[arg(
                "key_expr",
                ValueType::Template,
                "The key, e.g. \"customer:{.id}\".",
            )],
            record: RecordShape::Declared,
        },
    ],
    support: Support::Feature("brokers"),
};
