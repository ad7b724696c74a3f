//! Batch flows run once across processes sharing a PostgreSQL state store
//! (issue 8, scale-out): two `aqueduct run` of one project, each in its own
//! directory (so each writes its own output file), share the flow's lease.
//!
//! - A scheduled flow (`every 1s`) runs only in the process holding the
//!   lease; after `kill -9` of the holder the other takes over within the
//!   lease time, and no run of the one overlaps a run of the other.
//! - A batch flow run once is run by one process; the other, having waited
//!   while it ran to completion, does not run it again.
//! - A batch flow run once whose holder is killed with `kill -9` mid-run is
//!   taken over by the waiting process once the lease expires, which
//!   finishes the run: the PostgreSQL upsert target holds every record
//!   exactly once.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL`; without it each test prints `SKIP: …`
//! and passes, unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use std::time::{Duration, Instant};
use support::postgres::psql;
use support::{Project, wait_until};

/// The lease time the tests run with (`AQUEDUCT_LEASE_TTL`).
const TTL_SECS: u64 = 3;

fn project(url: &str, flow_text: &str) -> Project {
    let p = Project::new();
    p.file("aqueduct.yaml", format!("name: lease\nstate: {url}\n"))
        .file("main.aq", flow_text);
    p
}

/// The `at` (epoch milliseconds) of every line of `out/ticks.jsonl`.
fn ticks(p: &Project) -> Vec<i64> {
    p.jsonl("out/ticks.jsonl")
        .iter()
        .map(|t| t["at"].as_i64().expect("`at` is a number"))
        .collect()
}

#[test]
fn a_scheduled_flow_runs_in_one_process_and_the_other_takes_over_after_kill_9() {
    let test = "a_scheduled_flow_runs_in_one_process_and_the_other_takes_over_after_kill_9";
    let Some(url) = service_url("AQUEDUCT_TEST_POSTGRES_URL", test) else {
        return;
    };
    // a flow name of its own: the lease is per flow name
    let flow = unique_name("lease_ticks");
    let text = format!(
        r#"
system pg: postgres {{ url = secret("PG_URL") }}

type Tick {{ at: int }}

flow {flow} {{
  mode batch every 1s
  from pg.query("select (extract(epoch from clock_timestamp()) * 1000)::bigint as at") as Tick
  to file("out").append("ticks.jsonl")
}}
"#
    );
    let ttl = TTL_SECS.to_string();
    let env = [
        ("PG_URL", url.as_str()),
        ("AQUEDUCT_LEASE_TTL", ttl.as_str()),
    ];
    let a = project(&url, &text);
    let b = project(&url, &text);
    let mut first = a.spawn_with_env(&[], &env);
    assert!(
        wait_until(Duration::from_secs(30), || ticks(&a).len() >= 2),
        "the first process does not run the flow; stderr:\n{}",
        first.stderr()
    );
    let mut second = b.spawn_with_env(&[], &env);
    assert!(
        wait_until(Duration::from_secs(30), || second.stderr().contains(
            "Another process holds the flow's lease; this one waits to take over."
        )),
        "the second process does not wait for the lease; stderr:\n{}",
        second.stderr()
    );
    // two lease times: the holder renews, the other never runs the flow
    let before = ticks(&a).len();
    std::thread::sleep(Duration::from_secs(2 * TTL_SECS));
    assert!(ticks(&a).len() > before, "the holder goes on running");
    assert!(ticks(&b).is_empty(), "the waiting process ran the flow");

    first.signal("KILL");
    let killed = Instant::now();
    assert!(first.wait_exit(Duration::from_secs(10)).is_some());
    assert!(
        wait_until(Duration::from_secs(60), || !ticks(&b).is_empty()),
        "no takeover; stderr:\n{}",
        second.stderr()
    );
    let takeover = killed.elapsed();
    println!("takeover {takeover:?} after kill -9 (lease {TTL_SECS} s)");
    // the lease expires at most TTL after the holder's last renewal; the
    // other tries every TTL/3 and then runs at once (`every`), with room
    // for a busy machine
    assert!(
        takeover < Duration::from_secs(TTL_SECS + 10),
        "takeover after {takeover:?}"
    );
    assert!(
        wait_until(Duration::from_secs(30), || ticks(&b).len() >= 2),
        "the new holder runs the schedule; stderr:\n{}",
        second.stderr()
    );
    let r = second.terminate(Duration::from_secs(15));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // never at once: every run of the killed holder came before the first
    // run of the one that took over
    let (old, new) = (ticks(&a), ticks(&b));
    let last_old = old.iter().max().expect("ticks of the first holder");
    let first_new = new.iter().min().expect("ticks of the second holder");
    assert!(
        last_old < first_new,
        "runs overlap: the killed holder's last at {last_old}, the new holder's first at {first_new}"
    );
    assert!(
        r.stderr
            .contains("This process holds the flow's lease and runs it."),
        "{}",
        r.stderr
    );
}

