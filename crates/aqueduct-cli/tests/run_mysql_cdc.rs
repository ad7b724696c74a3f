//! `mysql.changes` end to end through `aqueduct run` against the real
//! MariaDB (binary log on, `binlog_format = ROW`): inserts, updates and
//! deletes routed by `_op` to an upsert and a delete target; an update
//! that changes the primary key moving the row at the target; a restart
//! resumes from the checkpointed binlog position without loss; and under
//! load (a separate client writing about 10k inserts, updates and deletes)
//! a `kill -9` at a random moment and a restart leave the target equal to
//! the source; and under the same load every connection of the flow cut
//! three times by a fault-injecting proxy is recovered by the same process,
//! the target ends equal to the source and each change was read once;
//! and the start-up preflight: a table that does not exist, or a record
//! type that does not match its columns, stops `run` and `check
//! --connect` before any change is read or a position stored.
//!
//! Needs `AQUEDUCT_TEST_MYSQL_URL` (e.g. `mysql://root@127.0.0.1:3306/test`,
//! a user allowed to read the binary log) and the `mysql` client; without
//! the URL each test prints `SKIP: …` and passes, unless
//! `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{FaultProxy, service_url, unique_name};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::postgres::psql;
use support::{Project, cdc, wait_converged, wait_until};

fn mysql_url(test: &str) -> Option<String> {
    service_url("AQUEDUCT_TEST_MYSQL_URL", test)
}

/// The `mysql` client's connection arguments for `url`.
fn client_args(url: &str) -> (Vec<String>, String) {
    // mysql://user[:password]@host:port/db
    let rest = url.trim_start_matches("mysql://");
    let (auth, rest) = rest.split_once('@').unwrap_or(("root", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, "test"));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    (
        ["-N", "-B", "-h", host, "-P", port, "-u", user, db]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        password.to_string(),
    )
}

