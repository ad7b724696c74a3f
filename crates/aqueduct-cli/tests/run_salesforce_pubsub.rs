//! `changes` over the Pub/Sub API (`transport: "pubsub"`) through
//! `aqueduct run`, against the emulator started in this process: account
//! changes written while the run is killed with SIGKILL under a steady
//! stream of writes all arrive after the restart (none lost; at least
//! once, so a few may arrive twice).

mod support;

use aqueduct_emulator::Seed;
use std::collections::BTreeMap;
use std::time::Duration;
use support::Project;
use support::salesforce::Org;

const SECRET: &str = "emulator-secret";

/// Accounts written by the load.
const WRITES: usize = 400;

#[test]
fn pubsub_changes_resume_after_kill_9_under_load_without_losing_an_event() {
    let seed = "
streaming:
  connect_timeout_ms: 500
objects:
  - name: Account
    fields:
      - { name: Name, type: string, required: true }
";
    let org = Org::start(
        Seed::parse(seed, "pubsub seed").expect("seed"),
        "aqueduct-emulator",
        SECRET,
    );
    let p = Project::new();
    p.file(
        "main.aq",
        r#"
system crm: salesforce {
  instance_url = env("SF_INSTANCE_URL")
  pubsub_url = env("SF_INSTANCE_URL")
  api_version = "62.0"
  auth = oauth2_client_credentials {
    client_id = "aqueduct-emulator"
    client_secret = secret("SF_CLIENT_SECRET")
  }
}

type Account {
  Id: string
  Name: string
}

flow replicate {
  mode async
  from crm.changes("Account", transport: pubsub) as Account
  to file("out").append("changes.jsonl")
}
"#,
    );
    let env = [("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)];
    // How often each account name arrived.
    let arrived = |p: &Project| -> BTreeMap<String, usize> {
        let mut seen = BTreeMap::new();
        for line in p.read("out/changes.jsonl").lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                && let Some(name) = v["Name"].as_str()
            {
                *seen.entry(name.to_string()).or_insert(0) += 1;
            }
        }
        seen
    };
    let mut running = p.spawn_with_env(&[], &env);
    // `replay` is `latest`: what is written while the run is down reaches
    // it only through the replay id it saved
    let subscribed = support::wait_until(Duration::from_secs(30), || {
        running
            .stderr()
            .contains("Subscribed to the Salesforce Pub/Sub API")
    });
    assert!(subscribed, "{}", running.stderr());

    let restarted = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for i in 0..WRITES {
                org.create(
                    "Account",
                    serde_json::json!({"Name": format!("Load {i:04}")}),
                );
            }
        });
        // killed in the middle of the load, restarted while it goes on
        let some = support::wait_until(Duration::from_secs(60), || arrived(&p).len() >= 50);
        assert!(some, "{:?}\n{}", arrived(&p).len(), running.stderr());
        running.signal("KILL");
        running.wait_exit(support::RUN_LIMIT).expect("killed");
        std::thread::sleep(Duration::from_millis(300));
        let restarted = p.spawn_with_env(&[], &env);
        writer.join().expect("the writer");
        restarted
    });
    let mut running = restarted;
    let all = support::wait_until(Duration::from_secs(120), || arrived(&p).len() == WRITES);
    let seen = arrived(&p);
    assert!(
        all,
        "{} of {WRITES} arrived\n{}",
        seen.len(),
        running.stderr()
    );
    let out = running.terminate(support::RUN_LIMIT);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected: Vec<String> = (0..WRITES).map(|i| format!("Load {i:04}")).collect();
    assert_eq!(arrived(&p).into_keys().collect::<Vec<_>>(), expected);
    let twice = arrived(&p).values().filter(|n| **n > 1).count();
    eprintln!("{twice} of {WRITES} accounts arrived more than once (at least once)");
    assert!(
        !out.stderr.contains("00D000000000001!"),
        "a token in stderr"
    );
}
