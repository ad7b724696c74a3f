//! The loss scenarios every at-least-once broker source is tested with:
//! `kill -9` mid-stream and a restart ([`kill_and_restart`]), a connection
//! cut by a fault-injecting proxy ([`cut_and_recover`]), and three replicas
//! on one queue with one killed ([`three_replicas`]); and the plain run
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

use super::{Outcome, Project, Running, sqlite_count, union_of_ids, wait_until};
use aqueduct_test_support::FaultProxy;
use std::path::Path;
use std::time::Duration;

/// The database every drained flow upserts into, relative to its project.
pub const ITEMS_DB: &str = "out/items.db";

/// How long the flow may take to make progress, and to finish the rest:
/// guards against hangs, generous for a loaded machine and for a consumer
/// group that must rebalance after a restart, not timing assertions.
const PROGRESS_LIMIT: Duration = Duration::from_secs(60);
const FINISH_LIMIT: Duration = Duration::from_secs(120);
const SETTLE_LIMIT: Duration = Duration::from_secs(20);
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// The same guards for [`deliver_and_stop`]'s handful of messages.
const DELIVER_LIMIT: Duration = Duration::from_secs(30);
const ACK_LIMIT: Duration = Duration::from_secs(10);
const DELIVER_STOP_LIMIT: Duration = Duration::from_secs(20);

/// Rows in `items` of the database at `db` (0 before it exists).
pub fn items(db: &Path) -> i64 {
    sqlite_count(db, "select count(*) from items").unwrap_or(0)
}

fn distinct_items(db: &Path) -> Option<i64> {
    sqlite_count(db, "select count(distinct id) from items")
}

/// A message the drained flows decode as `Item { id: int, name: string }`.
pub fn item_json(id: i64) -> String {
    format!(r#"{{"id":{id},"name":"n{id}"}}"#)
}

/// Runs `project` with `env`, kills it with SIGKILL once `progress` items
/// landed, calls `after_kill`, restarts it, and asserts that all `n` items
/// land exactly once and that the broker settles (nothing unacknowledged).
/// `after_start` runs once the first process started (to publish into a
/// source that only receives while subscribed).
pub fn kill_and_restart(
    project: &Project,
    env: (&str, &str),
    n: i64,
    progress: i64,
    after_start: impl FnOnce(&mut Running),
    after_kill: impl FnOnce(),
    mut settled: impl FnMut() -> bool,
) {
    let db = project.path(ITEMS_DB);
    let mut first = project.spawn_with_env(&[], &[env]);
    after_start(&mut first);
    assert!(
        wait_until(PROGRESS_LIMIT, || items(&db) >= progress),
        "no progress; stderr:\n{}",
        first.stderr()
    );
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10)).expect("killed");
    let at_kill = items(&db);
    assert!(at_kill < n, "killed mid-stream: {at_kill} of {n}");
    after_kill();

    let mut second = project.spawn_with_env(&[], &[env]);
    let all = wait_until(FINISH_LIMIT, || items(&db) == n);
    assert!(
        all,
        "{} of {n} after restart; stderr:\n{}",
        items(&db),
        second.stderr()
    );
    let settled = wait_until(SETTLE_LIMIT, &mut settled);
    let r = second.terminate(STOP_LIMIT);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(settled, "the broker still holds unacknowledged messages");
    assert_eq!(distinct_items(&db), Some(n));
}

/// Runs `project` with `env` (pointing at `proxy`), cuts every connection
/// once `progress` items landed, and asserts that all `n` items land
/// exactly once over a new connection and that the broker settles. Returns
/// how the run ended, for broker-specific checks of its log.
pub fn cut_and_recover(
    project: &Project,
    env: (&str, &str),
    proxy: &FaultProxy,
    n: i64,
    progress: i64,
    after_start: impl FnOnce(&mut Running),
    mut settled: impl FnMut() -> bool,
) -> Outcome {
    let db = project.path(ITEMS_DB);
    let mut running = project.spawn_with_env(&[], &[env]);
    after_start(&mut running);
    assert!(
        wait_until(PROGRESS_LIMIT, || items(&db) >= progress),
        "no progress; stderr:\n{}",
        running.stderr()
    );
    proxy.cut();
    let at_cut = items(&db);
    assert!(at_cut < n, "cut mid-stream: {at_cut} of {n}");
    let all = wait_until(FINISH_LIMIT, || items(&db) == n);
    assert!(
        all,
        "{} of {n} after the cut; stderr:\n{}",
        items(&db),
        running.stderr()
    );
    let settled = wait_until(SETTLE_LIMIT, &mut settled);
    let r = running.terminate(STOP_LIMIT);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(settled, "the broker still holds unacknowledged messages");
    assert!(proxy.accepted() >= 2, "a second connection was made");
    assert_eq!(distinct_items(&db), Some(n));
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
    let done = wait_until(FINISH_LIMIT, || union_of_ids(&dbs).len() as i64 == n);
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
