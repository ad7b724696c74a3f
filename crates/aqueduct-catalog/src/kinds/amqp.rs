//! `amqp`: AMQP 0-9-1 brokers such as RabbitMQ.

use super::common::{EVENTS, MESSAGE_FORMAT, arg, named, opt_arg, secret};
use crate::{ALL_MODES, ConnectorSpec, OperationSpec, RecordShape, Role, Support, ValueType};

/// The `amqp` kind.
pub(crate) const SPEC: ConnectorSpec = ConnectorSpec {
    kind: "amqp",
    summary: "An AMQP 0-9-1 broker (RabbitMQ): consume queues, publish to exchanges.",
    options: &[secret(
        "url",
        ValueType::Url,
        "Connection URL, e.g. amqp://user:password@host:5672/vhost.",
    )],
    inline_positional: &["url"],
    operations: &[
        OperationSpec {
            name: "consume",
            role: Role::Source,
            summary: "Consume a queue; a message is acknowledged once every target accepted it (replicas compete).",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[
                arg("queue", ValueType::String, "The queue; it must exist."),
                named(
                    "prefetch",
                    ValueType::Int,
                    "Most unacknowledged messages held at once (default: 100).",
                ),
                MESSAGE_FORMAT,
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "publish",
            role: Role::Target,
            summary: "Publish each record as a persistent message; accepted once the broker confirms it.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "exchange",
                    ValueType::String,
                    "The exchange; \"\" is the default exchange (routes by queue name).",
                ),
                opt_arg(
                    "routing_key",
                    ValueType::Template,
                    "Routing key; may use record fields (default: \"\").",
                ),
                MESSAGE_FORMAT,
            ],
            record: RecordShape::Declared,
        },
    ],
    support: Support::Feature("brokers"),
};
