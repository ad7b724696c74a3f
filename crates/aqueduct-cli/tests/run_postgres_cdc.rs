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
//! creates no slot; a record type that does not match the table's columns
//! (a column that cannot be read into its field, a required field without
//! a column) stops `run` and `check --connect` before a slot exists.
//!
//! Each test creates its own replication slot and publication and drops
//! them at the end, also when it fails (an abandoned slot keeps WAL on the
//! shared server). Needs `AQUEDUCT_TEST_POSTGRES_URL` (a server with
//! `wal_level = logical`) and the `psql` client; without the URL each test
//! prints `SKIP: …` and passes, unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{FaultProxy, service_url, unique_name};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::postgres::{drop_slot_sql, psql, slots, wait_for_slot};
use support::{Project, cdc, wait_converged, wait_until};

fn postgres_url(test: &str) -> Option<String> {
    service_url("AQUEDUCT_TEST_POSTGRES_URL", test)
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
            "{drop_slot}
             DROP PUBLICATION IF EXISTS {publication};
             DROP TABLE IF EXISTS {src}, {dst}",
            drop_slot = drop_slot_sql(&self.slot),
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
    wait_for_slot(&url, &f.slot, Duration::from_secs(20), &running);
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
    let slot_made = || slots(&url, &f.slot) == "1";
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
    wait_for_slot(&url, &f.slot, Duration::from_secs(20), &running);
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
        slots(&url, &f.slot),
        "0",
        "check --connect leaves no slot behind"
    );
}

/// A record type that does not match the table stops `run` before any
/// record moves and before the slot or the publication exists, as a
/// diagnostic at the `from` line, and is an AQ0410 of `check --connect`
/// there: a field whose column cannot be read into its type (text into
/// `int`, an integer into `date`), a required field the table has no
/// column for, and a field of a generated column (which logical
/// replication does not send). An optional field without a column reads
/// as null, and an integer column reads into a `string` field, as the
/// decoder does.
#[test]
fn a_record_type_that_does_not_match_the_table_stops_run_and_check_connect_before_a_slot_exists() {
    let Some(url) = postgres_url(
        "a_record_type_that_does_not_match_the_table_stops_run_and_check_connect_before_a_slot_exists",
    ) else {
        return;
    };
    let f = Fixture::new(&url, "cdcshape", ITEM);
    // a generated column: logical replication does not send it
    psql(
        &url,
        &format!(
            "ALTER TABLE {} ADD COLUMN total integer GENERATED ALWAYS AS (qty * 2) STORED",
            f.src
        ),
    );
    let p = Project::new();
    // a second flow that would move a record at once: the refusal is the
    // whole run's, before any flow starts
    p.file("in/rows.jsonl", "{\"id\":1,\"name\":\"x\",\"qty\":1}\n");
    let project = |fields: &str| {
        format!(
            r#"system pg: postgres {{ url = secret("PG_URL") }}

type Change {{ {fields}, _op: string, _commit_time: timestamp }}
type Item {{ id: int, name: string?, qty: int? }}

flow mirror {{
  mode async
  from pg.changes("{src}", publication: "{publication}", slot: "{slot}") as Change
  to file("out").append("changes.jsonl")
  dead_letter file("dlq").append("dead.jsonl")
}}

flow copy {{
  mode batch
  from file("in").read("rows.jsonl") as Item
  to file("out").append("copied.jsonl")
}}
"#,
            src = f.src,
            publication = f.publication,
            slot = f.slot
        )
    };
    let env = [("PG_URL", url.as_str())];
    let slots = || {
        psql(
            &url,
            &format!(
                "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{}')
                      + (SELECT count(*) FROM pg_publication WHERE pubname = '{}')",
                f.slot, f.publication
            ),
        )
    };
    let cases = [
        (
            "id: int, name: int?, qty: date?",
            format!(
                "column `name` of `{src}` is text, which cannot be read into field `name: int?`; \
                 column `qty` of `{src}` is integer, which cannot be read into field `qty: date?`",
                src = f.src
            ),
        ),
        (
            "id: int, name: string?, qty: int?, note: string",
            format!(
                "table `{}` has no column `note` (required field of `Change`)",
                f.src
            ),
        ),
        (
            "id: int, name: string?, qty: int?, total: int?",
            format!(
                "column `total` of `{}` is integer GENERATED (logical replication does not send it), which cannot be read into field `total: int?`",
                f.src
            ),
        ),
    ];
    for (fields, problem) in &cases {
        p.file("main.aq", project(fields));
        let message = format!("`pg.changes`: postgres `pg`: {problem}");
        let r = p.run_with_env(&[], &env);
        assert_eq!(r.code, 3, "run refuses to start: {}", r.stderr);
        assert!(
            r.unwrapped()
                .contains(&format!("main.aq:8: flow `mirror`: {message}")),
            "the diagnostic names the `from` line and the problem ({fields}): {}",
            r.stderr
        );
        assert!(
            !p.path("out").exists(),
            "no record moved, in either flow ({fields})"
        );
        assert_eq!(slots(), "0", "no slot or publication made ({fields})");
        let check = p.check_connect(&env);
        let text = check.unwrapped();
        assert_eq!(check.code, 1, "{text}");
        assert!(text.contains("AQ0410") && text.contains(&message), "{text}");
        assert!(
            text.contains("main.aq:8"),
            "points at the `from` line: {text}"
        );
        assert_eq!(slots(), "0", "check --connect makes nothing ({fields})");
    }
    // an optional field without a column and an integer column read as a
    // string pass the preflight, and read as the decoder reads them
    p.file(
        "main.aq",
        project("id: int, name: string?, qty: string?, note: string?"),
    );
    let check = p.check_connect(&env);
    assert_eq!(check.code, 0, "{}", check.unwrapped());
    assert_eq!(slots(), "0", "check --connect makes nothing");
    let mut running = p.spawn_with_env(&[], &env);
    assert!(
        wait_until(Duration::from_secs(20), || slots() == "2"),
        "the slot and the publication are made when the flow starts\n{}",
        running.stderr()
    );
    psql(&url, &format!("INSERT INTO {} VALUES (1, 'a', 7)", f.src));
    cdc::assert_loose_row(&p, &mut running);
}

