//! `changes` over the Pub/Sub API through `aqueduct run` with TLS, the path
//! the connector takes against Salesforce's `https://` endpoint: the
//! emulator serves Pub/Sub over TLS with the CI test certificate, and
//! - with `pubsub_ca` naming the test CA, the flow subscribes and delivers;
//! - with the Mozilla roots alone, `run` stops at start-up with the failed
//!   certificate check and what to do about it (not after retrying).
//!
//! Needs `AQUEDUCT_TEST_TLS_CA` (the CA that signed `server.crt`, beside
//! it with `server.key`, for 127.0.0.1; `.ci/services` makes them); without
//! it each test prints `SKIP: …` and passes, unless
//! `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_emulator::{PubSubTls, Seed};
use aqueduct_test_support::service_url;
use std::path::PathBuf;
use std::time::Duration;
use support::Project;
use support::salesforce::Org;

const SECRET: &str = "emulator-secret";

/// An emulator serving Pub/Sub over TLS with the test certificate, and the
/// test CA's path; `None` (a visible skip) without the CA.
fn org(test: &str) -> Option<(Org, String)> {
    let ca = service_url("AQUEDUCT_TEST_TLS_CA", test)?;
    let dir = PathBuf::from(&ca)
        .parent()
        .expect("the CA is in a directory")
        .to_path_buf();
    let seed = "
streaming:
  connect_timeout_ms: 500
objects:
  - name: Account
    fields:
      - { name: Name, type: string, required: true }
";
    let tls = PubSubTls {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
        listen: "127.0.0.1:0".parse().expect("address"),
    };
    let org = Org::start_with(
        Seed::parse(seed, "pubsub seed").expect("seed"),
        Some(tls),
        "aqueduct-emulator",
        SECRET,
    );
    Some((org, ca))
}

/// A project replicating account changes over the Pub/Sub API; `ca` is the
/// `pubsub_ca` line, if any.
fn project(ca: &str) -> Project {
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system crm: salesforce {{
  instance_url = env("SF_INSTANCE_URL")
  pubsub_url = env("SF_PUBSUB_URL")
  {ca}
  api_version = "62.0"
  auth = oauth2_client_credentials {{
    client_id = "aqueduct-emulator"
    client_secret = secret("SF_CLIENT_SECRET")
  }}
}}

type Account {{
  Id: string
  Name: string
}}

flow replicate {{
  mode async
  from crm.changes("Account", transport: pubsub) as Account
  to file("out").append("changes.jsonl")
}}
"#
        ),
    );
    p
}

#[test]
fn pubsub_changes_over_tls_with_the_test_ca_are_delivered() {
    let Some((org, ca)) = org("pubsub_changes_over_tls_with_the_test_ca_are_delivered") else {
        return;
    };
    let tls_url = org.emulator.pubsub_tls_url().expect("served over TLS");
    assert!(tls_url.starts_with("https://127.0.0.1:"), "{tls_url}");
    let p = project(r#"pubsub_ca = env("SF_PUBSUB_CA")"#);
    let env = [
        ("SF_INSTANCE_URL", org.url()),
        ("SF_PUBSUB_URL", tls_url.as_str()),
        ("SF_PUBSUB_CA", ca.as_str()),
        ("SF_CLIENT_SECRET", SECRET),
    ];
    let mut running = p.spawn_with_env(&[], &env);
    let subscribed = support::wait_until(Duration::from_secs(60), || {
        running
            .stderr()
            .contains("Subscribed to the Salesforce Pub/Sub API")
    });
    assert!(subscribed, "{}", running.stderr());
    for name in ["Over TLS 1", "Over TLS 2", "Over TLS 3"] {
        org.create("Account", serde_json::json!({ "Name": name }));
    }
    let names = |p: &Project| -> Vec<String> {
        p.read("out/changes.jsonl")
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["Name"].as_str().map(str::to_string))
            .collect()
    };
    let all = support::wait_until(Duration::from_secs(60), || names(&p).len() >= 3);
    assert!(all, "{:?}\n{}", names(&p), running.stderr());
    let out = running.terminate(support::RUN_LIMIT);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(names(&p), ["Over TLS 1", "Over TLS 2", "Over TLS 3"]);
}

#[test]
fn pubsub_over_tls_without_the_ca_stops_at_start_up_with_a_certificate_error() {
    let Some((org, _)) =
        org("pubsub_over_tls_without_the_ca_stops_at_start_up_with_a_certificate_error")
    else {
        return;
    };
    let tls_url = org.emulator.pubsub_tls_url().expect("served over TLS");
    let p = project("");
    let env = [
        ("SF_INSTANCE_URL", org.url()),
        ("SF_PUBSUB_URL", tls_url.as_str()),
        ("SF_CLIENT_SECRET", SECRET),
    ];
    let started = std::time::Instant::now();
    let out = p.run_with_env(&[], &env);
    assert_ne!(out.code, 0, "{}", out.stderr);
    let expected = "`crm`: Pub/Sub GetTopic /data/AccountChangeEvent: Unavailable: invalid peer certificate: UnknownIssuer: the server's certificate is not signed by a trusted CA; set `pubsub_ca` to the file of the CA that signed it";
    // logged, and in the flow's summary line
    assert!(
        out.stderr.contains(&format!(
            "replicate: 0 in, 0 delivered, 0 filtered, 0 failed, 0 dead-lettered — FAILED: the source failed: {expected}"
        )),
        "{}",
        out.stderr
    );
    // Permanent: no rounds of resubscribing (8 of them take over a minute).
    assert!(
        !out.stderr.contains("subscribing again"),
        "retried:\n{}",
        out.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}