/// Runs `sql` through the command-line client; rows tab-separated, one per line.
fn mysql(url: &str, sql: &str) -> String {
    let (args, password) = client_args(url);
    let mut cmd = std::process::Command::new("mysql");
    cmd.args(&args).args(["-e", sql]);
    if !password.is_empty() {
        cmd.env("MYSQL_PWD", password);
    }
    let out = cmd.output().expect("runs the mysql client");
    assert!(
        out.status.success(),
        "mysql failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// The source and target tables of one test, dropped when it ends. The
/// target is in MariaDB, or in PostgreSQL when `pg` is set (its commits
/// are faster than MariaDB's on these machines, which keeps the load test
/// short).
struct Fixture {
    url: String,
    src: String,
    dst: String,
    pg: Option<String>,
}

impl Fixture {
    fn new(url: &str, prefix: &str, columns: &str, pg: Option<&str>) -> Fixture {
        let f = Fixture {
            url: url.to_string(),
            src: unique_name(&format!("{prefix}_src")),
            dst: unique_name(&format!("{prefix}_dst")),
            pg: pg.map(str::to_string),
        };
        mysql(url, &format!("CREATE TABLE {} ({columns})", f.src));
        match &f.pg {
            Some(pg) => {
                psql(pg, &format!("CREATE TABLE {} ({columns})", f.dst));
            }
            None => {
                mysql(url, &format!("CREATE TABLE {} ({columns})", f.dst));
            }
        }
        f
    }

    /// Rows of either table missing from the other.
    fn differences(&self) -> i64 {
        if let Some(pg) = &self.pg {
            let source = mysql(
                &self.url,
                &format!(
                    "SELECT id, COALESCE(name, '~'), COALESCE(qty, -1) FROM {} ORDER BY id",
                    self.src
                ),
            )
            .replace('\t', "|");
            let target = psql(
                pg,
                &format!(
                    "SELECT id, COALESCE(name, '~'), COALESCE(qty, -1) FROM {} ORDER BY id",
                    self.dst
                ),
            );
            let (a, b): (
                std::collections::BTreeSet<&str>,
                std::collections::BTreeSet<&str>,
            ) = (source.lines().collect(), target.lines().collect());
            return a.symmetric_difference(&b).count() as i64;
        }
        mysql(
            &self.url,
            &format!(
                "SELECT (SELECT count(*) FROM {s} a LEFT JOIN {d} b ON a.id = b.id
                         WHERE b.id IS NULL OR NOT (a.name <=> b.name AND a.qty <=> b.qty))
                      + (SELECT count(*) FROM {d} b LEFT JOIN {s} a ON a.id = b.id WHERE a.id IS NULL)",
                s = self.src,
                d = self.dst
            ),
        )
        .parse()
        .unwrap_or(-1)
    }

    fn count(&self, table: &str) -> i64 {
        let text = match &self.pg {
            Some(pg) if table == self.dst => psql(pg, &format!("SELECT count(*) FROM {table}")),
            _ => mysql(&self.url, &format!("SELECT count(*) FROM {table}")),
        };
        text.parse().unwrap_or(-1)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let (args, password) = client_args(&self.url);
        let _ = std::process::Command::new("mysql")
            .args(&args)
            .args([
                "-e",
                &format!("DROP TABLE IF EXISTS {}, {}", self.src, self.dst),
            ])
            .env("MYSQL_PWD", password)
            .output();
        if let Some(pg) = &self.pg {
            let _ = std::process::Command::new("psql")
                .arg(pg)
                .args(["-qAtX", "-c", &format!("DROP TABLE IF EXISTS {}", self.dst)])
                .output();
        }
    }
}

/// A flow that mirrors `src` into `dst`: deletes to `delete`, the rest to `upsert`.
fn mirror_project(f: &Fixture) -> Project {
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system my: mysql {{ url = secret("MY_URL"), pool_size = 3 }}
{pg_system}

type Change {{ id: int, name: string?, qty: int?, _op: string, _commit_time: timestamp }}
type Item {{ id: int, name: string?, qty: int? }}

flow mirror {{
  mode async
  from my.changes("{src}"{server_id}) as Change
  {tap}
  route {{
    when ._op == "delete" => {{
      map Item {{ ... }}
      to {target}.delete("{dst}", key: [id])
    }}
    else => {{
      map Item {{ ... }}
      to {target}.upsert("{dst}", key: [id])
    }}
  }}
  dead_letter file("dlq").append("dead.jsonl")
}}
"#,
            src = f.src,
            dst = f.dst,
            target = if f.pg.is_some() { "pg" } else { "my" },
            // the load test names its replica id; the other uses the default
            server_id = if f.pg.is_some() {
                ", server_id: 4242"
            } else {
                ""
            },
            // the load test keeps no copy of each change: a file append per
            // record would be its bottleneck
            tap = if f.pg.is_some() {
                ""
            } else {
                r#"tap file("out").append("changes.jsonl")"#
            },
            pg_system = if f.pg.is_some() {
                r#"system pg: postgres { url = secret("PG_URL"), pool_size = 3 }"#
            } else {
                ""
            },
        ),
    );
    p
}

const ITEM: &str = "id INT PRIMARY KEY, name VARCHAR(40), qty INT";

/// Waits until the flow has stored its first binlog position (it reads
/// changes made from then on).
fn wait_started(p: &Project, running: &mut support::Running) {
    assert!(
        wait_until(Duration::from_secs(20), || {
            support::sqlite_count(
                &p.path(".aqueduct/state.db"),
                "select count(*) from aqueduct_state where key like 'mysql:%'",
            )
            .unwrap_or(0)
                > 0
        }),
        "the start position is stored\n{}",
        running.stderr()
    );
}

