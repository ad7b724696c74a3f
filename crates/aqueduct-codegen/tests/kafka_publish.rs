//! A generated service publishes to Kafka as `aqueduct run` does: it runs
//! the same connector (`aqueduct-brokers` with its `kafka` feature), built
//! from the same checked operation, `headers_field:` included, which its
//! embedded `graph.json` carries as `run` receives it. What that connector
//! sends is tested against a broker in `crates/aqueduct-cli/tests/run_kafka.rs`.

mod common;

use aqueduct_codegen::generate;
use aqueduct_graph::{Endpoint, ExprKind, Graph, StepKind, Value};

const PROJECT: &str = r#"
system events: kafka { url = env("KAFKA_URL") }

type Order { id: int, headers: json? }

flow send {
  mode batch
  from file("in").read("orders.jsonl") as Order
  to events.publish("orders", key: "{.id}", headers_field: "headers")
}
"#;

/// The `headers_field` argument of the flow's `kafka.publish`.
fn headers_field(graph: &Graph) -> Option<String> {
    graph
        .flows
        .iter()
        .flat_map(|f| &f.steps)
        .find_map(|s| match &s.kind {
            StepKind::To(Endpoint::Op(op)) if op.connector == "kafka" => {
                match op.arg("headers_field").map(|e| &e.kind) {
                    Some(ExprKind::Lit(Value::String(field))) => Some(field.clone()),
                    _ => None,
                }
            }
            _ => None,
        })
}

#[test]
fn the_service_publishes_with_the_headers_field_run_uses() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("main.aq"), PROJECT).expect("writes");
    let (graph, sources) = common::load(dir.path());
    assert_eq!(headers_field(&graph).as_deref(), Some("headers"));
    let out = generate(&graph, &common::options(sources)).expect("generates");
    let (path, embedded) = out
        .files
        .iter()
        .find(|(path, _)| path.ends_with("src/graph.json"))
        .expect("a service embeds its graph");
    let embedded: Graph = serde_json::from_str(embedded).expect("the embedded graph parses");
    assert_eq!(
        headers_field(&embedded).as_deref(),
        Some("headers"),
        "{path}"
    );
    assert_eq!(
        embedded.flows, graph.flows,
        "{path}: the service's flow differs"
    );
    let manifest = out
        .files
        .iter()
        .find(|(p, _)| p.ends_with("Cargo.toml") && p.as_str() != "Cargo.toml")
        .map(|(_, text)| text)
        .expect("the service's manifest");
    assert!(
        manifest.contains("aqueduct-brokers") && manifest.contains("\"kafka\""),
        "the service links the kafka connector:\n{manifest}"
    );
}
