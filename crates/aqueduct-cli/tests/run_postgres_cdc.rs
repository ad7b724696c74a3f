//! `postgres.changes` end to end through `aqueduct run` against the real
//! server: inserts, updates and deletes routed by `_op` to an upsert and a
//! delete target; an update that changes the key moving the row at the
//! target (a delete of the old key first); a restart resumes from the slot without loss; and under
//! load (a separate client writing about 10k inserts, updates and deletes)
//! a `kill -9` at a random moment and a restart leave the target equal to
//! the source; and under the same load every connection of the flow cut
//! three times by a fault-injecting proxy is recovered by the same process,
//! the target ends equal to the source and each change was read once. A
//! record type a delete cannot fill stops `run`, and `check --connect`
//! creates no slot.
//!
//! Each test creates its own replication slot and publication and drops
//! them at the end, also when it fails (an abandoned slot keeps WAL on the
//! shared server). Needs `AQUEDUCT_TEST_POSTGRES_URL` (a server with
//! `wal_level = logical`) and the `psql` client; without the URL each test
//! prints `SKIP: …` and passes, unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{FaultProxy, service_url, unique_name};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{Project, cdc, wait_converged, wait_until};

fn postgres_url(test: &str) -> Option<String> {
    service_url("AQUEDUCT_TEST_POSTGRES_URL", test)
}

/// Runs `sql` through `psql`; the rows, `|`-separated, one per line.
fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .arg(url)
        .args(["-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("runs psql");
    assert!(
        out.status.success(),
        "psql failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// The tables, slot and publication of one test, dropped when it ends
/// (also on failure: the running `aqueduct` is killed first, so the slot
/// is not in use).
struct Fixture {
    url: String,
    src: String,
    dst: String,
    slot: String,
    publication: String,
}

impl Fixture {
    fn new(url: &str, prefix: &str, columns: &str) -> Fixture {
        let f = Fixture {
            url: url.to_string(),
            src: unique_name(&format!("{prefix}_src")),
            dst: unique_name(&format!("{prefix}_dst")),
            slot: unique_name(&format!("{prefix}_slot")),
            publication: unique_name(&format!("{prefix}_pub")),
        };
        psql(
            url,
            &format!(
                "CREATE TABLE {} ({columns}); CREATE TABLE {} ({columns})",
                f.src, f.dst
            ),
        );
        f
    }

    /// Rows of `dst` missing from `src` plus rows of `src` missing from `dst`.
    fn differences(&self) -> i64 {
        psql(
            &self.url,
            &format!(
                "SELECT count(*) FROM ((SELECT * FROM {s} EXCEPT SELECT * FROM {d})
                 UNION ALL (SELECT * FROM {d} EXCEPT SELECT * FROM {s})) x",
                s = self.src,
                d = self.dst
            ),
        )
        .parse()
        .unwrap_or(-1)
    }

    fn count(&self, table: &str) -> i64 {
        psql(&self.url, &format!("SELECT count(*) FROM {table}"))
            .parse()
            .unwrap_or(-1)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let sql = format!(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active_pid IS NOT NULL;
             SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{slot}';
             DROP PUBLICATION IF EXISTS {publication};
             DROP TABLE IF EXISTS {src}, {dst}",
            slot = self.slot,
            publication = self.publication,
            src = self.src,
            dst = self.dst
        );
        let _ = std::process::Command::new("psql")
            .arg(&self.url)
            .args(["-qAtX", "-c", &sql])
            .output();
    }
}

/// A flow that mirrors `src` into `dst`: deletes to `delete`, the rest to `upsert`.
fn mirror_project(f: &Fixture) -> Project {
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL"), pool_size = 3 }}

type Change {{ id: int, name: string?, qty: int?, _op: string, _commit_time: timestamp }}
type Item {{ id: int, name: string?, qty: int? }}

flow mirror {{
  mode async
  from pg.changes("{src}", publication: "{publication}", slot: "{slot}") as Change
  tap file("out").append("changes.jsonl")
  route {{
    when ._op == "delete" => {{
      map Item {{ ... }}
      to pg.delete("{dst}", key: [id])
    }}
    else => {{
      map Item {{ ... }}
      to pg.upsert("{dst}", key: [id])
    }}
  }}
  dead_letter file("dlq").append("dead.jsonl")
}}
"#,
            src = f.src,
            dst = f.dst,
            publication = f.publication,
            slot = f.slot
        ),
    );
    p
}

const ITEM: &str = "id integer PRIMARY KEY, name text, qty integer";

