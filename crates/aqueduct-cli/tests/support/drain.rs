//! The loss scenarios every at-least-once broker source is tested with:
//! `kill -9` at a random moment and a restart ([`kill_and_restart`]), a
//! connection cut at a random moment by a fault-injecting proxy
//! ([`cut_and_recover`]), both over [`FAULT_MESSAGES`] messages published
//! by an independent client and drained by a [`fast_flow`], and three replicas
//! on one queue with one killed ([`three_replicas`]), a SIGTERM while
//! records are still in flight ([`stop_mid_stream`]); and the plain run
//! every broker source starts with: a few messages delivered, bad ones
//! dead-lettered, the broker settled ([`deliver_and_stop`]), and a source
//! that cannot start ([`run_consume_once`]).
//!
//! The flow under test drains into `out/items.db`, table `items`, upserted
//! by `id`, so a message delivered twice lands once and the row count says
//! how many distinct messages arrived. Each broker test supplies the
//! broker-specific parts: the environment variable and URL the flow's
//! system reads, and `settled`, true once the broker holds nothing
//! unacknowledged for the flow.
//!
//! The moment of the kill or cut is the number of items landed, drawn from
//! a seed the test prints (`AQUEDUCT_TEST_SEED=…` repeats a run).

use super::{
    Outcome, Project, Running, sqlite_count, sqlite_rows, union_of_ids, wait_converged, wait_until,
};
use aqueduct_test_support::{FaultProxy, Rng};
use std::path::Path;
use std::time::Duration;

/// The database every drained flow upserts into, relative to its project.
pub const ITEMS_DB: &str = "out/items.db";

/// How long the flow may take to make progress, and to finish the rest:
/// guards against hangs, generous for a loaded machine and for a consumer
/// group that must rebalance after a restart, not timing assertions.
const PROGRESS_LIMIT: Duration = Duration::from_secs(60);
/// The rest may take long on a loaded machine (a consumer group rejoining
/// after a restart waits out the dead member's session), so the finish
/// fails only when nothing landed for `FINISH_STALLED`.
const FINISH_STALLED: Duration = Duration::from_secs(90);
const FINISH_LIMIT: Duration = Duration::from_secs(600);
const REPLICAS_LIMIT: Duration = Duration::from_secs(120);
const SETTLE_LIMIT: Duration = Duration::from_secs(20);
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// Items landed before [`stop_mid_stream`] sends SIGTERM: the flow is
/// moving, and many more are in flight.
const STOP_AT: i64 = 20;

/// The same guards for [`deliver_and_stop`]'s handful of messages.
const DELIVER_LIMIT: Duration = Duration::from_secs(30);
const ACK_LIMIT: Duration = Duration::from_secs(10);
const DELIVER_STOP_LIMIT: Duration = Duration::from_secs(20);

/// Rows in `items` of the database at `db` (0 before it exists).
pub fn items(db: &Path) -> i64 {
    sqlite_count(db, "select count(*) from items").unwrap_or(0)
}

/// How many messages the kill and cut tests publish: the 20,000 the
/// loss-and-duplication requirement (issue #8) asks for.
pub const FAULT_MESSAGES: i64 = 20_000;

