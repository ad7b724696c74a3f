//! A `postgres.query` or `mysql.query` stream whose connection is cut in
//! the middle of the result. Without `key`: the run fails (exit code 1,
//! the summary names the failed source and its system) instead of
//! ending as if the result were complete; the rows it wrote are a prefix of
//! the result, each once; and the next run (the source keeps no position,
//! so it reads everything again) writes the whole result. With `key: [id]`:
//! two cuts in one run are each logged and resumed after the last row read,
//! the run exits 0 with every row exactly once in a plain `file.append`,
//! and, the run being complete, the next run reads everything again.
//!
//! The cut comes from a loopback proxy between aqueduct and the real
//! server (`FaultProxy`), once the output holds a few thousand rows; with
//! `key`, the proxy refuses connections until the source has logged the
//! failure, so the retry path runs whatever the source was doing.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL` and `AQUEDUCT_TEST_MYSQL_URL` (and the
//! `psql` and `mysql` clients); without them each test prints `SKIP: …` and
//! passes, unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{FaultProxy, service_url, unique_name};
use std::time::Duration;
use support::cdc;
use support::mysql::mysql;
use support::postgres::{self, psql};
use support::{Project, wait_until};

/// Rows in the table: enough that the stream is still running when the
/// output first holds [`CUT_AT`] rows.
const ROWS: u64 = 200_000;
/// Rows written before the cut.
const CUT_AT: usize = 3_000;

fn project(system: &str, table: &str) -> Project {
    project_with(system, table, "")
}

/// The dump flow; `args` follow the query's SQL (`, key: [id]`).
fn project_with(system: &str, table: &str, args: &str) -> Project {
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            "{system}\ntype Row {{ id: int, pad: string }}\n\nflow dump {{\n  mode batch\n  from db.query(\"select id, pad from {table} order by id\"{args}) as Row\n  to file(\"out\").append(\"rows.jsonl\")\n}}\n"
        ),
    );
    p
}

/// The ids in the output, in order.
fn ids(p: &Project) -> Vec<u64> {
    p.jsonl("out/rows.jsonl")
        .iter()
        .filter_map(|v| v.get("id").and_then(serde_json::Value::as_u64))
        .collect()
}

