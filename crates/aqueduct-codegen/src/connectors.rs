//! Which aqueduct connector crates a service links: the embedded kinds come
//! with `aqueduct-connectors` (always a dependency); every other kind lives
//! in its own crate, compiled with only the cargo features the service's
//! systems need (a flow on `postgres` gets `aqueduct-db` with `postgres`,
//! not the MySQL client).
//!
//! The table mirrors what `aqueduct-cli`'s `full_registry()` registers; the
//! CLI's registry test keeps the two in step.

use aqueduct_graph::{Endpoint, ExprKind, Graph, OpRef, Step, StepKind, Value};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// `(kind, crate, cargo feature of that crate)`; no feature when the crate
/// has one kind and no features.
const CRATES: &[(&str, &str, Option<&str>)] = &[
    ("postgres", "aqueduct-db", Some("postgres")),
    ("mysql", "aqueduct-db", Some("mysql")),
    ("amqp", "aqueduct-brokers", Some("amqp")),
    ("nats", "aqueduct-brokers", Some("nats")),
    ("redis", "aqueduct-brokers", Some("redis")),
    ("mqtt", "aqueduct-brokers", Some("mqtt")),
    ("kafka", "aqueduct-brokers", Some("kafka")),
    ("salesforce", "aqueduct-salesforce", None),
    ("soap", "aqueduct-web", None),
    ("graphql", "aqueduct-web", None),
];

/// The connector crate that runs `kind` and the feature it needs, or `None`
/// for a kind of `aqueduct-connectors` (or one no crate runs yet).
pub fn crate_for(kind: &str) -> Option<(&'static str, Option<&'static str>)> {
    CRATES
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, c, f)| (*c, *f))
}

/// One connector crate a service depends on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ConnectorCrate {
    /// Package name (`aqueduct-db`).
    pub name: String,
    /// Its Rust path (`aqueduct_db`), whose `register` the service calls.
    pub lib: String,
    /// Its cargo features the service turns on, sorted.
    pub features: Vec<String>,
}

/// Whether an operation is Salesforce's with `transport: pubsub`.
fn is_pubsub(op: &OpRef) -> bool {
    op.connector == "salesforce"
        && matches!(op.arg("transport").map(|e| &e.kind),
            Some(ExprKind::Lit(Value::String(t))) if t == "pubsub")
}

/// Whether a step (or a route arm inside it) delivers with `transport: pubsub`.
fn step_uses_pubsub(step: &Step) -> bool {
    match &step.kind {
        StepKind::To(Endpoint::Op(op)) | StepKind::Tap(Endpoint::Op(op)) => is_pubsub(op),
        StepKind::Route(arms) => arms.iter().any(|a| a.steps.iter().any(step_uses_pubsub)),
        _ => false,
    }
}

/// Whether a flow reads Salesforce events or publishes them with
/// `transport: pubsub` (the connector's `pubsub` feature, which brings in
/// gRPC).
fn uses_pubsub(graph: &Graph) -> bool {
    graph.flows.iter().any(|flow| {
        let source = match &flow.source.endpoint {
            Endpoint::Op(op) => Some(op),
            Endpoint::Channel(c) => graph.channel(c).and_then(|c| c.via.as_ref()),
        };
        let dead_letter = match &flow.policies.dead_letter {
            Some(Endpoint::Op(op)) => Some(op),
            _ => None,
        };
        source.into_iter().chain(dead_letter).any(is_pubsub)
            || flow.steps.iter().any(step_uses_pubsub)
    })
}

/// The connector crates `graph` (a service's sub-graph) needs, by name.
pub fn needed(graph: &Graph) -> Vec<ConnectorCrate> {
    let mut by_crate: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for system in &graph.systems {
        if let Some((krate, feature)) = crate_for(&system.kind) {
            let features = by_crate.entry(krate).or_default();
            features.extend(feature);
        }
    }
    if uses_pubsub(graph)
        && let Some(features) = by_crate.get_mut("aqueduct-salesforce")
    {
        features.insert("pubsub");
    }
    by_crate
        .into_iter()
        .map(|(name, features)| ConnectorCrate {
            name: name.to_string(),
            lib: name.replace('-', "_"),
            features: features.into_iter().map(str::to_string).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(kinds: &[&str]) -> Graph {
        let mut g = Graph::default();
        for (i, kind) in kinds.iter().enumerate() {
            g.systems.push(aqueduct_graph::System {
                name: format!("s{i}"),
                kind: kind.to_string(),
                options: Vec::new(),
                doc: Vec::new(),
                origin: Default::default(),
            });
        }
        g
    }

    #[test]
    fn only_the_crates_and_features_the_systems_use() {
        let crates = needed(&graph(&["file", "postgres", "amqp", "nats", "postgres"]));
        let got: Vec<(&str, Vec<&str>)> = crates
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.features.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("aqueduct-brokers", vec!["amqp", "nats"]),
                ("aqueduct-db", vec!["postgres"]),
            ]
        );
        assert!(needed(&graph(&["file", "http", "sqlite"])).is_empty());
        assert_eq!(
            needed(&graph(&["salesforce"]))[0].features,
            Vec::<String>::new()
        );
    }
}