/// The seed of a test's random moments: `AQUEDUCT_TEST_SEED` when set,
/// else the clock; printed so that a failing run can be repeated.
pub fn seed() -> u64 {
    let seed = std::env::var("AQUEDUCT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("seed {seed} (AQUEDUCT_TEST_SEED={seed} repeats this run)");
    seed
}

/// A random moment of a stream of `n` items, as the number landed by then:
/// between 5 % and 75 % of them, so that the fault strikes mid-stream.
pub fn random_moment(n: i64) -> i64 {
    let mut rng = Rng::new(seed());
    let at = n / 20 + rng.below((n * 7 / 10).max(1) as u64) as i64;
    println!("striking once {at} of {n} items landed");
    at
}

/// A project text of `system` and an async flow `drain` reading `from` as
/// `Item { id: int, name: string }` and upserting it by `id` into
/// [`ITEMS_DB`] in groups of up to `group` records (one transaction each,
/// so 20,000 messages take seconds, not minutes), bad messages to the dead
/// letter. A source is acknowledged only after its group committed.
pub fn fast_flow(system: &str, from: &str, group: usize) -> String {
    format!(
        r#"{system}
type Item {{ id: int, name: string }}

flow drain {{
  mode async
  from {from} as Item
  batch {group} within 50ms
  to sqlite("out/items.db").upsert("items", key: [id])
  dead_letter file("out").append("dead.jsonl")
}}
"#
    )
}

/// Every id of `0..n` is in `items` once, and nothing else is: nothing lost,
/// nothing twice (the upsert would hide a second delivery, the key makes a
/// second row impossible; the count of rows says no stray row came).
pub fn assert_exactly_once(db: &Path, n: i64) {
    let rows = sqlite_rows(
        db,
        "select count(*), count(distinct id), min(id), max(id) from items",
    );
    let got: Vec<Option<i64>> = rows[0].iter().map(serde_json::Value::as_i64).collect();
    assert_eq!(
        got,
        vec![Some(n), Some(n), Some(0), Some(n - 1)],
        "rows, distinct ids, least and greatest id in `items`"
    );
}

/// Waits until `n` items landed, failing only when none landed for
/// [`FINISH_STALLED`]; the panic message says `after` what and shows `log`.
fn wait_all(db: &Path, n: i64, after: &str, log: impl Fn() -> String) {
    let left = wait_converged(FINISH_STALLED, FINISH_LIMIT, || {
        (n - items(db)).max(0) as usize
    });
    assert_eq!(
        left,
        0,
        "{} of {n} after {after}; stderr:\n{}",
        items(db),
        log()
    );
}

/// A message the drained flows decode as `Item { id: int, name: string }`.
pub fn item_json(id: i64) -> String {
    format!(r#"{{"id":{id},"name":"n{id}"}}"#)
}

/// Runs `project` with `env`, kills it with SIGKILL at a random moment,
/// calls `after_kill`, restarts it, and asserts that all `n` items land
/// exactly once and that the broker settles (nothing unacknowledged).
/// `after_start` runs once the first process started (to publish into a
/// source that only receives while subscribed).
pub fn kill_and_restart(
    project: &Project,
    env: (&str, &str),
    n: i64,
    after_start: impl FnOnce(&mut Running),
    after_kill: impl FnOnce(),
    mut settled: impl FnMut() -> bool,
) {
    let db = project.path(ITEMS_DB);
    let progress = random_moment(n);
    let mut first = project.spawn_with_env(&[], &[env]);
    after_start(&mut first);
    assert!(
        wait_until(PROGRESS_LIMIT, || items(&db) >= progress),
        "{} landed, not the {progress} to strike at; stderr:\n{}",
        items(&db),
        first.stderr()
    );
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10)).expect("killed");
    let at_kill = items(&db);
    assert!(at_kill < n, "killed mid-stream: {at_kill} of {n}");
    after_kill();

    let mut second = project.spawn_with_env(&[], &[env]);
    wait_all(&db, n, &format!("a kill at {at_kill}"), || second.stderr());
    let settled = wait_until(SETTLE_LIMIT, &mut settled);
    let r = second.terminate(STOP_LIMIT);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(settled, "the broker still holds unacknowledged messages");
    assert_exactly_once(&db, n);
}

/// Runs `project` with `env`, strikes at a random moment (`strike`: cuts
/// the connections, restarts the server; `what` names it in messages),
/// and asserts that all `n` items land exactly once afterwards and that the
/// broker settles. Returns how the run ended, for broker-specific checks
/// of its log.
pub fn strike_and_recover(
    project: &Project,
    env: (&str, &str),
    n: i64,
    what: &str,
    after_start: impl FnOnce(&mut Running),
    strike: impl FnOnce(),
    mut settled: impl FnMut() -> bool,
) -> Outcome {
    let db = project.path(ITEMS_DB);
    let progress = random_moment(n);
    let mut running = project.spawn_with_env(&[], &[env]);
    after_start(&mut running);
    assert!(
        wait_until(PROGRESS_LIMIT, || items(&db) >= progress),
        "{} landed, not the {progress} to strike at; stderr:\n{}",
        items(&db),
        running.stderr()
    );
    strike();
    let at_strike = items(&db);
    assert!(at_strike < n, "{what} mid-stream: at {at_strike} of {n}");
    wait_all(&db, n, &format!("{what} at {at_strike}"), || {
        running.stderr()
    });
    let settled = wait_until(SETTLE_LIMIT, &mut settled);
    let r = running.terminate(STOP_LIMIT);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(settled, "the broker still holds unacknowledged messages");
    assert_exactly_once(&db, n);
    r
}

/// [`strike_and_recover`] by cutting every connection through `proxy`
/// (which `env` points at): the items land over a new connection.
pub fn cut_and_recover(
    project: &Project,
    env: (&str, &str),
    proxy: &FaultProxy,
    n: i64,
    after_start: impl FnOnce(&mut Running),
    settled: impl FnMut() -> bool,
) -> Outcome {
    let r = strike_and_recover(
        project,
        env,
        n,
        "a cut",
        after_start,
        || proxy.cut(),
        settled,
    );
    assert!(proxy.accepted() >= 2, "a second connection was made");
    r
}

