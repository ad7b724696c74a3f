//! Crash safety through `aqueduct run`: a batch run killed with SIGKILL
//! mid-way and run again ends with every row in the SQLite table exactly
//! once and none lost, having resumed after its last checkpoint; the same
//! into a PostgreSQL and a MariaDB `upsert` killed at a seeded random
//! moment while chunks commit (needs `AQUEDUCT_TEST_POSTGRES_URL`,
//! `AQUEDUCT_TEST_MYSQL_URL` and the `psql`/`mysql` clients; each prints
//! `SKIP: …` without its URL unless `AQUEDUCT_REQUIRE_SERVICES=1`); a chunk
//! reaches SQLite in one transaction; a killed and resumed `file.write`
//! keeps what the first run committed; the fused batch path (`file.read`
//! jsonl through `where`/`map` into `file.append` or `file.write`, no
//! rate limit) killed mid-file and run again ends with the uninterrupted
//! run's output, at most with the records after its last checkpoint
//! written twice; a fire-and-forget endpoint that answered 202 has the
//! record in its target file after SIGTERM.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::kill::Kill;
use support::mysql::mysql;
use support::postgres::psql;
use support::{Project, big_csv, sqlite_count, try_http, wait_until};

/// Reads the first column of the first row a SQL query answers.
type CountQuery = Box<dyn Fn(&str) -> Option<i64>>;

/// The table a killed load writes to: the project's `system` lines and
/// `to` clause, the environment of the runs, and the one number a query
/// on the table answers.
struct Target {
    systems: String,
    to: String,
    env: Vec<(&'static str, String)>,
    table: String,
    /// The first column of the first row of `sql`; None while unreadable.
    count: CountQuery,
    /// The condition a row with the source's values meets.
    exact: &'static str,
    /// Each chunk of 1000 is one transaction (a reader sees whole chunks).
    whole_chunks: bool,
}

impl Target {
    fn sqlite(p: &Project) -> Target {
        let path = p.path("out/rows.db");
        Target {
            systems: String::new(),
            to: r#"sqlite("out/rows.db").upsert("rows", key: [id])"#.into(),
            env: Vec::new(),
            table: "rows".into(),
            count: Box::new(move |sql| sqlite_count(&path, sql)),
            exact: "name = 'name-' || id and amount = id || '.' || printf('%02d', id % 100)",
            // without a `batch` step each record is its own transaction
            whole_chunks: false,
        }
    }

