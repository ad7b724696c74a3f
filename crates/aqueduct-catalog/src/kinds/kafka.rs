//! `kafka`: Apache Kafka and Kafka-protocol brokers (consumer groups,
//! idempotent producers).

use super::common::{EVENTS, MESSAGE_FORMAT, arg, named, required};
use crate::{ALL_MODES, ConnectorSpec, OperationSpec, RecordShape, Role, Support, ValueType};

/// The `kafka` kind.
pub(crate) const SPEC: ConnectorSpec = ConnectorSpec {
    kind: "kafka",
    summary: "A Kafka-protocol broker: consume topics in a consumer group, publish with the idempotent producer.",
    options: &[required(
        "url",
        ValueType::Url,
        "Bootstrap brokers, e.g. kafka://host1:9092,host2:9092 (plaintext; TLS and SASL are not supported yet).",
    )],
    inline_positional: &["url"],
    operations: &[
        OperationSpec {
            name: "consume",
            role: Role::Source,
            summary: "Consume a topic in a consumer group; an offset is committed once every target accepted its record and all before it (replicas share the partitions).",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[
                arg("topic", ValueType::String, "The topic; it must exist."),
                arg(
                    "group",
                    ValueType::String,
                    "The consumer group; replicas in one group share the topic's partitions.",
                ),
                named(
                    "key_field",
                    ValueType::Field("string"),
                    "A declared optional string field that receives the message key as text (default: none).",
                ),
                named(
                    "headers_field",
                    ValueType::Field("json"),
                    "A declared optional json field that receives the message headers as an object of strings (default: none).",
                ),
                MESSAGE_FORMAT,
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "publish",
            role: Role::Target,
            summary: "Produce each record with acks=all and the idempotent producer; accepted once the broker acknowledged it.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[
                arg("topic", ValueType::String, "The topic; it must exist."),
                named(
                    "key",
                    ValueType::Template,
                    "Message key, which picks the partition; may use record fields, e.g. \"{.customer_id}\" (default: none, spread over partitions).",
                ),
                named(
                    "headers_field",
                    ValueType::Field("json"),
                    "A json field of the record whose object of strings becomes the message headers (left out of a json payload); null or absent sends none (default: none).",
                ),
                MESSAGE_FORMAT,
            ],
            record: RecordShape::Declared,
        },
    ],
    support: Support::Feature("kafka"),
};
