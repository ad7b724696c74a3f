//! `postgres.query` and `mysql.query` stream their result: a batch flow
//! reading a table about three times the memory bound (200,000 rows of
//! 1.5 KiB) into a file keeps the `aqueduct run` process's peak resident
//! memory (`VmHWM`, sampled while it runs) under 100 MiB, and writes every
//! row once. A source that held the whole result in memory would pass
//! 300 MiB here.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL` and `AQUEDUCT_TEST_MYSQL_URL` (and the
//! `psql` and `mysql` clients); without them each test prints `SKIP: …` and
//! passes, unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use std::time::{Duration, Instant};
use support::mysql::mysql;
use support::postgres::{self, psql};
use support::{Project, Running};

/// Rows in the table.
const ROWS: u64 = 200_000;
/// Bytes of padding per row: about 300 MiB of rows in all.
const PAD: usize = 1536;
/// The bound on the process's peak resident memory.
const PEAK_LIMIT_KIB: u64 = 100 * 1024;
/// Guards against hangs (a debug build on a loaded machine), not timings.
const RUN_LIMIT: Duration = Duration::from_secs(600);

fn peak_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn project(system: &str, query: &str) -> Project {
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            "{system}\ntype Row {{ id: int, pad: string }}\n\nflow dump {{\n  mode batch\n  from db.query(\"{query}\") as Row\n  to file(\"out\").append(\"rows.jsonl\")\n}}\n"
        ),
    );
    p
}

/// Runs the project to its end, sampling the peak memory until it exits;
/// checks the exit, the row count and the peak.
fn run_within_the_bound(p: &Project, env: (&str, &str)) {
    let mut running: Running = p.spawn_with_env(&[], &[env]);
    let pid = running.pid();
    let started = Instant::now();
    let mut peak = 0;
    // VmHWM only grows: the last reading before the exit is the peak of
    // the run (less what a last moment could add, which no reading sees)
    while running.is_running() {
        assert!(
            started.elapsed() < RUN_LIMIT,
            "the run did not end; stderr:\n{}",
            running.stderr()
        );
        if let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = running.wait_exit(Duration::from_secs(5));
    let stderr = running.stderr();
    assert!(
        status.is_some_and(|s| s.success()),
        "the run ended with {status:?}; stderr:\n{stderr}"
    );
    let out = std::fs::read(p.path("out/rows.jsonl")).expect("the output file");
    let lines = out.iter().filter(|b| **b == b'\n').count() as u64;
    assert_eq!(lines, ROWS, "rows written; stderr:\n{stderr}");
    assert!(
        out.len() as u64 > 2 * PEAK_LIMIT_KIB * 1024,
        "the result ({} bytes) is larger than twice the bound",
        out.len()
    );
    assert!(
        peak > 0 && peak <= PEAK_LIMIT_KIB,
        "peak resident memory {:.1} MiB (limit {} MiB) reading {} MiB of rows",
        peak as f64 / 1024.0,
        PEAK_LIMIT_KIB / 1024,
        out.len() / (1024 * 1024)
    );
    eprintln!(
        "peak {:.1} MiB for {} MiB of rows",
        peak as f64 / 1024.0,
        out.len() / (1024 * 1024)
    );
}

#[test]
fn a_postgres_query_larger_than_memory_streams_within_the_bound() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "a_postgres_query_larger_than_memory_streams_within_the_bound",
    ) else {
        return;
    };
    let table = unique_name("pg_big");
    postgres::padded_rows(&url, &table, ROWS, PAD);
    let p = project(
        "system db: postgres { url = secret(\"DB_URL\") }",
        &format!("select id, pad from {table} order by id"),
    );
    run_within_the_bound(&p, ("DB_URL", &url));
    psql(&url, &format!("DROP TABLE {table}"));
}

#[test]
fn a_mysql_query_larger_than_memory_streams_within_the_bound() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_MYSQL_URL",
        "a_mysql_query_larger_than_memory_streams_within_the_bound",
    ) else {
        return;
    };
    let table = unique_name("my_big");
    support::mysql::padded_rows(&url, &table, ROWS, PAD);
    let p = project(
        "system db: mysql { url = secret(\"DB_URL\") }",
        &format!("select id, pad from {table} order by id"),
    );
    run_within_the_bound(&p, ("DB_URL", &url));
    mysql(&url, &format!("DROP TABLE {table}"));
}