/// Starts three replicas (replica `i` runs the flow `flow(i)`, each in its
/// own project, all with `env`), waits until each drained some items, kills
/// the first with SIGKILL, and asserts that the other two finish all `n`
/// items between them and that the broker settles.
pub fn three_replicas(
    flow: impl Fn(usize) -> String,
    env: (&str, &str),
    n: i64,
    settled: impl FnMut() -> bool,
) {
    let projects: Vec<Project> = (0..3).map(|_| Project::new()).collect();
    let dbs: Vec<_> = projects.iter().map(|p| p.path(ITEMS_DB)).collect();
    let mut replicas: Vec<Running> = projects
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.file("main.aq", flow(i));
            p.spawn_with_env(&[], &[env])
        })
        .collect();
    let all_working = wait_until(PROGRESS_LIMIT, || dbs.iter().all(|d| items(d) >= 100));
    assert!(
        all_working,
        "not every replica got messages: {:?}",
        dbs.iter().map(|d| items(d)).collect::<Vec<_>>()
    );
    replicas[0].signal("KILL");
    replicas[0]
        .wait_exit(Duration::from_secs(10))
        .expect("killed");
    let done = wait_until(REPLICAS_LIMIT, || union_of_ids(&dbs).len() as i64 == n);
    assert!(
        done,
        "{} of {n} across the replicas",
        union_of_ids(&dbs).len()
    );
    let settled = wait_until(SETTLE_LIMIT, settled);
    for r in replicas.iter_mut().skip(1) {
        let out = r.terminate(STOP_LIMIT);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    assert!(
        settled,
        "the broker still holds unacknowledged messages (the killed replica's were not redelivered)"
    );
}

/// Runs `project` with `env` until [`STOP_AT`] items landed, stops it with
/// SIGTERM and asserts that it drained what it had taken and exited 0
/// before all `n` landed. Returns how many landed, for the caller to check
/// that the broker holds none of those unacknowledged, and the log.
pub fn stop_mid_stream(project: &Project, env: (&str, &str), n: i64) -> (i64, String) {
    let db = project.path(ITEMS_DB);
    let mut running = project.spawn_with_env(&[], &[env]);
    assert!(
        wait_until(PROGRESS_LIMIT, || items(&db) >= STOP_AT),
        "no progress; stderr:\n{}",
        running.stderr()
    );
    let r = running.terminate(STOP_LIMIT);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let landed = items(&db);
    assert!(landed < n, "the stop came after the end: {landed} landed");
    (landed, r.stderr)
}

/// Runs `project` with `env` (calling `after_start` once it started), waits
/// until `items` rows landed in [`ITEMS_DB`] and `dead` entries in
/// `out/dead.jsonl` (failing with `not_done` and the log otherwise), then
/// waits for the broker to settle and stops the run. Returns how the run
/// ended and whether the broker settled, for the caller to assert on.
pub fn deliver_and_stop(
    project: &Project,
    env: (&str, &str),
    after_start: impl FnOnce(&mut Running),
    (items, dead): (i64, usize),
    not_done: &str,
    settled: impl FnMut() -> bool,
) -> (Outcome, bool) {
    let mut running = project.spawn_with_env(&[], &[env]);
    after_start(&mut running);
    let done = wait_until(DELIVER_LIMIT, || {
        sqlite_count(&project.path(ITEMS_DB), "select count(*) from items") == Some(items)
            && project.jsonl("out/dead.jsonl").len() == dead
    });
    assert!(done, "{not_done}; stderr:\n{}", running.stderr());
    let settled = wait_until(ACK_LIMIT, settled);
    (running.terminate(DELIVER_STOP_LIMIT), settled)
}

/// Runs once, with `env`, a project of `system` and an async flow `drain`
/// reading `from` as `Item { id: int }` into `out/items.jsonl` (with a dead
/// letter when `dead_letter`): for sources that must refuse to start.
pub fn run_consume_once(system: &str, from: &str, dead_letter: bool, env: (&str, &str)) -> Outcome {
    let dead_letter = if dead_letter {
        "  dead_letter file(\"out\").append(\"dead.jsonl\")\n"
    } else {
        ""
    };
    let project = Project::new();
    project.file(
        "main.aq",
        format!(
            r#"{system}
type Item {{ id: int }}

flow drain {{
  mode async
  from {from} as Item
  to file("out").append("items.jsonl")
{dead_letter}}}
"#
        ),
    );
    project.run_with_env(&[], &[env])
}
