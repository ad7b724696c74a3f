//! A `postgres.poll` or `mysql.poll` flow whose connections are cut while
//! it follows a table that a separate client keeps inserting into: the
//! source logs the failed poll, retries at the next interval and, once the
//! server can be reached again, goes on after its watermark in the same
//! process. Every row ends up exactly once in the `upsert` target (equal
//! to the source table) and at least once in the JSONL file, the
//! guarantee docs/connectors.md gives `poll`.
//!
//! The cuts come from a loopback proxy between the flow's source and the
//! real server (`FaultProxy`); the target and the writing client reach the
//! server directly. Each cut also refuses new connections until the source
//! has logged a failed poll, so every cut is seen by the retry path and
//! not only by a pool quietly reopening a connection between two polls.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL` and `AQUEDUCT_TEST_MYSQL_URL` (and the
//! `psql` and `mysql` clients); without them each test prints `SKIP: …` and
//! passes, unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{FaultProxy, service_url, unique_name};
use std::collections::BTreeSet;
use std::time::Duration;
use support::cdc;
use support::mysql::mysql;
use support::postgres::psql;
use support::{Project, wait_converged, wait_until};

/// Parts the client writes one after the other; the connections are cut
/// while each part but the last is written.
const PARTS: u64 = 3;
/// Transactions per part, each of [`ROWS_PER_TX`] rows, a pause of 50 ms
/// after each: a part takes 1.5 s or more, so rows keep arriving across a cut.
const TXS_PER_PART: u64 = 30;
const ROWS_PER_TX: u64 = 10;
const TOTAL: u64 = PARTS * TXS_PER_PART * ROWS_PER_TX;

/// What differs between the two servers.
struct Server {
    /// The system kind, as the project and the poll's log line name it.
    kind: &'static str,
    /// The start of the test's table names.
    prefix: &'static str,
    /// The test server's URL.
    url: String,
    default_port: u16,
    /// A parameter the flow's URL through the proxy needs.
    option: Option<&'static str>,
    /// The columns of the source and target tables.
    columns: &'static str,
    /// The poll's condition on `:watermark`.
    after: &'static str,
    /// The server's function that sleeps for a number of seconds.
    sleep: &'static str,
    /// Runs SQL with the server's command-line client.
    client: fn(&str, &str) -> String,
}

/// Part `k` of the writes: ids in increasing order, each transaction
/// committed before the next begins (one client), so a watermark on `id`
/// never passes a row that commits later.
fn part(s: &Server, table: &str, k: u64) -> String {
    let mut sql = String::new();
    for tx in 0..TXS_PER_PART {
        let first = (k * TXS_PER_PART + tx) * ROWS_PER_TX + 1;
        let values: Vec<String> = (first..first + ROWS_PER_TX)
            .map(|id| format!("({id}, 'n{id}')"))
            .collect();
        sql.push_str(&format!(
            "BEGIN; INSERT INTO {table} VALUES {}; COMMIT; SELECT {}(0.05);\n",
            values.join(", "),
            s.sleep
        ));
    }
    sql
}

/// The distinct ids in the file target and how many lines it holds (read
/// while the flow appends: a last line without its newline yet is left out).
fn delivered(p: &Project) -> (BTreeSet<u64>, usize) {
    let text = p.read("out/rows.jsonl");
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let ids = whole
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|r| r.get("id").and_then(serde_json::Value::as_u64))
        .collect();
    (ids, whole.lines().count())
}

