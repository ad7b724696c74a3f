//! Three replicas of one `mqtt.subscribe` flow sharing the work through a
//! shared subscription (`$share/GROUP/filter`) at QoS 1, each replica with
//! its own client id (`client_id = env("REPLICA_ID")`), against a Mosquitto
//! of the test's own that keeps every message. One replica is killed with
//! SIGKILL mid-stream: the others keep working, but Mosquitto keeps the
//! killed member in the group (its session is persistent) and goes on
//! queueing its turn of the messages in that session, beside the ones it
//! had in flight; they land once the replica is started again with the
//! same client id.

mod support;

use rumqttc::QoS;
use std::time::{Duration, Instant};
use support::mqtt::{paced_publisher, unacknowledged, wait_subscribed};
use support::{Project, Running, drain, union_of_ids, wait_converged, wait_until};

/// The system of every replica: the client id comes from the environment,
/// so that one project text gives each replica a session of its own.
const SYSTEM: &str =
    "system devices: mqtt {\n  url = secret(\"MQTT_URL\")\n  client_id = env(\"REPLICA_ID\")\n}\n";

/// How far the publisher may run ahead of what landed: wide enough that
/// the survivors get thousands more messages after the kill before the
/// ones queued for the killed replica hold the publisher back.
const WINDOW: i64 = 2000;

const LIMIT: Duration = Duration::from_secs(60);

/// Rows in each replica's database.
fn counts(dbs: &[std::path::PathBuf]) -> Vec<i64> {
    dbs.iter().map(|db| drain::items(db)).collect()
}

#[test]
fn three_replicas_share_a_shared_subscription_and_one_killed_loses_nothing_once_restarted() {
    let test =
        "three_replicas_share_a_shared_subscription_and_one_killed_loses_nothing_once_restarted";
    if aqueduct_test_support::service_url("AQUEDUCT_TEST_MQTT_URL", test).is_none() {
        return;
    }
    // the shared broker drops what is over 1000 queued for a session
    let broker = aqueduct_test_support::Mosquitto::start(aqueduct_test_support::KEEP_EVERYTHING)
        .expect("a private mosquitto starts");
    let url = broker.url();
    const N: i64 = drain::FAULT_MESSAGES;
    let topic = aqueduct_test_support::unique_name("aq/replicas");
    let group = aqueduct_test_support::unique_name("aqueduct");
    let flow = drain::fast_flow(
        SYSTEM,
        &format!(r#"devices.subscribe("$share/{group}/{topic}", 1)"#),
        20,
    );
    let ids: Vec<String> = (0..3)
        .map(|i| aqueduct_test_support::unique_name(&format!("aq-replica{i}")))
        .collect();
    // a project (and so an items table) per replica: each one's share shows
    let projects: Vec<Project> = (0..3).map(|_| Project::new()).collect();
    let dbs: Vec<_> = projects.iter().map(|p| p.path(drain::ITEMS_DB)).collect();
    let start = |i: usize| {
        projects[i].file("main.aq", &flow);
        let replica = projects[i].spawn_with_env(
            &[],
            &[("MQTT_URL", url.as_str()), ("REPLICA_ID", ids[i].as_str())],
        );
        wait_subscribed(&replica);
        replica
    };
    let mut replicas: Vec<Running> = (0..3).map(start).collect();
    let publisher = paced_publisher(&url, &topic, QoS::AtLeastOnce, N, dbs.clone(), WINDOW);

    let moment = drain::random_moment(N);
    let working = wait_until(LIMIT, || {
        let c = counts(&dbs);
        c.iter().all(|&n| n >= 100) && c.iter().sum::<i64>() >= moment
    });
    assert!(
        working,
        "not every replica got messages: {:?}",
        counts(&dbs)
    );
    replicas[0].signal("KILL");
    replicas[0]
        .wait_exit(Duration::from_secs(10))
        .expect("killed");
    let at_kill = counts(&dbs);
    println!("killed replica 0 at {at_kill:?} rows per replica");

    // the survivors keep taking their turns
    let survivors_work = wait_until(LIMIT, || {
        let c = counts(&dbs);
        c[1] >= at_kill[1] + 200 && c[2] >= at_kill[2] + 200
    });
    assert!(
        survivors_work,
        "the survivors stopped after the kill: {at_kill:?}, then {:?}",
        counts(&dbs)
    );
    // Until nothing more lands: what is missing then waits in the killed
    // replica's session (Mosquitto queues its turn there while it is away).
    let mut last = (counts(&dbs), Instant::now());
    let quiet = wait_until(LIMIT, || {
        let now = counts(&dbs);
        if now != last.0 {
            last = (now, Instant::now());
        }
        last.1.elapsed() >= Duration::from_secs(5)
    });
    assert!(quiet, "the survivors never went quiet: {:?}", counts(&dbs));
    let before_restart = union_of_ids(&dbs).len() as i64;
    println!("{before_restart} of {N} landed before the killed replica came back");
    assert!(
        before_restart < N,
        "everything landed without the killed replica: Mosquitto handed its turn to the others"
    );

    // the same client id resumes the session and takes what it holds
    replicas[0] = start(0);
    let left = wait_converged(Duration::from_secs(90), Duration::from_secs(600), || {
        (N - union_of_ids(&dbs).len() as i64).max(0) as usize
    });
    assert_eq!(
        left,
        0,
        "{} of {N} after the restart ({:?} rows per replica); stderr of the restarted one:\n{}",
        N - left as i64,
        counts(&dbs),
        replicas[0].stderr()
    );
    assert_eq!(publisher.join().expect("the publisher ran"), Ok(()));
    let end = counts(&dbs);
    assert!(
        end[0] > at_kill[0],
        "the restarted replica took nothing from its session: {at_kill:?}, then {end:?}"
    );
    for r in replicas.iter_mut() {
        let out = r.terminate(Duration::from_secs(30));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let all = union_of_ids(&dbs);
    assert_eq!(
        (all.len() as i64, all.first().copied(), all.last().copied()),
        (N, Some(0), Some(N - 1)),
        "distinct ids, least and greatest across the replicas"
    );
    println!(
        "rows per replica {end:?}: {} delivered to more than one replica",
        end.iter().sum::<i64>() - N
    );
    for id in &ids {
        assert_eq!(
            unacknowledged(&url, id),
            0,
            "session {id} still holds messages after a clean stop"
        );
    }
}