fn lines(p: &Project) -> usize {
    std::fs::read(p.path("out/rows.jsonl"))
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

/// Runs `p` through a proxy to `url`, cuts it mid-stream, checks the
/// failure and the prefix, then runs it again directly.
fn cut_then_rerun(p: &Project, url: &str, default_port: u16, option: Option<&str>) {
    let proxy = FaultProxy::start(&cdc::upstream(url, default_port));
    let through = cdc::through_with(url, &proxy, option);
    let mut running = p.spawn_with_env(&[], &[("DB_URL", through.as_str())]);
    assert!(
        wait_until(Duration::from_secs(120), || lines(p) >= CUT_AT
            || !running.is_running()),
        "no rows arrived; stderr:\n{}",
        running.stderr()
    );
    assert!(
        running.is_running(),
        "the run ended before the cut: {} rows; stderr:\n{}",
        lines(p),
        running.stderr()
    );
    proxy.set_blocked(true);
    proxy.cut();
    let status = running.wait_exit(Duration::from_secs(120));
    let stderr = running.stderr();
    assert!(
        status.and_then(|s| s.code()) == Some(1),
        "a cut result must fail the run, not end it as complete: {status:?}; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("FAILED: the source failed") && stderr.contains("`db`"),
        "the run's summary names the failed source and its system; stderr:\n{stderr}"
    );
    let got = ids(p);
    assert!(
        (got.len() as u64) < ROWS,
        "the cut run wrote the whole result ({} rows)?",
        got.len()
    );
    assert!(
        got.iter().copied().eq(1..=got.len() as u64),
        "the rows written are the result's first ones, each once ({} rows)",
        got.len()
    );
    // the next run, without the proxy, reads the whole result again
    std::fs::remove_file(p.path("out/rows.jsonl")).expect("removes the output");
    let r = p.run_with_env(&[], &[("DB_URL", url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let again = ids(p);
    assert_eq!(again.len() as u64, ROWS, "rows after the rerun");
    assert!(
        again.iter().copied().eq(1..=ROWS),
        "every row once, in order"
    );
}

/// Runs `p` (a query with `key`) through a proxy to `url`, cuts it twice
/// mid-stream, and checks that the same run resumed after each cut and
/// wrote every row once; then that the next run reads it all again.
fn cut_twice_and_resumed(
    p: &Project,
    kind: &str,
    url: &str,
    default_port: u16,
    option: Option<&str>,
) {
    let proxy = FaultProxy::start(&cdc::upstream(url, default_port));
    let through = cdc::through_with(url, &proxy, option);
    let mut running = p.spawn_with_env(&[], &[("DB_URL", through.as_str())]);
    let resumed = format!("{kind} query failed; resuming after the last row read");
    let retries = |running: &support::Running| running.stderr().matches(&resumed).count();
    let mut next = CUT_AT;
    for cut in 1..=2 {
        assert!(
            wait_until(Duration::from_secs(120), || lines(p) >= next
                || !running.is_running()),
            "cut {cut}: no rows arrived; stderr:\n{}",
            running.stderr()
        );
        assert!(
            running.is_running(),
            "the run ended before cut {cut}: {} rows; stderr:\n{}",
            lines(p),
            running.stderr()
        );
        let logged = retries(&running);
        proxy.set_blocked(true);
        proxy.cut();
        assert!(
            wait_until(Duration::from_secs(60), || retries(&running) > logged),
            "cut {cut}: no failed read logged (running: {}); stderr:\n{}",
            running.is_running(),
            running.stderr()
        );
        proxy.set_blocked(false);
        next = lines(p) + CUT_AT;
    }
    let status = running.wait_exit(support::RUN_LIMIT);
    let stderr = running.stderr();
    assert!(
        status.and_then(|s| s.code()) == Some(0),
        "a resumed query completes the run: {status:?}; stderr:\n{stderr}"
    );
    assert!(
        support::summary_line(&stderr, "dump").starts_with(&format!("dump: {ROWS} in")),
        "every row read once: {}",
        support::summary_line(&stderr, "dump")
    );
    let got = ids(p);
    assert_eq!(got.len() as u64, ROWS, "rows in the file after two cuts");
    assert!(
        got.iter().copied().eq(1..=ROWS),
        "every row once, in order, across the cuts"
    );
    // the run was complete: the next one reads the whole result again
    std::fs::remove_file(p.path("out/rows.jsonl")).expect("removes the output");
    let r = p.run_with_env(&[], &[("DB_URL", url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        ids(p).iter().copied().eq(1..=ROWS),
        "the next run reads every row again"
    );
}

#[test]
fn a_postgres_query_with_a_key_cut_twice_resumes_in_the_same_run() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "a_postgres_query_with_a_key_cut_twice_resumes_in_the_same_run",
    ) else {
        return;
    };
    let table = unique_name("pg_cut_key");
    postgres::padded_rows(&url, &table, ROWS, 200);
    let p = project_with(
        "system db: postgres { url = secret(\"DB_URL\") }",
        &table,
        ", key: [id]",
    );
    cut_twice_and_resumed(&p, "postgres", &url, 5432, None);
    psql(&url, &format!("DROP TABLE {table}"));
}

#[test]
fn a_mysql_query_with_a_key_cut_twice_resumes_in_the_same_run() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_MYSQL_URL",
        "a_mysql_query_with_a_key_cut_twice_resumes_in_the_same_run",
    ) else {
        return;
    };
    let table = unique_name("my_cut_key");
    support::mysql::padded_rows(&url, &table, ROWS, 200);
    let p = project_with(
        "system db: mysql { url = secret(\"DB_URL\") }",
        &table,
        ", key: [id]",
    );
    cut_twice_and_resumed(&p, "mysql", &url, 3306, Some("prefer_socket=false"));
    mysql(&url, &format!("DROP TABLE {table}"));
}

#[test]
fn a_postgres_query_cut_mid_stream_fails_the_run_and_the_rerun_reads_it_all() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "a_postgres_query_cut_mid_stream_fails_the_run_and_the_rerun_reads_it_all",
    ) else {
        return;
    };
    let table = unique_name("pg_cut");
    postgres::padded_rows(&url, &table, ROWS, 200);
    let p = project("system db: postgres { url = secret(\"DB_URL\") }", &table);
    cut_then_rerun(&p, &url, 5432, None);
    psql(&url, &format!("DROP TABLE {table}"));
}

#[test]
fn a_mysql_query_cut_mid_stream_fails_the_run_and_the_rerun_reads_it_all() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_MYSQL_URL",
        "a_mysql_query_cut_mid_stream_fails_the_run_and_the_rerun_reads_it_all",
    ) else {
        return;
    };
    let table = unique_name("my_cut");
    support::mysql::padded_rows(&url, &table, ROWS, 200);
    let p = project("system db: mysql { url = secret(\"DB_URL\") }", &table);
    // without it the client moves to the server's Unix socket (same
    // host), past the proxy
    cut_then_rerun(&p, &url, 3306, Some("prefer_socket=false"));
    mysql(&url, &format!("DROP TABLE {table}"));
}