    /// A new table on the PostgreSQL server of `url`.
    fn postgres(url: &str) -> Target {
        let table = unique_name("pg_crash");
        psql(
            url,
            &format!(
                "CREATE TABLE {table} (id integer PRIMARY KEY, name text NOT NULL, amount numeric(14,2) NOT NULL)"
            ),
        );
        let url = url.to_string();
        Target {
            systems: r#"system pg: postgres { url = secret("PG_URL") }"#.into(),
            to: format!(r#"pg.upsert("{table}", key: [id])"#),
            env: vec![("PG_URL", url.clone())],
            table,
            count: Box::new(move |sql| psql(&url, sql).parse().ok()),
            exact: "name = 'name-' || id and amount = id + (id % 100) / 100.0",
            whole_chunks: true,
        }
    }

    /// A new table on the MariaDB server of `url`.
    fn mysql(url: &str) -> Target {
        let table = unique_name("my_crash");
        mysql(
            url,
            &format!(
                "CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, amount DECIMAL(14,2) NOT NULL)"
            ),
        );
        let url = url.to_string();
        Target {
            systems: r#"system my: mysql { url = secret("MY_URL") }"#.into(),
            to: format!(r#"my.upsert("{table}", key: [id])"#),
            env: vec![("MY_URL", url.clone())],
            table,
            count: Box::new(move |sql| mysql(&url, sql).parse().ok()),
            exact: "name = CONCAT('name-', id) AND amount = id + (id % 100) / 100",
            whole_chunks: true,
        }
    }

    fn drop_table(&self) {
        let _ = (self.count)(&format!("drop table {}", self.table));
    }

    fn count(&self, what: &str) -> Option<i64> {
        (self.count)(&format!("select {what} from {}", self.table))
    }
}

/// Kills a batch load of `rows` rows into `target` at `kill`, then runs it
/// again to the end, and checks every row is there once, with its values.
/// `policies` should hold a `rate_limit` so the run lasts long enough to
/// be killed mid-way however fast the runtime gets.
fn killed_and_resumed(
    p: &Project,
    target: &Target,
    rows: usize,
    kill: Kill,
    steps: &str,
    policies: &str,
) {
    p.file("in/rows.csv", big_csv(rows)).file(
        "main.aq",
        format!(
            r#"
{systems}
type Row {{ id: int, name: string, amount: decimal }}

flow load {{
  mode batch chunk 1000
  from file("in").read("rows.csv", format: csv) as Row
  {steps}
  to {to}
  {policies}
}}
"#,
            systems = target.systems,
            to = target.to,
        ),
    );
    let env: Vec<(&str, &str)> = target.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rows_in = || target.count("count(*)").unwrap_or(0);
    let state = p.path(".aqueduct/state.db");
    let checkpointed = || {
        sqlite_count(
            &state,
            "select count(*) from aqueduct_state where key = 'file:load:rows.csv' and value like '%\"pos\"%'",
        )
        .unwrap_or(0)
            > 0
    };
    let mut running = p.spawn_with_env(&[], &env);
    let midway = wait_until(support::RUN_LIMIT, || {
        rows_in() >= kill.after && checkpointed()
    });
    assert!(
        midway,
        "no checkpoint after {} rows; stderr:\n{}",
        kill.after,
        running.stderr()
    );
    std::thread::sleep(kill.pause);
    running.signal("KILL");
    let status = running.wait_exit(Duration::from_secs(10)).expect("killed");
    assert!(status.code().is_none(), "killed by a signal: {status:?}");
    let at_kill = rows_in();
    eprintln!(
        "killed at {at_kill} of {rows} rows (aimed at {} rows, then {:?})",
        kill.after, kill.pause
    );
    assert!(
        (kill.after..rows as i64).contains(&at_kill),
        "the run was not killed mid-way: {at_kill} of {rows} rows"
    );
    if target.whole_chunks {
        assert_eq!(
            at_kill % 1000,
            0,
            "a chunk is committed whole or not at all"
        );
    }

    let r = p.run_with_env(&[], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary = r.summary("load");
    let read_again = r.received("load");
    assert!(
        read_again < rows as i64,
        "the second run resumed after the checkpoint instead of starting over: {summary}"
    );
    assert!(
        read_again >= rows as i64 - at_kill,
        "the second run read {read_again} rows, fewer than the {} missing: {summary}",
        rows as i64 - at_kill
    );
    assert_eq!(
        target.count("count(*)"),
        Some(rows as i64),
        "every row is there"
    );
    assert_eq!(
        target.count("count(distinct id)"),
        Some(rows as i64),
        "no row twice"
    );
    assert_eq!(
        (target.count)(&format!(
            "select count(*) from {} where {}",
            target.table, target.exact
        )),
        Some(rows as i64),
        "every row has its values"
    );
    assert_eq!(target.count("min(id)"), Some(0));
    assert_eq!(target.count("max(id)"), Some(rows as i64 - 1));
}

#[test]
fn batch_killed_with_sigkill_then_rerun_has_every_row_exactly_once() {
    let p = Project::new();
    killed_and_resumed(
        &p,
        &Target::sqlite(&p),
        50_000,
        Kill::at(10_000),
        "batch 1000",
        "rate_limit 10000 per 1s",
    );
}

#[test]
fn batch_without_a_batch_step_killed_with_sigkill_then_rerun_has_every_row_exactly_once() {
    // without `batch`, each record is its own SQLite transaction: slower, so fewer rows
    let p = Project::new();
    killed_and_resumed(
        &p,
        &Target::sqlite(&p),
        6_000,
        Kill::at(1_500),
        "",
        "rate_limit 1000 per 1s",
    );
}

#[test]
fn batch_into_postgres_killed_with_sigkill_at_a_random_moment_then_rerun_has_every_row_exactly_once()
 {
    let test = "batch_into_postgres_killed_with_sigkill_at_a_random_moment_then_rerun_has_every_row_exactly_once";
    let Some(url) = service_url("AQUEDUCT_TEST_POSTGRES_URL", test) else {
        return;
    };
    let p = Project::new();
    let target = Target::postgres(&url);
    killed_and_resumed(
        &p,
        &target,
        50_000,
        Kill::random(50_000, test),
        "",
        "rate_limit 10000 per 1s",
    );
    target.drop_table();
}

#[test]
fn batch_into_mysql_killed_with_sigkill_at_a_random_moment_then_rerun_has_every_row_exactly_once() {
    let test = "batch_into_mysql_killed_with_sigkill_at_a_random_moment_then_rerun_has_every_row_exactly_once";
    let Some(url) = service_url("AQUEDUCT_TEST_MYSQL_URL", test) else {
        return;
    };
    let p = Project::new();
    let target = Target::mysql(&url);
    killed_and_resumed(
        &p,
        &target,
        50_000,
        Kill::random(50_000, test),
        "",
        "rate_limit 10000 per 1s",
    );
    target.drop_table();
}

#[test]
fn a_batch_chunk_reaches_sqlite_in_one_transaction() {
    // language.md, batch mode: "each chunk is written to the targets (in one
    // transaction where they support it) and then checkpointed". A reader
    // polling the table during the run must then only see whole chunks.
    let p = Project::new();
    p.file("in/rows.csv", big_csv(5_000)).file(
        "main.aq",
        r#"
type Row { id: int, name: string, amount: decimal }

flow load {
  mode batch chunk 1000
  from file("in").read("rows.csv", format: csv) as Row
  to sqlite("out/rows.db").upsert("rows", key: [id])
}
"#,
    );
    let table = p.path("out/rows.db");
    let mut running = p.spawn(&[]);
    let mut seen = Vec::new();
    let ended = wait_until(support::RUN_LIMIT, || {
        if let Some(n) = sqlite_count(&table, "select count(*) from rows") {
            seen.push(n);
        }
        !running.is_running()
    });
    assert!(ended, "the run did not end");
    let partial: Vec<i64> = seen.iter().copied().filter(|n| n % 1000 != 0).collect();
    assert!(
        partial.is_empty(),
        "a reader saw part of a chunk: {:?}…",
        &partial[..partial.len().min(5)]
    );
}

#[test]
fn batch_write_killed_with_sigkill_then_resumed_keeps_what_the_first_run_committed() {
    // connectors.md, file: `write` starts its file afresh on each run, but a
    // run resuming an interrupted one goes on from what it committed: the
    // killed run's records are not lost.
    let rows = 20_000usize;
    let p = Project::new();
    p.file("in/a.csv", big_csv(rows)).file(
        "main.aq",
        r#"
type Row { id: int, name: string, amount: decimal }

flow load {
  mode batch chunk 1000
  from file("in").read("*.csv", format: csv) as Row
  to file("out").write("rows.jsonl")
  rate_limit 10000 per 1s
}
"#,
    );
    let state = p.path(".aqueduct/state.db");
    let checkpointed = || {
        sqlite_count(
            &state,
            "select count(*) from aqueduct_state where key = 'file:load:*.csv' and value like '%\"pos\"%'",
        )
        .unwrap_or(0)
            > 0
    };
    // A batch `write` builds its file in `.rows.jsonl.aq-tmp` and stores
    // the committed length at each chunk; the file is replaced at the end.
    let committed_len = || {
        sqlite_count(
            &state,
            "select coalesce((select j.value from json_each(json_extract(s.value, '$.lens')) as j \
             limit 1), 0) from aqueduct_state as s where s.key like 'file-write:load:%'",
        )
        .unwrap_or(0) as usize
    };
    let lines = |p: &Project| {
        let temp = std::fs::read(p.path("out/.rows.jsonl.aq-tmp")).unwrap_or_default();
        let len = committed_len().min(temp.len());
        temp[..len].iter().filter(|b| **b == b'\n').count()
    };
    let mut running = p.spawn(&[]);
    let midway = wait_until(support::RUN_LIMIT, || lines(&p) >= 4_000 && checkpointed());
    assert!(
        !p.path("out/rows.jsonl").exists(),
        "readers see no document before the run is complete"
    );
    assert!(
        midway,
        "no checkpoint after 4000 rows; stderr:\n{}",
        running.stderr()
    );
    running.signal("KILL");
    let status = running.wait_exit(Duration::from_secs(10)).expect("killed");
    assert!(status.code().is_none(), "killed by a signal: {status:?}");
    let at_kill = lines(&p);
    assert!(
        at_kill < rows,
        "the run was not killed mid-way: {at_kill} of {rows} rows"
    );

    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary = r.summary("load");
    let read_again = r.received("load") as usize;
    assert!(
        read_again < rows,
        "the second run resumed after the checkpoint: {summary}"
    );
    let ids: Vec<i64> = p
        .jsonl("out/rows.jsonl")
        .iter()
        .map(|v| v["id"].as_i64().expect("id"))
        .collect();
    // Nothing the first run committed is lost, and every row is there. The
    // rows committed after the source's last checkpoint are read and written
    // again (at-least-once, as for every target): they appear twice, right
    // where the second run took over, and only they do.
    let twice = ids.len() - rows;
    assert_eq!(
        read_again,
        rows - at_kill + twice,
        "the second run read again exactly the rows after the checkpoint"
    );
    assert_eq!(
        &ids[..at_kill],
        (0..at_kill as i64).collect::<Vec<_>>(),
        "the first run's rows are kept"
    );
    assert_eq!(
        &ids[at_kill..],
        ((at_kill - twice) as i64..rows as i64).collect::<Vec<_>>(),
        "the second run went on from the checkpoint ({twice} rows after it written twice)"
    );
    assert!(twice < at_kill, "{twice} rows twice of {at_kill}");

    // a complete run is over: the next run starts the file afresh
    let more: String = (0..3)
        .map(|i| format!("{},more-{i},1.00\n", 100_000 + i))
        .collect();
    p.file("in/b.csv", format!("id,name,amount\n{more}"));
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ids: Vec<i64> = p
        .jsonl("out/rows.jsonl")
        .iter()
        .map(|v| v["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![100_000, 100_001, 100_002]);
}

/// `n` JSON lines of `Row`, ~70 bytes each.
fn big_jsonl(n: usize) -> String {
    let mut text = String::with_capacity(n * 72);
    for i in 0..n {
        text.push_str(&format!(
            "{{\"id\":{i},\"name\":\"name-{i}\",\"amount\":{}.{:02},\"country\":\"{}\"}}\n",
            i % 1000,
            i % 100,
            ["de", "fr", "xx", "us"][i % 4]
        ));
    }
    text
}

/// A flow the fused path takes whole: `where` and `map` over scalar
/// fields, from `file.read` jsonl to `to` (no rate limit: that would send
/// it the general way). A small chunk makes the run long enough to be
/// killed mid-file: every chunk is synced and checkpointed.
fn fused_flow(to: &str) -> String {
    format!(
        r#"
type Row {{ id: int, name: string, amount: float, country: string }}
type Out {{ id: int, name: string, amount: float, country: string, big: bool }}

flow load {{
  mode batch chunk 50
  from file("in").read("*.jsonl", format: jsonl) as Row
  where .country != "xx"
  map Out {{
    ...
    name = upper(.name)
    big = .amount * 2.0 > 1000.0
  }}
  to {to}
}}
"#
    )
}

/// Runs the fused flow into `to` (writing `output`) once uninterrupted,
/// and once killed with SIGKILL after a checkpoint mid-file then run
/// again; the second run's final output must be the first's, byte for
/// byte, but for records after the killed run's last checkpoint that
/// reached the file before the kill: those are written again by the rerun
/// (at-least-once, as on the general path), so they may appear twice,
/// in one block right where the rerun took over. Nothing is lost,
/// reordered or cut.
fn fused_killed_and_resumed(to: &str, output: &str) {
    let rows = 60_000;
    let input = big_jsonl(rows);
    let aq = fused_flow(to);

    let whole = Project::new();
    whole.file("in/a.jsonl", &input).file("main.aq", &aq);
    let r = whole.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("fused batch path"),
        "the flow runs on the fused path:\n{}",
        r.stderr
    );
    let expected = std::fs::read(whole.path(output)).expect("the uninterrupted output");

    let p = Project::new();
    p.file("in/a.jsonl", &input).file("main.aq", &aq);
    let state = p.path(".aqueduct/state.db");
    let checkpointed = || {
        sqlite_count(
            &state,
            "select count(*) from aqueduct_state where key = 'file:load:*.jsonl' \
             and cast(json_extract(value, '$.current.pos') as integer) > 100000",
        )
        .unwrap_or(0)
            > 0
    };
    let mut running = p.spawn(&[]);
    let midway = wait_until(support::RUN_LIMIT, || {
        checkpointed() || !running.is_running()
    });
    assert!(midway, "no checkpoint; stderr:\n{}", running.stderr());
    running.signal("KILL");
    let status = running.wait_exit(Duration::from_secs(10)).expect("killed");
    assert!(
        status.code().is_none(),
        "killed by a signal mid-file, not ended: {status:?}; stderr:\n{}",
        running.stderr()
    );
    assert!(
        running.stderr().contains("fused batch path"),
        "the killed run was on the fused path:\n{}",
        running.stderr()
    );

    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary = r.summary("load");
    let read_again = r.received("load") as usize;
    assert!(
        read_again < rows,
        "the rerun resumed after the checkpoint instead of starting over: {summary}"
    );
    let got = std::fs::read(p.path(output)).expect("the resumed output");
    let expected: Vec<&[u8]> = expected.split_inclusive(|b| *b == b'\n').collect();
    let got: Vec<&[u8]> = got.split_inclusive(|b| *b == b'\n').collect();
    // the first line that differs is where the rerun took over; from there
    // on the output must be the uninterrupted run's tail
    let at = expected
        .iter()
        .zip(&got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    let twice = got.len().checked_sub(expected.len()).unwrap_or_else(|| {
        panic!(
            "records lost: {} lines instead of {}",
            got.len(),
            expected.len()
        )
    });
    assert!(
        twice <= at,
        "{twice} lines twice but the outputs part at line {at}"
    );
    assert!(
        got[at..] == expected[at - twice..],
        "after line {at} the resumed output is not the uninterrupted run's \
         ({twice} lines written twice)"
    );
}

#[test]
fn fused_append_killed_with_sigkill_then_rerun_ends_with_the_uninterrupted_output() {
    fused_killed_and_resumed(r#"file("out").append("rows.jsonl")"#, "out/rows.jsonl");
}

#[test]
fn fused_write_killed_with_sigkill_then_rerun_ends_with_the_uninterrupted_output() {
    fused_killed_and_resumed(r#"file("out").write("rows.jsonl")"#, "out/rows.jsonl");
}

#[test]
fn async_endpoint_records_answered_202_are_in_the_target_after_sigterm() {
    let port = support::free_port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system api: endpoint {{ listen = "127.0.0.1:{port}" }}
type Event {{ id: int }}

flow track {{
  mode async
  from api.post("/events") as Event
  to file("out").append("events.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}
"#
        ),
    );
    let mut running = p.spawn(&[]);
    running.wait_serving(port, "/events");
    let accepted = Arc::new(Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let accepted = accepted.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for i in 0..2_000i64 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let id = t * 100_000 + i;
                    match try_http(port, "POST", "/events", &format!("{{\"id\":{id}}}"), &[]) {
                        Ok(r) if r.status == 202 => accepted.lock().expect("lock").push(id),
                        // shutting down: refused, reset, or 503 — not accepted
                        _ => {}
                    }
                }
            })
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(20), || accepted
            .lock()
            .expect("lock")
            .len()
            >= 40),
        "requests were not accepted; stderr:\n{}",
        running.stderr()
    );
    let out = running.terminate(Duration::from_secs(20));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client thread");
    }
    assert_eq!(out.code, 0, "{}", out.stderr);
    let written: std::collections::HashSet<i64> = p
        .jsonl("out/events.jsonl")
        .iter()
        .map(|v| v["id"].as_i64().expect("id"))
        .collect();
    let accepted = accepted.lock().expect("lock").clone();
    let lost: Vec<i64> = accepted
        .iter()
        .copied()
        .filter(|id| !written.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} records answered 202 are not in the file: {:?}",
        lost.len(),
        accepted.len(),
        &lost[..lost.len().min(10)]
    );
    assert_eq!(p.read("out/dead.jsonl"), "");
}

/// A run killed inside a write leaves the appended file cut mid-record
/// (SIGKILL stops a write of several pages between two of them). The next
/// run must not glue its first record onto the fragment: the fragment goes
/// to `.NAME.aq-torn` and records follow the last whole line, on the fused
/// path and the general one alike.
#[test]
fn append_after_a_cut_record_moves_the_fragment_aside_and_appends_whole_lines() {
    for fused in ["on", "off"] {
        let p = Project::new();
        p.file("in/a.jsonl", big_jsonl(3))
            .file("main.aq", fused_flow(r#"file("out").append("rows.jsonl")"#))
            .file("out/rows.jsonl", "{\"id\":-1}\n{\"id\":-2,\"na");
        let r = p.run_with_env(&[], &[("AQUEDUCT_FUSED", fused)]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(
            r.stderr.contains("fused batch path"),
            fused == "on",
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("ended in a cut record"),
            "fused {fused}: the repair is told:\n{}",
            r.stderr
        );
        let out = p.read("out/rows.jsonl");
        assert!(out.ends_with('\n'), "fused {fused}: {out}");
        let ids: Vec<i64> = out
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("fused {fused}: a cut line {l:?}: {e}"));
                v["id"].as_i64().expect("an id")
            })
            .collect();
        // id 2 has country "xx": the flow drops it
        assert_eq!(ids, [-1, 0, 1], "fused {fused}");
        assert_eq!(
            p.read("out/.rows.jsonl.aq-torn"),
            "{\"id\":-2,\"na\n",
            "fused {fused}: the fragment is kept"
        );
    }
}

/// A whole jsonl record that only lacks its newline (another writer left
/// it so) is kept in place and ended with one.
#[test]
fn append_after_a_whole_record_without_its_newline_ends_that_line() {
    let p = Project::new();
    p.file("in/a.jsonl", big_jsonl(1))
        .file("main.aq", fused_flow(r#"file("out").append("rows.jsonl")"#))
        .file("out/rows.jsonl", "{\"id\":-1}");
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("had no newline"), "{}", r.stderr);
    let out = p.read("out/rows.jsonl");
    assert!(out.starts_with("{\"id\":-1}\n{\"id\":0,"), "{out}");
    assert!(!p.path("out/.rows.jsonl.aq-torn").exists());
}
