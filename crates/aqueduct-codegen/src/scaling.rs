//! Whether the replicas of a long-running service can share its work, and
//! how: aqueduct has no coordinator of its own, the broker's consumer
//! groups are the distributed engine. A flow fed by a RabbitMQ queue, a
//! JetStream durable consumer (or a core NATS queue group), a Redis stream
//! group, an MQTT shared subscription (`$share/…`) or a Kafka consumer group
//! gets each message delivered to one replica; an inbound endpoint is
//! shared by the Kubernetes Service in front of the replicas; a flow fed by
//! an in-process channel moves with the flow that feeds it. Any other
//! source (a file, a poll, a plain subscription, a batch) would be read by
//! every replica, so such a service keeps one.
//!
//! An MQTT shared subscription is the one broker group whose members must
//! come back under their own name: Mosquitto keeps a dead member's
//! persistent session in the group, and that session holds the member's
//! unacknowledged messages and its turn of every message published while
//! it is away. Such a service gets a fixed count of replicas with stable
//! names (a StatefulSet; the pod name is the client id) and no
//! autoscaler, which would remove members for good.

use crate::services::Service;
use aqueduct_graph::{ConfigValue, Endpoint, ExprKind, Flow, Graph, OpRef, Value};

/// How the replicas of a service split its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scaling {
    /// Replicas share the work: one sentence per broker-fed flow on how.
    Shared {
        /// One sentence per broker-fed flow on how its input is shared.
        how: Vec<String>,
        /// Why each replica must keep its identity (a fixed count of
        /// replicas with stable names, no autoscaler), if one must.
        sticky: Option<String>,
    },
    /// One replica; why (the first flow that forbids more).
    Single(String),
}

/// How `service`'s replicas share its work.
pub fn of(service: &Service) -> Scaling {
    let graph = &service.graph;
    let mut shared = Vec::new();
    let mut sticky = None;
    for flow in &graph.flows {
        match input(graph, flow) {
            Input::Broker(how) => shared.push(how),
            Input::Sticky(how) => {
                sticky.get_or_insert_with(|| {
                    format!(
                        "`{}` holds an MQTT shared subscription, whose broker keeps a stopped member's session (and its turn of the messages) until a client with the same id comes back",
                        flow.name
                    )
                });
                shared.push(how);
            }
            Input::Spread => {}
            Input::Alone(why) => return Scaling::Single(why),
        }
    }
    if shared.is_empty() {
        Scaling::Single("no broker feeds its flows".into())
    } else {
        Scaling::Shared {
            how: shared,
            sticky,
        }
    }
}

enum Input {
    /// A broker delivers each message to one replica.
    Broker(String),
    /// As `Broker`, but each replica must come back under its own name.
    Sticky(String),
    /// Shared without a broker (inbound endpoint, in-process channel).
    Spread,
    /// Every replica would read it all.
    Alone(String),
}

fn input(graph: &Graph, flow: &Flow) -> Input {
    let name = &flow.name;
    let op = match &flow.source.endpoint {
        Endpoint::Op(op) => op,
        Endpoint::Channel(channel) => match graph.channel(channel).and_then(|c| c.via.as_ref()) {
            Some(op) => op,
            None => return Input::Spread,
        },
    };
    let call = format!("`{}.{}`", op.system, op.operation);
    let text = |arg: &str| literal(op, arg).map(|v| format!("`{v}`"));
    match (op.connector.as_str(), op.operation.as_str()) {
        ("endpoint", _) => Input::Spread,
        ("amqp", "consume") => Input::Broker(format!(
            "`{name}` consumes the RabbitMQ queue {}: every replica is a consumer of the queue and RabbitMQ hands each message to one of them (each holds at most `prefetch` unacknowledged).",
            text("queue").unwrap_or_else(|| "it names".into())
        )),
        ("nats", "subscribe") => match (text("durable"), text("group")) {
            (Some(durable), _) => Input::Broker(format!(
                "`{name}` pulls from the JetStream durable consumer {durable}: the replicas share it, each message goes to one of them, and one a replica did not acknowledge is redelivered after `ack_wait`."
            )),
            (None, Some(group)) => Input::Broker(format!(
                "`{name}` is in the core NATS queue group {group}: each message goes to one member (at most once: core NATS keeps nothing)."
            )),
            (None, None) => Input::Alone(format!(
                "`{name}` subscribes to core NATS without `durable` or `group`: every replica would get every message (name a `durable` consumer to share it)"
            )),
        },
        ("redis", "stream") if op.arg("consumer").is_some() => Input::Alone(format!(
            "`{name}` names its Redis stream `consumer`: every replica would be that one consumer (leave it unset and each replica is its own)"
        )),
        ("redis", "stream") => Input::Broker(format!(
            "`{name}` reads the Redis stream {} in the consumer group {}: each replica is a consumer of the group (named after the flow and the host name, the pod name on Kubernetes), and entries a dead replica left pending are claimed by the others after `claim_after`.",
            text("key").unwrap_or_else(|| "it names".into()),
            text("group").unwrap_or_else(|| "it names".into())
        )),
        ("mqtt", "subscribe") => match literal(op, "filter") {
            Some(filter) if filter.starts_with("$share/") && !per_replica_client_id(graph, op) => {
                Input::Alone(format!(
                    "`{name}` holds an MQTT shared subscription, but every replica would connect with the same client id and take the others' session (set `client_id = env(\"HOSTNAME\")` on system `{}`)",
                    op.system
                ))
            }
            Some(filter) if filter.starts_with("$share/") => Input::Sticky(format!(
                "`{name}` holds the MQTT shared subscription `{filter}`: the broker hands each message to one subscriber of the group, and each replica connects with its own client id (from the environment: on Kubernetes `HOSTNAME`, the pod's stable name). A replica that is down keeps its turn of the messages in its session until it is back under that id, so the replicas are a StatefulSet with a fixed count and no autoscaler."
            )),
            _ => Input::Alone(format!(
                "`{name}` subscribes to MQTT without a shared subscription: every replica would get every message (a `$share/GROUP/` filter shares it)"
            )),
        },
        ("kafka", "consume") => Input::Broker(format!(
            "`{name}` consumes the Kafka topic {} in the consumer group {}: the topic's partitions are spread over the replicas (replicas beyond the partition count stay idle).",
            text("topic").unwrap_or_else(|| "it names".into()),
            text("group").unwrap_or_else(|| "it names".into())
        )),
        _ => Input::Alone(format!(
            "`{name}` reads {call}, which every replica would read in full"
        )),
    }
}

/// Whether the MQTT system of `op` reads its client id from the
/// environment (so each replica can have its own), not from the flow.
fn per_replica_client_id(graph: &Graph, op: &OpRef) -> bool {
    graph
        .systems
        .iter()
        .find(|s| s.name == op.system)
        .and_then(|s| s.option("client_id"))
        .is_some_and(|v| matches!(v, ConfigValue::Env { .. }))
}

/// The argument `name` of `op` when it is a string literal.
fn literal<'a>(op: &'a OpRef, name: &str) -> Option<&'a str> {
    match &op.arg(name)?.kind {
        ExprKind::Lit(Value::String(s)) => Some(s),
        _ => None,
    }
}
