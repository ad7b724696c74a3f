//! `nats`: NATS core subjects and JetStream durable consumers.

use super::common::{EVENTS, MESSAGE_FORMAT, arg, named, secret};
use crate::{ALL_MODES, ConnectorSpec, OperationSpec, RecordShape, Role, Support, ValueType};

/// The `nats` kind.
pub(crate) const SPEC: ConnectorSpec = ConnectorSpec {
    kind: "nats",
    summary: "A NATS server: subjects, JetStream durable consumers, request-reply.",
    options: &[secret(
        "url",
        ValueType::Url,
        "Server URL, e.g. nats://user:password@host:4222.",
    )],
    inline_positional: &["url"],
    operations: &[
        OperationSpec {
            name: "subscribe",
            role: Role::Source,
            summary: "Receive messages on a subject; with `durable`, from a JetStream consumer (at least once), else core NATS (at most once).",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "subject",
                    ValueType::String,
                    "Subject, with * and > wildcards, e.g. \"orders.>\".",
                ),
                named(
                    "durable",
                    ValueType::String,
                    "JetStream durable consumer name; its position survives restarts (default: none, core NATS).",
                ),
                named(
                    "ack_wait",
                    ValueType::Duration,
                    "With `durable`: how long JetStream waits for an ack before redelivering (default: 30s).",
                ),
                named(
                    "group",
                    ValueType::String,
                    "Queue group: replicas sharing it split the messages (default: none).",
                ),
                MESSAGE_FORMAT,
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "publish",
            role: Role::Target,
            summary: "Publish each record to JetStream; accepted once the stream capturing the subject stored it.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "subject",
                    ValueType::Template,
                    "The subject; may use record fields, e.g. \"orders.{.region}\".",
                ),
                MESSAGE_FORMAT,
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "request",
            role: Role::Call,
            summary: "Send the record as a request on a subject and answer with the reply.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "subject",
                    ValueType::Template,
                    "The subject; may use record fields.",
                ),
                named(
                    "timeout",
                    ValueType::Duration,
                    "How long to wait for the reply (default: 5s).",
                ),
                MESSAGE_FORMAT,
            ],
            record: RecordShape::Declared,
        },
    ],
    support: Support::Feature("brokers"),
};
