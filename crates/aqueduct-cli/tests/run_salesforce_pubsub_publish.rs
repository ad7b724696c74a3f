//! `publish` over the Pub/Sub API (`transport: pubsub`) through
//! `aqueduct run`, against the emulator started in this process: 250
//! platform events sent in requests of at most 200 (a refused token and an
//! unavailable server survived on the way) reach an `events` flow that
//! subscribes over the Pub/Sub API, with their fields; an event the org
//! refuses goes to the dead letter with its code and message while the
//! others are published; `aqueduct check` takes `transport` on `publish`.

mod support;

use aqueduct_emulator::Seed;
use serde_json::Value;
use std::time::Duration;
use support::Project;
use support::salesforce::Org;

const SECRET: &str = "emulator-secret";

const SEED: &str = "
streaming:
  connect_timeout_ms: 500
  max_events_per_connect: 1000
objects:
  - name: Order_Placed__e
    fields:
      - { name: Order_Number__c, type: string, required: true }
      - { name: Total__c, type: double }
      - { name: Placed_At__c, type: datetime }
";

const SYSTEM: &str = r#"
system crm: salesforce {
  instance_url = env("SF_INSTANCE_URL")
  pubsub_url = env("SF_INSTANCE_URL")
  api_version = "62.0"
  auth = oauth2_client_credentials {
    client_id = "aqueduct-emulator"
    client_secret = secret("SF_CLIENT_SECRET")
  }
}

type Order {
  Order_Number__c: string
  Total__c: float
  Placed_At__c: timestamp
}
"#;

/// `n` orders as JSON lines: `O-0000`, total `i + 0.25`, one second apart.
fn orders(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"Order_Number__c\":\"O-{i:04}\",\"Total__c\":{i}.25,\"Placed_At__c\":\"2024-12-03T10:{:02}:{:02}Z\"}}\n",
                i / 60,
                i % 60
            )
        })
        .collect()
}

/// A project publishing `in/orders.jsonl` over the Pub/Sub API.
fn publisher(n: usize) -> Project {
    let p = Project::new();
    p.file("in/orders.jsonl", orders(n)).file(
        "main.aq",
        format!(
            r#"{SYSTEM}
flow orders {{
  mode batch
  from file("in").read("orders.jsonl") as Order
  batch 250 within 1s
  to crm.publish("Order_Placed__e", transport: pubsub)
  dead_letter file("out").append("dead.jsonl")
}}
"#
        ),
    );
    p
}

fn org(faults: &str) -> Org {
    Org::start(
        Seed::parse(&format!("{SEED}{faults}"), "publish seed").expect("seed"),
        "aqueduct-emulator",
        SECRET,
    )
}

/// The order numbers of the events retained on the topic, read over CometD.
fn retained(org: &Org) -> Vec<String> {
    org.retained_events("/event/Order_Placed__e")
        .iter()
        .map(|m| {
            m["data"]["payload"]["Order_Number__c"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn publish_over_pubsub_reaches_a_pubsub_subscriber_with_every_field() {
    // The first Publish call is refused as unauthenticated (a new token,
    // one more try); the third, the first try of the second request, as
    // unavailable (tried again): that it fired shows the 250 events went
    // in more than one request.
    let org = org("faults:
  - { fault: session_expired, path: /eventbus.v1.PubSub/Publish }
  - { fault: service_unavailable, path: /eventbus.v1.PubSub/Publish, after: 1 }
");
    let env = [("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)];
    let p = publisher(250);
    let out = p.run_with_env(&[], &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.summary("orders"),
        "orders: 250 in, 250 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    let fired: Vec<Value> = org
        .admin("GET", "faults", Value::Null)
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| f["fired"].clone())
        .collect();
    assert_eq!(fired, [1, 1], "{}", out.stderr);

    // An `events` flow over the Pub/Sub API receives all 250, in order.
    let sub = Project::new();
    sub.file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Received {{
  Order_Number__c: string
  Total__c: float
  Placed_At__c: timestamp
  ReplayId: int
  EventUuid: string
}}

flow received {{
  mode async
  from crm.events("Order_Placed__e", replay: earliest, transport: pubsub) as Received
  to file("out").append("received.jsonl")
}}
"#
        ),
    );
    let mut running = sub.spawn_with_env(&[], &env);
    let all = support::wait_until(Duration::from_secs(60), || {
        sub.read("out/received.jsonl").lines().count() >= 250
    });
    assert!(all, "{}", running.stderr());
    let stopped = running.terminate(support::RUN_LIMIT);
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    let got = sub.jsonl("out/received.jsonl");
    assert_eq!(got.len(), 250);
    let sent: Vec<Value> = orders(250)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    for (g, s) in got.iter().zip(&sent) {
        assert_eq!(g["Order_Number__c"], s["Order_Number__c"]);
        assert_eq!(g["Total__c"], s["Total__c"]);
        // the same second in UTC (the written form may add milliseconds)
        let at = g["Placed_At__c"].as_str().unwrap_or_default();
        let want = s["Placed_At__c"].as_str().unwrap_or_default();
        assert!(
            at.starts_with(&want[..19]) && at.ends_with('Z'),
            "{at} for {want}"
        );
    }
    assert!(
        got.iter()
            .all(|o| o["EventUuid"].as_str().is_some_and(|u| !u.is_empty())),
        "{got:?}"
    );
    let replay: Vec<i64> = got.iter().filter_map(|o| o["ReplayId"].as_i64()).collect();
    assert_eq!(replay.len(), 250);
    assert!(replay.windows(2).all(|w| w[0] < w[1]), "{replay:?}");
    // The same events over CometD: one per order, none twice.
    assert_eq!(retained(&org).len(), 250);
}

#[test]
fn an_event_the_org_refuses_is_dead_lettered_and_the_others_are_published() {
    // The emulator refuses the 7th event of the topic.
    let org = org("faults:
  - { fault: event_rejected, object: Order_Placed__e, after: 6 }
");
    let env = [("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)];
    let p = publisher(10);
    let out = p.run_with_env(&[], &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.summary("orders"),
        "orders: 10 in, 9 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["record"]["Order_Number__c"], "O-0006");
    assert_eq!(
        dead[0]["error"],
        "crm.publish: `crm`: publish Order_Placed__e refused the record: PUBLISH: the event was rejected (the emulator's event_rejected fault)"
    );
    let expected: Vec<String> = (0..10)
        .filter(|i| *i != 6)
        .map(|i| format!("O-{i:04}"))
        .collect();
    assert_eq!(retained(&org), expected);
}

#[test]
fn check_takes_rest_or_pubsub_as_the_transport_of_publish() {
    let check = |transport: &str| {
        let p = Project::new();
        p.file(
            "main.aq",
            format!(
                r#"{SYSTEM}
flow orders {{
  mode batch
  from file("in").read("orders.jsonl") as Order
  to crm.publish("Order_Placed__e", transport: {transport})
}}
"#
            ),
        );
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_aqueduct"))
            .arg("check")
            .arg(p.root())
            .env("NO_COLOR", "1")
            .output()
            .expect("aqueduct check runs");
        // diagnostics go to stdout, the closing count to stderr
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    };
    for ok in ["rest", "pubsub"] {
        let (code, stderr) = check(ok);
        assert_eq!(code, 0, "transport: {ok}\n{stderr}");
    }
    let (code, stderr) = check("cometd");
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("AQ0408") && stderr.contains("`cometd` is not a value of `transport`"),
        "{stderr}"
    );
}