#[test]
fn a_batch_run_once_is_not_run_again_by_a_process_that_waited_for_it() {
    let test = "a_batch_run_once_is_not_run_again_by_a_process_that_waited_for_it";
    let Some(url) = service_url("AQUEDUCT_TEST_POSTGRES_URL", test) else {
        return;
    };
    let flow = unique_name("lease_once");
    // 50 rows at 10 a second: the run takes about 5 s, time for the other
    // process to start and find the lease taken
    let text = format!(
        r#"
system pg: postgres {{ url = secret("PG_URL") }}

type Tick {{ at: int }}

flow {flow} {{
  mode batch
  from pg.query("select g as at from generate_series(1, 50) g") as Tick
  to file("out").append("ticks.jsonl")
  rate_limit 10 per 1s
}}
"#
    );
    let ttl = TTL_SECS.to_string();
    let env = [
        ("PG_URL", url.as_str()),
        ("AQUEDUCT_LEASE_TTL", ttl.as_str()),
    ];
    let a = project(&url, &text);
    let b = project(&url, &text);
    let mut first = a.spawn_with_env(&[], &env);
    assert!(
        wait_until(Duration::from_secs(30), || first
            .stderr()
            .contains("This process holds the flow's lease and runs it.")),
        "the first process does not take the lease; stderr:\n{}",
        first.stderr()
    );
    let mut second = b.spawn_with_env(&[], &env);
    let done_first = first.wait_exit(Duration::from_secs(60));
    let done_second = second.wait_exit(Duration::from_secs(60));
    assert_eq!(
        done_first.and_then(|s| s.code()),
        Some(0),
        "{}",
        first.stderr()
    );
    assert_eq!(
        done_second.and_then(|s| s.code()),
        Some(0),
        "{}",
        second.stderr()
    );
    assert_eq!(ticks(&a).len(), 50, "the holder ran the whole batch");
    assert!(ticks(&b).is_empty(), "the batch ran twice");
    assert!(
        second.stderr().contains(
            "Another process ran this batch flow to completion; this one does not run it again."
        ),
        "{}",
        second.stderr()
    );
}

#[test]
fn a_batch_run_once_killed_mid_run_is_finished_by_the_process_that_waited() {
    let test = "a_batch_run_once_killed_mid_run_is_finished_by_the_process_that_waited";
    let Some(url) = service_url("AQUEDUCT_TEST_POSTGRES_URL", test) else {
        return;
    };
    const N: i64 = 200;
    let flow = unique_name("lease_takeover");
    let table = unique_name("lease_rows");
    psql(
        &url,
        &format!("CREATE TABLE {table} (id bigint PRIMARY KEY, label text NOT NULL)"),
    );
    let rows = || -> i64 {
        psql(&url, &format!("select count(*) from {table}"))
            .parse()
            .unwrap_or(0)
    };
    // 200 rows at 20 a second in chunks of 10: about 10 s, time to kill the
    // holder with part of the rows committed
    let text = format!(
        r#"
system pg: postgres {{ url = secret("PG_URL") }}

type Row {{ id: int, label: string }}

flow {flow} {{
  mode batch chunk 10
  from pg.query("select g as id, 'row ' || g as label from generate_series(1, {N}) g") as Row
  to pg.upsert("{table}", key: [id])
  rate_limit 20 per 1s
}}
"#
    );
    let ttl = TTL_SECS.to_string();
    let env = [
        ("PG_URL", url.as_str()),
        ("AQUEDUCT_LEASE_TTL", ttl.as_str()),
    ];
    let a = project(&url, &text);
    let b = project(&url, &text);
    let mut first = a.spawn_with_env(&[], &env);
    assert!(
        wait_until(Duration::from_secs(30), || first
            .stderr()
            .contains("This process holds the flow's lease and runs it.")),
        "the first process does not take the lease; stderr:\n{}",
        first.stderr()
    );
    let mut second = b.spawn_with_env(&[], &env);
    assert!(
        wait_until(Duration::from_secs(30), || second.stderr().contains(
            "Another process holds the flow's lease; this one waits to take over."
        )),
        "the second process does not wait for the lease; stderr:\n{}",
        second.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(30), || rows() >= 40),
        "the holder commits nothing; stderr:\n{}",
        first.stderr()
    );
    first.signal("KILL");
    assert!(first.wait_exit(Duration::from_secs(10)).is_some());
    let at_kill = rows();
    println!("killed the holder with {at_kill} of {N} rows committed");
    assert!(at_kill < N, "the holder finished before the kill");

    let done = second.wait_exit(Duration::from_secs(120));
    assert_eq!(
        done.and_then(|s| s.code()),
        Some(0),
        "the waiting process does not finish the run; stderr:\n{}",
        second.stderr()
    );
    let log = second.stderr();
    assert!(
        log.contains("This process holds the flow's lease and runs it."),
        "{log}"
    );
    assert!(
        !log.contains("Another process ran this batch flow to completion"),
        "the killed run was taken for a completed one: {log}"
    );
    assert_eq!(
        psql(
            &url,
            &format!(
                "select count(*), count(distinct id), min(id), max(id), \
                 count(*) filter (where label = 'row ' || id) from {table}"
            )
        ),
        format!("{N}|{N}|1|{N}|{N}"),
        "every record exactly once"
    );
    psql(&url, &format!("DROP TABLE {table}"));
}
