//! The at-most-once broker operations (note AQ0420) end to end through
//! `aqueduct run`, asserting on what is delivered while the flow runs:
//! nothing is kept for a subscriber that is not there, so a test publishes
//! only once the flow is subscribed.
//!
//! - core NATS (`AQUEDUCT_TEST_NATS_URL`): two replicas of one flow on one
//!   subject with the same queue `group`; async-nats publishes 1,000
//!   messages while both run, each lands in exactly one replica's output
//!   and both take a share;
//! - MQTT at QoS 0 (`AQUEDUCT_TEST_MQTT_URL`): `subscribe` at QoS 0 relays
//!   what rumqttc publishes at QoS 0 into a file and on through `publish`
//!   at QoS 0, in order, and the relayed messages arrive at QoS 0.

mod support;

use rumqttc::QoS;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use support::mqtt::{Listener, publish_all};
use support::{Project, Running, wait_until};

/// How long the messages may take to land: a guard against hangs.
const LIMIT: Duration = Duration::from_secs(30);

fn wait_logged(running: &mut Running, line: &str) {
    assert!(
        wait_until(Duration::from_secs(20), || running.stderr().contains(line)),
        "no `{line}` in the log; stderr:\n{}",
        running.stderr()
    );
}

/// The ids in `out/items.jsonl` so far (complete lines only).
fn ids(p: &Project) -> Vec<i64> {
    p.read("out/items.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["id"].as_i64())
        .collect()
}

#[test]
fn two_replicas_in_a_core_nats_queue_group_split_the_messages_published_while_running() {
    let test = "two_replicas_in_a_core_nats_queue_group_split_the_messages_published_while_running";
    let Some(url) = aqueduct_test_support::service_url("AQUEDUCT_TEST_NATS_URL", test) else {
        return;
    };
    const N: i64 = 1000;
    let subject = aqueduct_test_support::unique_name("aq_group");
    let group = aqueduct_test_support::unique_name("workers");
    let flow = format!(
        r#"system bus: nats {{
  url = secret("NATS_URL")
}}

type Item {{ id: int }}

flow listen {{
  mode async
  from bus.subscribe("{subject}", group: "{group}") as Item
  to file("out").append("items.jsonl")
}}
"#
    );
    let replicas: Vec<Project> = (0..2).map(|_| Project::new()).collect();
    let mut running: Vec<Running> = replicas
        .iter()
        .map(|p| {
            p.file("main.aq", &flow);
            p.spawn_with_env(&[], &[("NATS_URL", &url)])
        })
        .collect();
    for r in &mut running {
        wait_logged(r, "subscribed (core NATS, at most once)");
    }
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let client = rt
        .block_on(async_nats::connect(url.as_str()))
        .expect("connects to NATS");
    let publish = |id: i64| {
        rt.block_on(async {
            client
                .publish(subject.clone(), json!({ "id": id }).to_string().into())
                .await
                .expect("publishes");
            client.flush().await.expect("flushed");
        });
    };
    // The log line says the client has the subscription, not that the
    // server does yet: probes (negative ids) until each replica got one,
    // so both are members of the group before the real messages go out.
    let mut probe = 0;
    let both = wait_until(Duration::from_secs(20), || {
        probe -= 1;
        publish(probe);
        std::thread::sleep(Duration::from_millis(20));
        replicas.iter().all(|p| !ids(p).is_empty())
    });
    assert!(
        both,
        "a replica got no probe; stderr:\n{}",
        running[0].stderr()
    );
    for id in 0..N {
        publish(id);
    }
    let landed = || -> usize {
        replicas
            .iter()
            .map(|p| ids(p).into_iter().filter(|id| *id >= 0).count())
            .sum()
    };
    let all = wait_until(LIMIT, || landed() >= N as usize);
    let outcomes: Vec<_> = running
        .iter_mut()
        .map(|r| r.terminate(Duration::from_secs(20)))
        .collect();
    for r in &outcomes {
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    assert!(all, "{} of {N} landed", landed());
    let shares: Vec<Vec<i64>> = replicas.iter().map(ids).collect();
    for (share, r) in shares.iter().zip(&outcomes) {
        // every message a replica took, the probes included, is in its file
        let n = share.len();
        assert_eq!(
            r.summary("listen"),
            format!("listen: {n} in, {n} delivered, 0 filtered, 0 failed, 0 dead-lettered")
        );
    }
    let sets: Vec<BTreeSet<i64>> = shares
        .iter()
        .map(|s| s.iter().copied().filter(|id| *id >= 0).collect())
        .collect();
    for (share, set) in shares.iter().zip(&sets) {
        let published = share.iter().filter(|id| **id >= 0).count();
        assert_eq!(published, set.len(), "a replica got a message twice");
    }
    assert!(
        sets[0].is_disjoint(&sets[1]),
        "messages in both replicas: {:?}",
        sets[0].intersection(&sets[1]).collect::<Vec<_>>()
    );
    let union: BTreeSet<i64> = sets[0].union(&sets[1]).copied().collect();
    assert_eq!(union, (0..N).collect::<BTreeSet<i64>>());
    println!("shares of {N}: {} and {}", sets[0].len(), sets[1].len());
    for set in &sets {
        assert!(
            set.len() as i64 >= N / 10,
            "one replica took {} of {N}",
            set.len()
        );
    }
}

#[test]
fn mqtt_subscribe_and_publish_at_qos0_relay_what_is_published_while_running() {
    let test = "mqtt_subscribe_and_publish_at_qos0_relay_what_is_published_while_running";
    let Some(url) = aqueduct_test_support::service_url("AQUEDUCT_TEST_MQTT_URL", test) else {
        return;
    };
    const N: i64 = 20;
    let topic = aqueduct_test_support::unique_name("aq/qos0");
    let client = aqueduct_test_support::unique_name("aq-qos0");
    // at QoS 1, so that a message arriving at QoS 0 was published at QoS 0
    let listener = Listener::start(&url, &format!("{topic}/out"), QoS::AtLeastOnce);
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"system devices: mqtt {{
  url = secret("MQTT_URL")
  client_id = "{client}"
}}

type Item {{ id: int }}

flow relay {{
  mode async
  from devices.subscribe("{topic}/in", 0) as Item
  to file("out").append("items.jsonl")
  to devices.publish("{topic}/out", 0)
}}
"#
        ),
    );
    let mut running = p.spawn_with_env(&[], &[("MQTT_URL", &url)]);
    // logged once the broker's SUBACK came
    wait_logged(&mut running, "subscribed");
    let items: Vec<String> = (0..N).map(|id| json!({ "id": id }).to_string()).collect();
    publish_all(
        &url,
        &format!("{topic}/in"),
        QoS::AtMostOnce,
        items.iter().map(|i| i.clone().into_bytes()).collect(),
    );
    let landed = wait_until(LIMIT, || ids(&p).len() >= N as usize);
    let received = listener.received(N as usize);
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        landed,
        "{} of {N} landed; stderr:\n{}",
        ids(&p).len(),
        r.stderr
    );
    assert_eq!(
        r.summary("relay"),
        format!(
            "relay: {N} in, {} delivered, 0 filtered, 0 failed, 0 dead-lettered",
            2 * N
        )
    );
    assert_eq!(ids(&p), (0..N).collect::<Vec<_>>());
    // the flow subscribed at QoS 0, as `subscribe(…, 0)` asks
    assert!(r.stderr.contains("qos=AtMostOnce"), "{}", r.stderr);
    assert_eq!(
        received,
        items
            .iter()
            .map(|i| (i.clone().into_bytes(), QoS::AtMostOnce))
            .collect::<Vec<_>>()
    );
}