#[test]
fn a_binlog_update_that_changes_the_key_moves_the_row_at_the_target() {
    let Some(url) = mysql_url("a_binlog_update_that_changes_the_key_moves_the_row_at_the_target")
    else {
        return;
    };
    let f = Fixture::new(&url, "mykey", ITEM, None);
    let env = [("MY_URL", url.as_str())];
    let p = mirror_project(&f);
    // a replica id of its own: the restart test beside it uses the default
    let text = p.read("main.aq").replace(
        &format!("my.changes(\"{}\")", f.src),
        &format!("my.changes(\"{}\", server_id: 4343)", f.src),
    );
    p.file("main.aq", text);
    let mut running = p.spawn_with_env(&[], &env);
    wait_started(&p, &mut running);
    mysql(
        &url,
        &format!(
            "INSERT INTO {s} VALUES (1, 'a', 1), (2, 'b', 2);
             UPDATE {s} SET id = 10, name = 'moved' WHERE id = 1;
             UPDATE {s} SET qty = 20 WHERE id = 2;",
            s = f.src
        ),
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
    let expected: Vec<(String, i64)> = [
        ("insert", 1),
        ("insert", 2),
        ("delete", 1),
        ("update", 10),
        ("update", 2),
    ]
    .iter()
    .map(|(o, i)| (o.to_string(), *i))
    .collect();
    assert!(
        wait_until(Duration::from_secs(20), || f.differences() == 0
            && ops(&p) == expected),
        "the row moved from key 1 to key 10 at the target: {:?}, target {}\n{}",
        ops(&p),
        mysql(&url, &format!("SELECT id, name FROM {} ORDER BY id", f.dst)),
        running.stderr()
    );
    assert_eq!(
        mysql(
            &url,
            &format!("SELECT id, name, qty FROM {} ORDER BY id", f.dst)
        ),
        "2\tb\t20\n10\tmoved\t1",
        "the old row is gone"
    );
    running.terminate(Duration::from_secs(20));
    assert!(!p.path("dlq/dead.jsonl").exists(), "no dead letters");
}

#[test]
fn binlog_inserts_updates_and_deletes_reach_upsert_and_delete_targets_and_a_restart_resumes() {
    let Some(url) = mysql_url(
        "binlog_inserts_updates_and_deletes_reach_upsert_and_delete_targets_and_a_restart_resumes",
    ) else {
        return;
    };
    let f = Fixture::new(&url, "mycdc", ITEM, None);
    let env = [("MY_URL", url.as_str())];
    let p = mirror_project(&f);
    let mut running = p.spawn_with_env(&[], &env);
    wait_started(&p, &mut running);
    mysql(
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
    // carries the whole old row (binlog_row_image = FULL)
    let changes = p.jsonl("out/changes.jsonl");
    let ops: Vec<&str> = changes.iter().filter_map(|c| c["_op"].as_str()).collect();
    assert_eq!(ops, ["insert", "insert", "insert", "update", "delete"]);
    assert_eq!(
        changes[4],
        serde_json::json!({"id": 3, "name": "c", "qty": 3, "_op": "delete",
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
    mysql(
        &url,
        &format!(
            "INSERT INTO {s} VALUES (4, 'd', 4); UPDATE {s} SET name = 'A' WHERE id = 1; DELETE FROM {s} WHERE id = 2;",
            s = f.src
        ),
    );
    let mut running = p.spawn_with_env(&[], &env);
    assert!(
        wait_until(Duration::from_secs(20), || f.differences() == 0
            && f.count(&f.dst) == 2),
        "the changes made while stopped arrive\n{}\n{:?}",
        running.stderr(),
        p.sqlite(
            ".aqueduct/state.db",
            "select key, value from aqueduct_state"
        )
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
fn binlog_under_load_a_kill_9_and_a_restart_leave_the_target_equal_to_the_source() {
    let Some(url) =
        mysql_url("binlog_under_load_a_kill_9_and_a_restart_leave_the_target_equal_to_the_source")
    else {
        return;
    };
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    eprintln!("seed {seed}");
    // the target is a PostgreSQL table: MariaDB's commit per upsert would
    // make 10k changes take minutes here
    let Some(pg) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "binlog_under_load_a_kill_9_and_a_restart_leave_the_target_equal_to_the_source",
    ) else {
        return;
    };
    let f = Fixture::new(&url, "mycdcload", ITEM, Some(&pg));
    // the target commits asynchronously: aqueduct is killed, not the
    // server, so nothing a commit returned is lost, and a commit that does
    // not wait for the disk keeps 10k changes within the test's time
    let fast_pg = format!("{pg}?options=-c%20synchronous_commit%3Doff");
    let env = [("MY_URL", url.as_str()), ("PG_URL", fast_pg.as_str())];
    let p = mirror_project(&f);
    p.file(
        "workload.sql",
        cdc::workload(&f.src, seed, "START TRANSACTION").sql(),
    );
    let mut running = p.spawn_with_env(&[], &env);
    wait_started(&p, &mut running);
    // the separate client writes while the flow runs
    let (args, password) = client_args(&url);
    let writer = std::process::Command::new("mysql")
        .args(&args)
        .env("MYSQL_PWD", password)
        .stdin(std::fs::File::open(p.path("workload.sql")).expect("the workload"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("runs mysql");
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
    let mut running = p.spawn_with_env(&[], &env);
    let out = writer.wait_with_output().expect("the writer ends");
    assert!(out.status.success(), "the workload ran");
    let started = std::time::Instant::now();
    assert!(
        wait_converged(Duration::from_secs(30), Duration::from_secs(240), || {
            usize::try_from(f.differences()).unwrap_or(usize::MAX)
        }) == 0,
        "the target equals the source (seed {seed}): {} differences, {} and {} rows, {} dead letters\n{}",
        f.differences(),
        f.count(&f.src),
        f.count(&f.dst),
        std::fs::read_to_string(p.path("dlq/dead.jsonl"))
            .unwrap_or_default()
            .lines()
            .count(),
        running.stderr()
    );
    eprintln!("caught up {:?} after the writer ended", started.elapsed());
    running.terminate(Duration::from_secs(20));
    assert!(f.count(&f.src) > 100, "the workload left rows");
    assert!(!p.path("dlq/dead.jsonl").exists(), "no dead letters");
}

/// The start-up preflight of `changes`: a table that does not exist stops
/// `run` before any flow starts (exit code 3, the diagnostic at the
/// `from` line), having stored no binlog position and moved no record,
/// and is an AQ0410 of `check --connect` at the same line; with the table
/// there, the same project passes `check --connect`.
#[test]
fn a_missing_table_stops_run_and_check_connect_before_any_change_is_read() {
    let Some(url) =
        mysql_url("a_missing_table_stops_run_and_check_connect_before_any_change_is_read")
    else {
        return;
    };
    let f = Fixture::new(&url, "mypre", ITEM, None);
    let missing = unique_name("mypre_gone");
    let p = Project::new();
    // a second flow that would move a record at once: the refusal is the
    // whole run's, before any flow starts
    p.file("in/rows.jsonl", "{\"id\":1,\"name\":\"x\",\"qty\":1}\n");
    let project = |table: &str| {
        format!(
            r#"system my: mysql {{ url = secret("MY_URL") }}

type Change {{ id: int, name: string?, qty: int?, _op: string }}
type Item {{ id: int, name: string?, qty: int? }}

flow mirror {{
  mode async
  from my.changes("{table}") as Change
  to file("out").append("changes.jsonl")
  dead_letter file("dlq").append("dead.jsonl")
}}

flow copy {{
  mode batch
  from file("in").read("rows.jsonl") as Item
  to file("out").append("copied.jsonl")
}}
"#
        )
    };
    p.file("main.aq", project(&missing));
    let env = [("MY_URL", url.as_str())];
    let no_table = format!("`my.changes`: mysql `my`: table `{missing}` does not exist");
    let r = p.run_with_env(&[], &env);
    assert_eq!(r.code, 3, "run refuses to start: {}", r.stderr);
    assert!(
        r.unwrapped()
            .contains(&format!("main.aq:8: flow `mirror`: {no_table}")),
        "the diagnostic names the `from` line and the table: {}",
        r.stderr
    );
    assert!(
        !p.path("out").exists(),
        "no record moved, in either flow: {:?}",
        std::fs::read_dir(p.path("out")).map(|d| d.count())
    );
    assert_eq!(
        support::sqlite_count(
            &p.path(".aqueduct/state.db"),
            "select count(*) from aqueduct_state where key like 'mysql:%'"
        )
        .unwrap_or(0),
        0,
        "the refused run stored no binlog position"
    );
    let check = p.check_connect(&env);
    let text = check.unwrapped();
    assert_eq!(check.code, 1, "{text}");
    assert!(
        text.contains("AQ0410") && text.contains(&no_table),
        "{text}"
    );
    assert!(
        text.contains("main.aq:8"),
        "points at the `from` line: {text}"
    );
    // with the table there the same project passes: the missing table
    // was the only problem
    p.file("main.aq", project(&f.src));
    let check = p.check_connect(&env);
    assert_eq!(check.code, 0, "{}", check.unwrapped());
}

/// A record type that does not match the table stops `run` before any
/// record moves and before a binlog position is stored, as a diagnostic
/// at the `from` line, and is an AQ0410 of `check --connect` there: a
/// field whose column cannot be read into its type (text into `bool`, an
/// integer into `timestamp`), and a required field the table has no
/// column for. An optional field without a column reads as null, and an
/// integer column reads into a `string` field, as the binlog decoder does.
#[test]
fn a_record_type_that_does_not_match_the_table_stops_run_and_check_connect_before_a_position_is_stored()
 {
    let Some(url) = mysql_url(
        "a_record_type_that_does_not_match_the_table_stops_run_and_check_connect_before_a_position_is_stored",
    ) else {
        return;
    };
    let f = Fixture::new(&url, "myshape", ITEM, None);
    // a replica id of its own: other tests read the same server's binlog
    let server_id = 7_000_000 + std::process::id() % 1_000_000;
    let p = Project::new();
    // a second flow that would move a record at once: the refusal is the
    // whole run's, before any flow starts
    p.file("in/rows.jsonl", "{\"id\":1,\"name\":\"x\",\"qty\":1}\n");
    let project = |fields: &str| {
        format!(
            r#"system my: mysql {{ url = secret("MY_URL") }}

type Change {{ {fields}, _op: string, _commit_time: timestamp }}
type Item {{ id: int, name: string?, qty: int? }}

flow mirror {{
  mode async
  from my.changes("{src}", server_id: {server_id}) as Change
  to file("out").append("changes.jsonl")
  dead_letter file("dlq").append("dead.jsonl")
}}

flow copy {{
  mode batch
  from file("in").read("rows.jsonl") as Item
  to file("out").append("copied.jsonl")
}}
"#,
            src = f.src
        )
    };
    let env = [("MY_URL", url.as_str())];
    let stored = || {
        support::sqlite_count(
            &p.path(".aqueduct/state.db"),
            "select count(*) from aqueduct_state where key like 'mysql:%'",
        )
        .unwrap_or(0)
    };
    let cases = [
        (
            "id: int, name: bool?, qty: timestamp?",
            format!(
                "column `name` of `{src}` is varchar(40), which cannot be read into field `name: bool?`; \
                 column `qty` of `{src}` is int(11), which cannot be read into field `qty: timestamp?`",
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
    ];
    for (fields, problem) in &cases {
        p.file("main.aq", project(fields));
        let message = format!("`my.changes`: mysql `my`: {problem}");
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
        assert_eq!(stored(), 0, "no binlog position stored ({fields})");
        let check = p.check_connect(&env);
        let text = check.unwrapped();
        assert_eq!(check.code, 1, "{text}");
        assert!(text.contains("AQ0410") && text.contains(&message), "{text}");
        assert!(
            text.contains("main.aq:8"),
            "points at the `from` line: {text}"
        );
        assert_eq!(stored(), 0, "check --connect stores nothing ({fields})");
    }
    // an optional field without a column and an integer column read as a
    // string pass the preflight, and read as the decoder reads them
    p.file(
        "main.aq",
        project("id: int, name: string?, qty: string?, note: string?"),
    );
    let check = p.check_connect(&env);
    assert_eq!(check.code, 0, "{}", check.unwrapped());
    let mut running = p.spawn_with_env(&[], &env);
    wait_started(&p, &mut running);
    mysql(&url, &format!("INSERT INTO {} VALUES (1, 'a', 7)", f.src));
    cdc::assert_loose_row(&p, &mut running);
}

/// A MariaDB server of the test's own (its own data directory, socket and
/// port) started with `--skip-log-bin`: a server without what `changes`
/// needs. `None` after printing `SKIP: …` when MariaDB's server binaries
/// are not installed (a failure under `AQUEDUCT_REQUIRE_SERVICES=1`).
fn private_mariadb_without_binlog(test: &str) -> Option<aqueduct_test_support::Daemon> {
    const SERVER: &str = "/usr/sbin/mariadbd";
    const INSTALL: &str = "/usr/bin/mariadb-install-db";
    if !std::path::Path::new(SERVER).exists() || !std::path::Path::new(INSTALL).exists() {
        assert!(
            std::env::var("AQUEDUCT_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "AQUEDUCT_REQUIRE_SERVICES=1 but {SERVER} or {INSTALL} is not installed (needed by {test})"
        );
        println!("SKIP: {test} (no {SERVER} and {INSTALL})");
        return None;
    }
    // whoever runs the tests owns the data directory and runs the server
    // (`--user` matters only to root, which mariadbd otherwise refuses)
    let user = std::env::var("USER").unwrap_or_else(|_| "root".to_string());
    let user_arg = format!("--user={user}");
    let daemon = aqueduct_test_support::Daemon::start_with(
        &[SERVER],
        &[
            "--no-defaults",
            "--datadir={dir}/data",
            "--socket={dir}/mysqld.sock",
            "--pid-file={dir}/mysqld.pid",
            "--port={port}",
            "--bind-address=127.0.0.1",
            "--skip-log-bin",
            "--skip-grant-tables",
            "--innodb-buffer-pool-size=16M",
            user_arg.as_str(),
        ],
        |_, dir| {
            let out = std::process::Command::new(INSTALL)
                .arg("--no-defaults")
                .arg(format!("--datadir={}", dir.join("data").display()))
                .arg(&user_arg)
                .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "mariadb-install-db failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        },
    )
    .expect("a private MariaDB starts");
    Some(daemon)
}

/// A server without the binary log stops `run` before any record moves,
/// naming the settings it found at the `from` line, and is an AQ0410 of
/// `check --connect` there; no position is stored. A MariaDB of the
/// test's own, not the shared one (which has the binary log on).
#[test]
fn a_server_without_the_binary_log_stops_run_and_check_connect_naming_the_settings() {
    let test = "a_server_without_the_binary_log_stops_run_and_check_connect_naming_the_settings";
    let Some(server) = private_mariadb_without_binlog(test) else {
        return;
    };
    let url = format!("mysql://root@127.0.0.1:{}/mysql", server.port());
    let p = Project::new();
    p.file(
        "main.aq",
        r#"system my: mysql { url = secret("MY_URL") }

type Change { id: int, name: string?, _op: string }

flow mirror {
  mode async
  from my.changes("items", server_id: 4646) as Change
  to file("out").append("changes.jsonl")
}
"#,
    );
    let env = [("MY_URL", url.as_str())];
    let message = "`my.changes`: mysql `my`: `changes` needs log_bin = ON, binlog_format = ROW and binlog_row_image = FULL; the server has log_bin = 0, binlog_format = MIXED, binlog_row_image = FULL";
    let r = p.run_with_env(&[], &env);
    assert_eq!(r.code, 3, "run refuses to start: {}", r.stderr);
    assert!(
        r.unwrapped()
            .contains(&format!("main.aq:7: flow `mirror`: {message}")),
        "the diagnostic names the `from` line and the settings: {}",
        r.stderr
    );
    assert!(!p.path("out").exists(), "no record moved");
    assert_eq!(
        support::sqlite_count(
            &p.path(".aqueduct/state.db"),
            "select count(*) from aqueduct_state where key like 'mysql:%'"
        )
        .unwrap_or(0),
        0,
        "the refused run stored no binlog position"
    );
    let check = p.check_connect(&env);
    let text = check.unwrapped();
    assert_eq!(check.code, 1, "{text}");
    assert!(text.contains("AQ0410") && text.contains(message), "{text}");
    assert!(
        text.contains("main.aq:7"),
        "points at the `from` line: {text}"
    );
}

/// The mirror flow of the cut test: the binlog through one proxy
/// (`MY_URL`), the PostgreSQL targets through another (`PG_URL`), and a
/// retry policy for the targets' writes that a cut interrupts.
fn cut_project(f: &Fixture) -> Project {
    let p = Project::new();
    // A replica id no other test here uses: two replicas with one id
    // connected at once make the server drop one of them, over and over
    // (seen when this test and the key test ran side by side, both 4343).
    p.file(
        "main.aq",
        format!(
            r#"
system my: mysql {{ url = secret("MY_URL") }}
system pg: postgres {{ url = secret("PG_URL"), pool_size = 3 }}

type Change {{ id: int, name: string?, qty: int?, _op: string }}
type Item {{ id: int, name: string?, qty: int? }}

flow mirror {{
  mode async
  from my.changes("{src}", server_id: 4545) as Change
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
        ),
    );
    p
}

#[test]
fn binlog_under_load_connections_cut_three_times_recover_without_a_restart_and_nothing_is_lost_or_read_twice()
 {
    const TEST: &str = "binlog_under_load_connections_cut_three_times_recover_without_a_restart_and_nothing_is_lost_or_read_twice";
    let Some(url) = mysql_url(TEST) else {
        return;
    };
    let Some(pg) = service_url("AQUEDUCT_TEST_POSTGRES_URL", TEST) else {
        return;
    };
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    eprintln!("seed {seed}");
    let f = Fixture::new(&url, "mycdccut", ITEM, Some(&pg));
    let source = FaultProxy::start(&cdc::upstream(&url, 3306));
    let target = FaultProxy::start(&cdc::upstream(&pg, 5432));
    // the target commits without waiting for the disk (the server is not
    // the one failing here), which keeps 10k changes within the test's time
    let fast_pg = format!(
        "{}?options=-c%20synchronous_commit%3Doff",
        cdc::through(&pg, &target)
    );
    // without `prefer_socket=false` the client would switch to the
    // server's Unix socket (same host), past the proxy
    let my = cdc::through(&url, &source);
    let my = format!(
        "{my}{}prefer_socket=false",
        if my.contains('?') { '&' } else { '?' }
    );
    let env = [("MY_URL", my.as_str()), ("PG_URL", fast_pg.as_str())];
    let p = cut_project(&f);
    let mut running = p.spawn_with_env(&[], &env);
    wait_started(&p, &mut running);
    let workload = cdc::workload(&f.src, seed, "START TRANSACTION");
    let fingerprint = || {
        psql(
            &pg,
            &format!(
                "SELECT count(*) || ':' || coalesce(sum(qty), 0) || ':' || coalesce(sum(length(name)), 0) FROM {}",
                f.dst
            ),
        )
    };
    // a separate client writes the workload in four parts; every
    // connection of the flow is cut while each of the first three is written
    let (args, password) = client_args(&url);
    let cuts = cdc::write_and_cut(
        &workload.parts(4),
        &source,
        &[&source, &target],
        seed,
        |k, part| {
            let file = format!("part{k}.sql");
            p.file(&file, part);
            std::process::Command::new("mysql")
                .args(&args)
                .env("MYSQL_PWD", &password)
                .stdin(std::fs::File::open(p.path(&file)).expect("the part"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("runs mysql")
        },
        fingerprint,
        &running,
    );
    assert_eq!(cuts, 3);
    assert!(
        wait_until(Duration::from_secs(40), || f.differences() == 0),
        "the target equals the source (seed {seed}): {} differences, {} and {} rows\n{}",
        f.differences(),
        f.count(&f.src),
        f.count(&f.dst),
        running.stderr()
    );
    assert!(running.is_running(), "the same process recovered");
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // every cut broke the binlog stream, which was read again from the
    // last transaction end
    let retries = r
        .stderr
        .matches("Reading the binary log failed; retrying.")
        .count();
    assert!(retries >= cuts, "{retries} retries\n{}", r.stderr);
    assert!(
        source.accepted() > cuts,
        "the source reconnected after every cut"
    );
    // each change was read once: what a resumed stream reads again of a
    // transaction already partly emitted is skipped
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
