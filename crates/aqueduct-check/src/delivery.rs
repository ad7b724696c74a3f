//! Delivery notes: a flow fed by a source that delivers at most once (core
//! NATS, Redis pub/sub, MQTT at QoS 0) gets note AQ0420, so the weaker
//! guarantee is said where the flow is written, not discovered after a
//! crash lost messages. A note rather than a warning, because at most once
//! is often what the flow wants (metrics, presence): the project still
//! passes `check --deny-warnings`.

use aqueduct_graph::{ExprKind, OpRef, Value};

/// Why `op`, used as a source, delivers at most once, and how to get
/// at-least-once instead; `None` for every other source.
pub(crate) fn at_most_once(op: &OpRef) -> Option<(&'static str, &'static str)> {
    match (op.connector.as_str(), op.operation.as_str()) {
        ("nats", "subscribe") if op.arg("durable").is_none_or(is_null) => Some((
            "core NATS delivers at most once: a message that arrives while the flow is down or fails mid-way is not redelivered",
            "add `durable: \"NAME\"` to read through a JetStream durable consumer (at least once); a stream must capture the subject",
        )),
        ("redis", "subscribe") => Some((
            "Redis pub/sub delivers at most once: Redis keeps nothing for a subscriber that is down or fails mid-way",
            "publish to a stream instead and read it with `stream(key, group)` (at least once)",
        )),
        ("mqtt", "subscribe") if op.arg("qos").is_some_and(is_zero) => Some((
            "MQTT at QoS 0 delivers at most once: the broker does not redeliver a message the flow lost",
            "use `qos: 1` (or 2) with a fixed `client_id` for a persistent session (at least once)",
        )),
        _ => None,
    }
}

fn is_null(expr: &aqueduct_graph::Expr) -> bool {
    matches!(expr.kind, ExprKind::Lit(Value::Null))
}

fn is_zero(expr: &aqueduct_graph::Expr) -> bool {
    matches!(expr.kind, ExprKind::Lit(Value::Int(0)))
}
