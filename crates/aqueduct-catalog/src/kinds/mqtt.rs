//! `mqtt`: MQTT 3.1.1 and 5 brokers.

use super::common::{EVENTS, MESSAGE_FORMAT, arg, named, opt_arg, option, secret};
use crate::{
    ALL_MODES, ConnectorSpec, OperationSpec, ParamSpec, RecordShape, Role, Support, ValueType,
};

/// `qos`: written as an integer literal, `qos: 1`.
const QOS: ParamSpec = opt_arg(
    "qos",
    ValueType::Int,
    "Quality of service: 0, 1 or 2 (default: 1).",
);

/// The `mqtt` kind.
pub(crate) const SPEC: ConnectorSpec = ConnectorSpec {
    kind: "mqtt",
    summary: "An MQTT broker: subscribe to topic filters, publish to topics.",
    options: &[
        secret(
            "url",
            ValueType::Url,
            "Broker URL, e.g. mqtt://user:password@host:1883 or mqtts://…:8883.",
        ),
        option(
            "client_id",
            ValueType::String,
            "Client identifier; a fixed one keeps a persistent session (default: aqueduct- plus the flow name). Replicas on a shared subscription each need their own, e.g. env(\"REPLICA_ID\").",
        ),
    ],
    inline_positional: &["url"],
    operations: &[
        OperationSpec {
            name: "subscribe",
            role: Role::Source,
            summary: "Receive messages on a topic filter; with qos 1 or 2 a message is acknowledged once delivered.",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "filter",
                    ValueType::String,
                    "Topic filter, with + and # wildcards, e.g. \"sensors/+/temp\".",
                ),
                QOS,
                MESSAGE_FORMAT,
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "publish",
            role: Role::Target,
            summary: "Publish each record to a topic.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "topic",
                    ValueType::Template,
                    "The topic; may use record fields, e.g. \"devices/{.id}/cmd\".",
                ),
                QOS,
                named(
                    "retain",
                    ValueType::Bool,
                    "Ask the broker to keep the last message for new subscribers (default: false).",
                ),
                MESSAGE_FORMAT,
            ],
            record: RecordShape::Declared,
        },
    ],
    support: Support::Feature("brokers"),
};