#[test]
fn inserts_updates_and_deletes_reach_upsert_and_delete_targets_and_a_restart_resumes() {
    let Some(url) = postgres_url(
        "inserts_updates_and_deletes_reach_upsert_and_delete_targets_and_a_restart_resumes",
    ) else {
        return;
    };
    let f = Fixture::new(&url, "cdc", ITEM);
    let p = mirror_project(&f);
    let mut running = p.spawn_with_env(&[], &[("PG_URL", &url)]);
    // the slot exists once the flow started; changes from then on are read
    assert!(
        wait_until(Duration::from_secs(20), || {
            psql(
                &url,
                &format!(
                    "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{}'",
                    f.slot
                ),
            ) == "1"
        }),
        "the slot is created at start-up\n{}",
        running.stderr()
    );
    psql(
        &url,
        &format!(
            "INSERT INTO {s} VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3);
             UPDATE {s} SET qty = 20, name = 'B' WHERE id = 2;
             DELETE FROM {s} WHERE id = 3;",
            s = f.src
        ),
    );
    assert!(
        wait_until(Duration::from_secs(20), || f.differences() == 0
            && f.count(&f.dst) == 2),
        "the target mirrors the source\n{}",
        running.stderr()
    );
    // the change records carry the operation and the commit time; a delete
    // carries the key and null for the rest
    let changes = p.jsonl("out/changes.jsonl");
    let ops: Vec<&str> = changes.iter().filter_map(|c| c["_op"].as_str()).collect();
    assert_eq!(ops, ["insert", "insert", "insert", "update", "delete"]);
    assert_eq!(
        changes[4],
        serde_json::json!({"id": 3, "name": null, "qty": null, "_op": "delete",
                           "_commit_time": changes[4]["_commit_time"]})
    );
    assert!(
        changes[4]["_commit_time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{}",
        changes[4]
    );
    running.terminate(Duration::from_secs(20));

    // changes made while the flow is down are read after the restart, once
    psql(
        &url,
        &format!(
            "INSERT INTO {s} VALUES (4, 'd', 4); UPDATE {s} SET name = 'A' WHERE id = 1; DELETE FROM {s} WHERE id = 2;",
            s = f.src
        ),
    );
    let mut running = p.spawn_with_env(&[], &[("PG_URL", &url)]);
    assert!(
        wait_until(Duration::from_secs(20), || f.differences() == 0
            && f.count(&f.dst) == 2),
        "the changes made while stopped arrive\n{}",
        running.stderr()
    );
    std::thread::sleep(Duration::from_millis(500));
    running.terminate(Duration::from_secs(20));
    let ops: Vec<String> = p
        .jsonl("out/changes.jsonl")
        .iter()
        .filter_map(|c| c["_op"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        ops,
        [
            "insert", "insert", "insert", "update", "delete", "insert", "update", "delete"
        ],
        "nothing read twice after a clean stop"
    );
    assert!(!p.path("dlq/dead.jsonl").exists(), "no dead letters");
}

#[test]
fn an_update_that_changes_the_key_moves_the_row_at_the_target() {
    let Some(url) = postgres_url("an_update_that_changes_the_key_moves_the_row_at_the_target")
    else {
        return;
    };
    let f = Fixture::new(&url, "cdckey", ITEM);
    let p = mirror_project(&f);
    let mut running = p.spawn_with_env(&[], &[("PG_URL", &url)]);
    let slot_made = || {
        psql(
            &url,
            &format!(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{}'",
                f.slot
            ),
        ) == "1"
    };
    assert!(
        wait_until(Duration::from_secs(20), slot_made),
        "the slot is created at start-up\n{}",
        running.stderr()
    );
    let ops = |p: &Project| -> Vec<(String, i64)> {
        p.jsonl("out/changes.jsonl")
            .iter()
            .map(|c| {
                (
                    c["_op"].as_str().unwrap_or_default().to_string(),
                    c["id"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    };
    let pairs = |list: &[(&str, i64)]| -> Vec<(String, i64)> {
        list.iter().map(|(o, i)| (o.to_string(), *i)).collect()
    };
    // REPLICA IDENTITY DEFAULT: pgoutput sends the old key only when it changed
    psql(
        &url,
        &format!(
            "INSERT INTO {s} VALUES (1, 'a', 1), (2, 'b', 2);
             UPDATE {s} SET id = 10, name = 'moved' WHERE id = 1;
             UPDATE {s} SET qty = 20 WHERE id = 2;",
            s = f.src
        ),
    );
    let expected = pairs(&[
        ("insert", 1),
        ("insert", 2),
        ("delete", 1),
        ("update", 10),
        ("update", 2),
    ]);
    assert!(
        wait_until(Duration::from_secs(20), || f.differences() == 0
            && ops(&p) == expected),
        "the row moved from key 1 to key 10 at the target: {:?}, target {}\n{}",
        ops(&p),
        psql(&url, &format!("SELECT id, name FROM {} ORDER BY id", f.dst)),
        running.stderr()
    );
    assert_eq!(
        psql(
            &url,
            &format!("SELECT id, name, qty FROM {} ORDER BY id", f.dst)
        ),
        "2|b|20\n10|moved|1",
        "the old row is gone"
    );
    // REPLICA IDENTITY FULL: the whole old row comes with every update;
    // only a changed key makes a delete
    psql(
        &url,
        &format!(
            "ALTER TABLE {s} REPLICA IDENTITY FULL;
             UPDATE {s} SET id = 3 WHERE id = 2;
             UPDATE {s} SET qty = 11 WHERE id = 10;",
            s = f.src
        ),
    );
    let mut expected = expected;
    expected.extend(pairs(&[("delete", 2), ("update", 3), ("update", 10)]));
    assert!(
        wait_until(Duration::from_secs(20), || f.differences() == 0
            && ops(&p) == expected),
        "with REPLICA IDENTITY FULL too: {:?}\n{}",
        ops(&p),
        running.stderr()
    );
    assert_eq!(
        psql(
            &url,
            &format!("SELECT id, name, qty FROM {} ORDER BY id", f.dst)
        ),
        "3|b|20\n10|moved|11"
    );
    running.terminate(Duration::from_secs(20));
    assert!(!p.path("dlq/dead.jsonl").exists(), "no dead letters");
}

#[test]
fn under_load_a_kill_9_and_a_restart_leave_the_target_equal_to_the_source() {
    let Some(url) =
        postgres_url("under_load_a_kill_9_and_a_restart_leave_the_target_equal_to_the_source")
    else {
        return;
    };
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    eprintln!("seed {seed}");
    let f = Fixture::new(&url, "cdcload", ITEM);
    let p = mirror_project(&f);
    // the flow's commits do not wait for the disk: aqueduct is killed, not
    // the server, so nothing a commit returned is lost, and 10k changes
    // stay within the test's time on a busy machine
    let fast = format!("{url}?options=-c%20synchronous_commit%3Doff");
    p.file("workload.sql", cdc::workload(&f.src, seed, "BEGIN").sql());
    let mut running = p.spawn_with_env(&[], &[("PG_URL", &fast)]);
    assert!(
        wait_until(Duration::from_secs(20), || {
            psql(
                &url,
                &format!(
                    "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{}'",
                    f.slot
                ),
            ) == "1"
        }),
        "the slot is created at start-up\n{}",
        running.stderr()
    );
    // the separate client writes while the flow runs
    let writer = std::process::Command::new("psql")
        .arg(&url)
        .args(["-qAtX", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(p.path("workload.sql"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("runs psql");
    // kill -9 at a random moment once changes are flowing
    let kill_after = Duration::from_millis(300 + seed % 2500);
    assert!(
        wait_until(Duration::from_secs(20), || f.count(&f.dst) > 0),
        "changes arrive\n{}",
        running.stderr()
    );
    std::thread::sleep(kill_after);
    running.signal("KILL");
    let status = running.wait_exit(Duration::from_secs(10)).expect("killed");
    assert!(status.code().is_none(), "killed by a signal: {status:?}");
    let mut running = p.spawn_with_env(&[], &[("PG_URL", &fast)]);
    let out = writer.wait_with_output().expect("the writer ends");
    assert!(out.status.success(), "the workload ran");
    assert!(
        wait_converged(Duration::from_secs(30), Duration::from_secs(240), || {
            usize::try_from(f.differences()).unwrap_or(usize::MAX)
        }) == 0,
        "the target equals the source (seed {seed}): {} differences\n{}",
        f.differences(),
        running.stderr()
    );
    running.terminate(Duration::from_secs(20));
    assert!(f.count(&f.src) > 100, "the workload left rows");
    assert!(!p.path("dlq/dead.jsonl").exists(), "no dead letters");
}

#[test]
fn a_delete_that_cannot_fill_a_required_field_stops_run_and_check_connect_creates_no_slot() {
    let Some(url) = postgres_url(
        "a_delete_that_cannot_fill_a_required_field_stops_run_and_check_connect_creates_no_slot",
    ) else {
        return;
    };
    let f = Fixture::new(&url, "cdcreq", ITEM);
    let p = Project::new();
    let flow = |name_type: &str| {
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL") }}

type Change {{ id: int, name: {name_type}, _op: string }}

flow mirror {{
  mode async
  from pg.changes("{src}", publication: "{publication}", slot: "{slot}") as Change
  to file("out").append("changes.jsonl")
  dead_letter file("dlq").append("dead.jsonl")
}}
"#,
            src = f.src,
            publication = f.publication,
            slot = f.slot
        )
    };
    p.file("main.aq", flow("string"));
    let r = p.run_with_env(&[], &[("PG_URL", &url)]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "a delete from `{}` carries only (id), so fields `name: string` of `Change` cannot be filled; make them optional (`?`) or set REPLICA IDENTITY FULL on the table",
            f.src
        )),
        "{}",
        r.stderr
    );
    // with the field optional the preflight passes, and creates nothing
    p.file("main.aq", flow("string?"));
    let check = p.check_connect(&[("PG_URL", &url)]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert_eq!(
        psql(
            &url,
            &format!(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{}'",
                f.slot
            )
        ),
        "0",
        "check --connect leaves no slot behind"
    );
}

/// The mirror flow of the cut test: the source through one proxy
/// (`SRC_URL`), the targets through another (`PG_URL`), and a retry
/// policy for the targets' writes that a cut interrupts.
fn cut_project(f: &Fixture) -> Project {
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system src: postgres {{ url = secret("SRC_URL") }}
system pg: postgres {{ url = secret("PG_URL"), pool_size = 3 }}

type Change {{ id: int, name: string?, qty: int?, _op: string }}
type Item {{ id: int, name: string?, qty: int? }}

flow mirror {{
  mode async
  from src.changes("{src}", publication: "{publication}", slot: "{slot}") as Change
  route {{
    when ._op == "delete" => {{
      map Item {{ ... }}
      to pg.delete("{dst}", key: [id])
    }}
    else => {{
      map Item {{ ... }}
      to pg.upsert("{dst}", key: [id])
    }}
  }}
  retry 10 backoff exponential(100ms, 2s)
  dead_letter file("dlq").append("dead.jsonl")
}}
"#,
            src = f.src,
            dst = f.dst,
            publication = f.publication,
            slot = f.slot
        ),
    );
    p
}

#[test]
fn under_load_connections_cut_three_times_recover_without_a_restart_and_nothing_is_lost_or_read_twice()
 {
    let Some(url) = postgres_url(
        "under_load_connections_cut_three_times_recover_without_a_restart_and_nothing_is_lost_or_read_twice",
    ) else {
        return;
    };
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    eprintln!("seed {seed}");
    let f = Fixture::new(&url, "cdccut", ITEM);
    let p = cut_project(&f);
    let upstream = cdc::upstream(&url, 5432);
    let (source, target) = (FaultProxy::start(&upstream), FaultProxy::start(&upstream));
    // the targets' commits do not wait for the disk (the server is not
    // the one failing here), which keeps 10k changes within the test's time
    let fast = format!(
        "{}?options=-c%20synchronous_commit%3Doff",
        cdc::through(&url, &target)
    );
    let env = [("SRC_URL", cdc::through(&url, &source)), ("PG_URL", fast)];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut running = p.spawn_with_env(&[], &env);
    assert!(
        wait_until(Duration::from_secs(20), || {
            psql(
                &url,
                &format!(
                    "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{}'",
                    f.slot
                ),
            ) == "1"
        }),
        "the slot is created at start-up\n{}",
        running.stderr()
    );
    let workload = cdc::workload(&f.src, seed, "BEGIN");
    let fingerprint = || {
        psql(
            &url,
            &format!(
                "SELECT count(*) || ':' || coalesce(sum(qty), 0) || ':' || coalesce(sum(length(name)), 0) FROM {}",
                f.dst
            ),
        )
    };
    // a separate client writes the workload in four parts; every
    // connection of the flow is cut while each of the first three is written
    let cuts = cdc::write_and_cut(
        &workload.parts(4),
        &source,
        &[&source, &target],
        seed,
        |k, part| {
            let file = format!("part{k}.sql");
            p.file(&file, part);
            std::process::Command::new("psql")
                .arg(&url)
                .args(["-qAtX", "-v", "ON_ERROR_STOP=1", "-f"])
                .arg(p.path(&file))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("runs psql")
        },
        fingerprint,
        &running,
    );
    assert_eq!(cuts, 3);
    assert!(
        wait_until(Duration::from_secs(40), || f.differences() == 0),
        "the target equals the source (seed {seed}): {} differences\n{}",
        f.differences(),
        running.stderr()
    );
    assert!(running.is_running(), "the same process recovered");
    assert!(
        source.accepted() > cuts,
        "the source reconnected after every cut ({} connections)",
        source.accepted()
    );
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // each change was read once: the peeks after a cut skip what was
    // already emitted, so the count of records in is the count of changes
    assert_eq!(
        r.summary("mirror"),
        format!(
            "mirror: {n} in, {n} delivered, 0 filtered, 0 failed, 0 dead-lettered",
            n = workload.changes
        ),
        "seed {seed}"
    );
    assert!(f.count(&f.src) > 100, "the workload left rows");
    assert!(!p.path("dlq/dead.jsonl").exists(), "no dead letters");
}
