//! A generated service compiles its connector crates with only the
//! features its flows use: the Salesforce connector gets `pubsub` (gRPC)
//! only when a flow reads or publishes events with `transport: pubsub`.

mod common;

use aqueduct_codegen::connectors::needed;

const SYSTEM: &str = r#"
system crm: salesforce {
  instance_url = env("SF_INSTANCE_URL")
  auth = oauth2_client_credentials {
    client_id = "app"
    client_secret = secret("SF_SECRET")
  }
}

type Account {
  Id: string
  Name: string
}
"#;

fn features(flow: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("main.aq"), format!("{SYSTEM}\n{flow}")).expect("writes");
    let (graph, _) = common::load(dir.path());
    let crates = needed(&graph);
    let sf = crates
        .iter()
        .find(|c| c.name == "aqueduct-salesforce")
        .expect("the salesforce crate");
    sf.features.clone()
}

#[test]
fn the_pubsub_feature_only_for_flows_that_use_it() {
    let cometd = r#"
flow replicate {
  mode async
  from crm.changes("Account") as Account
  to file("out").append("a.jsonl")
  dead_letter file("dlq").append("a.jsonl")
}
"#;
    assert_eq!(features(cometd), Vec::<String>::new());
    let pubsub = cometd.replace(
        r#"changes("Account")"#,
        r#"changes("Account", transport: pubsub)"#,
    );
    assert_eq!(features(&pubsub), vec!["pubsub".to_string()]);
}

#[test]
fn the_pubsub_feature_for_a_flow_that_publishes_with_it() {
    let rest = r#"
type Order {
  Number__c: string
}

flow orders {
  mode batch
  from file("in").read("orders.jsonl") as Order
  route {
    when .Number__c == "" => to file("out").append("empty.jsonl")
    else => to crm.publish("Order__e")
  }
}
"#;
    assert_eq!(features(rest), Vec::<String>::new());
    let pubsub = rest.replace(
        r#"publish("Order__e")"#,
        r#"publish("Order__e", transport: pubsub)"#,
    );
    assert_eq!(features(&pubsub), vec!["pubsub".to_string()]);
}