fn cut_while_writing(s: &Server) {
    let src = unique_name(&format!("{}_poll_src", s.prefix));
    let dst = unique_name(&format!("{}_poll_dst", s.prefix));
    let client = s.client;
    client(
        &s.url,
        &format!(
            "CREATE TABLE {src} ({c}); CREATE TABLE {dst} ({c})",
            c = s.columns
        ),
    );
    let proxy = FaultProxy::start(&cdc::upstream(&s.url, s.default_port));
    let through = cdc::through_with(&s.url, &proxy, s.option);
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"system src: {kind} {{ url = secret("SRC_URL") }}
system db: {kind} {{ url = secret("DB_URL") }}

type Row {{ id: int, name: string }}

flow follow {{
  mode async
  from src.poll("select id, name from {src} where {after} order by id", every: 100ms, watermark: "id") as Row
  to db.upsert("{dst}", key: [id])
  to file("out").append("rows.jsonl")
  dead_letter file("dlq").append("dead.jsonl")
}}
"#,
            kind = s.kind,
            after = s.after,
        ),
    );
    let mut running = p.spawn_with_env(
        &[],
        &[("SRC_URL", through.as_str()), ("DB_URL", s.url.as_str())],
    );
    let retry = format!("{} poll failed; retrying at the next interval", s.kind);
    let retries = |running: &support::Running| running.stderr().matches(&retry).count();
    let mut cuts = 0;
    for k in 0..PARTS {
        let before = delivered(&p).1;
        let writer = {
            let (url, sql) = (s.url.clone(), part(s, &src, k));
            std::thread::spawn(move || client(&url, &sql))
        };
        if k + 1 < PARTS {
            // mid-stream: rows of this part are arriving
            assert!(
                wait_until(Duration::from_secs(60), || delivered(&p).1 > before),
                "no rows of part {k} arrived\n{}",
                running.stderr()
            );
            let logged = retries(&running);
            proxy.set_blocked(true);
            proxy.cut();
            cuts += 1;
            // the server stays out of reach until the source has failed a
            // poll: the retry path ran, whatever the poll was doing at the cut
            assert!(
                wait_until(Duration::from_secs(60), || retries(&running) > logged),
                "cut {cuts}: no failed poll logged (running: {})\n{}",
                running.is_running(),
                running.stderr()
            );
            proxy.set_blocked(false);
        }
        assert!(writer.join().is_ok(), "the client's part {k} failed");
    }
    let count = |table: &str| -> u64 {
        client(&s.url, &format!("SELECT count(*) FROM {table}"))
            .parse()
            .unwrap_or(0)
    };
    let left = wait_converged(Duration::from_secs(30), Duration::from_secs(150), || {
        let missing = TOTAL as usize - delivered(&p).0.len();
        missing + (TOTAL - count(&dst).min(TOTAL)) as usize
    });
    assert_eq!(
        left,
        0,
        "rows missing after the cuts: {} of {TOTAL} in the file, {} in the target\n{}",
        delivered(&p).0.len(),
        count(&dst),
        running.stderr()
    );
    assert!(running.is_running(), "the same process recovered");
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // the target: each row once, as written
    let rows = |table: &str| client(&s.url, &format!("SELECT id, name FROM {table} ORDER BY id"));
    assert_eq!(rows(&dst), rows(&src), "the target equals the source");
    assert_eq!(count(&dst), TOTAL);
    // the file: each row at least once (poll is at-least-once)
    let (ids, lines) = delivered(&p);
    assert!(
        ids.iter().copied().eq(1..=TOTAL),
        "every id in the file: {} distinct of {TOTAL}",
        ids.len()
    );
    eprintln!(
        "{cuts} cuts, {} failed polls logged, {lines} lines in the file for {TOTAL} rows",
        retries(&running)
    );
    assert!(
        r.summary("follow").ends_with(" 0 failed, 0 dead-lettered"),
        "{}",
        r.summary("follow")
    );
    assert!(!p.path("dlq/dead.jsonl").exists(), "no dead letters");
    client(&s.url, &format!("DROP TABLE {src}, {dst}"));
}

#[test]
fn a_postgres_poll_cut_while_rows_arrive_retries_and_every_row_lands() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "a_postgres_poll_cut_while_rows_arrive_retries_and_every_row_lands",
    ) else {
        return;
    };
    cut_while_writing(&Server {
        kind: "postgres",
        prefix: "pg",
        url,
        default_port: 5432,
        option: None,
        columns: "id bigint PRIMARY KEY, name text NOT NULL",
        // before the first row the watermark is the lowest bigint
        after: "id > :watermark",
        sleep: "pg_sleep",
        client: psql,
    });
}

#[test]
fn a_mysql_poll_cut_while_rows_arrive_retries_and_every_row_lands() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_MYSQL_URL",
        "a_mysql_poll_cut_while_rows_arrive_retries_and_every_row_lands",
    ) else {
        return;
    };
    cut_while_writing(&Server {
        kind: "mysql",
        prefix: "my",
        url,
        default_port: 3306,
        // without it the client moves to the server's Unix socket (same
        // host), past the proxy
        option: Some("prefer_socket=false"),
        columns: "id BIGINT PRIMARY KEY, name VARCHAR(40) NOT NULL",
        // before the first row the watermark is NULL
        after: ":watermark is null or id > :watermark",
        sleep: "SLEEP",
        client: mysql,
    });
}