/// The `postgres` server binary of an installed PostgreSQL, if any.
fn postgres_binary() -> Option<std::path::PathBuf> {
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("postgres").exists() && bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// True when the tests run as root (CI), where PostgreSQL must be run as
/// another user.
fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL server of the test's own (its own data directory, port
/// and socket directory) started with `wal_level = replica`: a server
/// without what `changes` needs. `None` after printing `SKIP: …` when no
/// PostgreSQL is installed (a failure under `AQUEDUCT_REQUIRE_SERVICES=1`).
fn private_postgres_without_logical_wal(test: &str) -> Option<aqueduct_test_support::Daemon> {
    let Some(bin) = postgres_binary() else {
        assert!(
            std::env::var("AQUEDUCT_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "AQUEDUCT_REQUIRE_SERVICES=1 but no PostgreSQL server binaries are installed under /usr/lib/postgresql (needed by {test})"
        );
        println!("SKIP: {test} (no /usr/lib/postgresql/*/bin/postgres)");
        return None;
    };
    let (postgres, initdb) = (bin.join("postgres"), bin.join("initdb"));
    let postgres = postgres.display().to_string();
    // PostgreSQL refuses to run as root: as root, as the `postgres` user
    let root = is_root();
    let as_postgres = [
        "--reuid",
        "postgres",
        "--regid",
        "postgres",
        "--init-groups",
        "--",
    ];
    let server = [
        "-D",
        "{dir}/data",
        "-p",
        "{port}",
        "-k",
        "{dir}",
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "wal_level=replica",
        "-c",
        "fsync=off",
    ];
    let (binaries, args): (Vec<&str>, Vec<&str>) = if root {
        let mut args = as_postgres.to_vec();
        args.push(&postgres);
        args.extend(server);
        (vec!["/usr/bin/setpriv"], args)
    } else {
        (vec![postgres.as_str()], server.to_vec())
    };
    let daemon = aqueduct_test_support::Daemon::start_with(&binaries, &args, |_, dir| {
        let mut cmd = if root {
            let chown = std::process::Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir)
                .status()
                .map_err(|e| e.to_string())?;
            if !chown.success() {
                return Err(format!("chown {} failed", dir.display()));
            }
            let mut cmd = std::process::Command::new("/usr/bin/setpriv");
            cmd.args(as_postgres).arg(&initdb);
            cmd
        } else {
            std::process::Command::new(&initdb)
        };
        let out = cmd
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    })
    .expect("a private PostgreSQL starts");
    Some(daemon)
}

/// Stops the private PostgreSQL of this data directory cleanly when the
/// test ends (also on failure), before its [`aqueduct_test_support::Daemon`]
/// is dropped, which would kill only the postmaster and leave its other
/// processes to notice.
struct StopPostgres(String);

impl Drop for StopPostgres {
    fn drop(&mut self) {
        let Some(bin) = postgres_binary() else {
            return;
        };
        let pg_ctl = bin.join("pg_ctl");
        let mut cmd = if is_root() {
            let mut cmd = std::process::Command::new("/usr/bin/setpriv");
            cmd.args([
                "--reuid",
                "postgres",
                "--regid",
                "postgres",
                "--init-groups",
                "--",
            ])
            .arg(pg_ctl);
            cmd
        } else {
            std::process::Command::new(pg_ctl)
        };
        let _ = cmd
            .args(["stop", "-m", "fast", "-w", "-t", "30", "-D", &self.0])
            .output();
    }
}

/// A server without `wal_level = logical` stops `run` before any record
/// moves, naming the setting at the `from` line, and is an AQ0410 of
/// `check --connect` there; nothing is made on the server. A PostgreSQL of
/// the test's own, not the shared one (which has the setting).
#[test]
fn a_server_without_logical_wal_stops_run_and_check_connect_naming_the_setting() {
    let test = "a_server_without_logical_wal_stops_run_and_check_connect_naming_the_setting";
    let Some(server) = private_postgres_without_logical_wal(test) else {
        return;
    };
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port());
    // the server listens before it takes connections ("starting up")
    assert!(
        wait_until(Duration::from_secs(30), || {
            std::process::Command::new("psql")
                .arg(&url)
                .args(["-qAtX", "-c", "SELECT 1"])
                .output()
                .is_ok_and(|o| o.status.success())
        }),
        "the private PostgreSQL takes connections"
    );
    let _stop = StopPostgres(psql(&url, "SHOW data_directory"));
    psql(
        &url,
        "CREATE TABLE items (id integer PRIMARY KEY, name text)",
    );
    let p = Project::new();
    p.file(
        "main.aq",
        r#"system pg: postgres { url = secret("PG_URL") }

type Change { id: int, name: string?, _op: string }

flow mirror {
  mode async
  from pg.changes("items") as Change
  to file("out").append("changes.jsonl")
}
"#,
    );
    let env = [("PG_URL", url.as_str())];
    let message = "`pg.changes`: postgres `pg`: `changes` needs wal_level = logical, the server has `replica`; set it in postgresql.conf and restart the server";
    let r = p.run_with_env(&[], &env);
    assert_eq!(r.code, 3, "run refuses to start: {}", r.stderr);
    assert!(
        r.unwrapped()
            .contains(&format!("main.aq:7: flow `mirror`: {message}")),
        "the diagnostic names the `from` line and the setting: {}",
        r.stderr
    );
    assert!(!p.path("out").exists(), "no record moved");
    let check = p.check_connect(&env);
    let text = check.unwrapped();
    assert_eq!(check.code, 1, "{text}");
    assert!(text.contains("AQ0410") && text.contains(message), "{text}");
    assert!(
        text.contains("main.aq:7"),
        "points at the `from` line: {text}"
    );
    assert_eq!(
        psql(
            &url,
            "SELECT (SELECT count(*) FROM pg_replication_slots) + (SELECT count(*) FROM pg_publication)"
        ),
        "0",
        "no slot or publication was made"
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
    wait_for_slot(&url, &f.slot, Duration::from_secs(20), &running);
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
