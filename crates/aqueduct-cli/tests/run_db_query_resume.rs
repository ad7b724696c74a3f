//! A `postgres.query` or `mysql.query` with `key: [id]` in a batch flow
//! into an `insert` target (a table with a primary key), killed with
//! SIGKILL at a seeded random moment while chunks commit, then run again:
//! the second run resumes after the key stored for the last acknowledged
//! chunk (it reads fewer rows than the result holds, and at least the ones
//! missing), the table ends with every row exactly once, the only rows read
//! twice are those of chunks committed after the stored key (refused by the
//! primary key, into the dead letter; normally none), and the complete run
//! leaves the position cleared (`null`) for the next run. And a key that
//! is NULL in a row fails the run, naming the column, rather than leaving
//! a position no resume could continue after.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL` and `AQUEDUCT_TEST_MYSQL_URL` (and the
//! `psql` and `mysql` clients); without them each test prints `SKIP: …` and
//! passes, unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use std::time::Duration;
use support::kill::Kill;
use support::{Project, sqlite_count, wait_until};

/// Rows in the source table; `rate_limit` makes the load last 5 s.
const ROWS: i64 = 50_000;

/// What differs between the two servers.
struct Server {
    kind: &'static str,
    prefix: &'static str,
    url: String,
    /// Runs SQL with the server's command-line client.
    client: fn(&str, &str) -> String,
    /// Creates a source table of ids 1 to `rows` with padding.
    padded_rows: fn(&str, &str, u64, usize),
}

fn killed_and_resumed(s: &Server, test: &str) {
    let src = unique_name(&format!("{}_kill_src", s.prefix));
    let dst = unique_name(&format!("{}_kill_dst", s.prefix));
    (s.padded_rows)(&s.url, &src, ROWS as u64, 50);
    (s.client)(
        &s.url,
        &format!("CREATE TABLE {dst} (id BIGINT PRIMARY KEY, pad TEXT NOT NULL)"),
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"system db: {kind} {{ url = secret("DB_URL") }}

type Row {{ id: int, pad: string }}

flow dump {{
  mode batch chunk 1000
  from db.query("select id, pad from {src}", key: [id]) as Row
  to db.insert("{dst}")
  rate_limit 10000 per 1s
  dead_letter file("dlq").append("dead.jsonl")
}}
"#,
            kind = s.kind
        ),
    );
    let env = [("DB_URL", s.url.as_str())];
    let count = |what: &str| -> i64 {
        (s.client)(&s.url, &format!("SELECT {what} FROM {dst}"))
            .parse()
            .unwrap_or(0)
    };
    let state = p.path(".aqueduct/state.db");
    let stored = |value: &str| {
        sqlite_count(
            &state,
            &format!(
                "select count(*) from aqueduct_state where key = '{}:dump:query' and value like '{value}'",
                s.kind
            ),
        )
        .unwrap_or(0)
            > 0
    };
    let kill = Kill::random(ROWS as usize, test);
    let mut running = p.spawn_with_env(&[], &env);
    assert!(
        wait_until(support::RUN_LIMIT, || count("count(*)") >= kill.after
            && stored("%\"after\"%")),
        "no position stored after {} rows; stderr:\n{}",
        kill.after,
        running.stderr()
    );
    std::thread::sleep(kill.pause);
    running.signal("KILL");
    let status = running.wait_exit(Duration::from_secs(10)).expect("killed");
    assert!(status.code().is_none(), "killed by a signal: {status:?}");
    let at_kill = count("count(*)");
    eprintln!(
        "killed at {at_kill} of {ROWS} rows (aimed at {} rows, then {:?})",
        kill.after, kill.pause
    );
    assert!(
        (kill.after..ROWS).contains(&at_kill),
        "the run was not killed mid-way: {at_kill} of {ROWS} rows"
    );
    assert_eq!(
        at_kill % 1000,
        0,
        "a chunk is committed whole or not at all"
    );

    let r = p.run_with_env(&[], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary = r.summary("dump");
    let read_again = r.received("dump");
    assert!(
        read_again < ROWS,
        "the second run resumed after the stored key instead of starting over: {summary}"
    );
    assert!(
        read_again >= ROWS - at_kill,
        "the second run read {read_again} rows, fewer than the {} missing: {summary}",
        ROWS - at_kill
    );
    assert_eq!(count("count(*)"), ROWS, "every row is there");
    assert_eq!(count("count(DISTINCT id)"), ROWS, "no row twice");
    assert_eq!(count("min(id)"), 1);
    assert_eq!(count("max(id)"), ROWS);
    // the rows read again that the killed run had committed: refused by
    // the primary key, each in the dead letter, and nothing else there
    let dead = std::fs::read_to_string(p.path("dlq/dead.jsonl")).unwrap_or_default();
    let repeated = read_again - (ROWS - at_kill);
    eprintln!("{repeated} rows read twice (committed after the last stored key)");
    assert_eq!(dead.lines().count() as i64, repeated, "{dead}");
    assert!(
        repeated <= 2 * 1000,
        "at most the chunks that committed while the key was being stored come again: {repeated}"
    );
    assert!(stored("null"), "a complete run clears the position");
    (s.client)(&s.url, &format!("DROP TABLE {src}"));
    (s.client)(&s.url, &format!("DROP TABLE {dst}"));
}

#[test]
fn a_postgres_query_with_a_key_killed_mid_run_resumes_and_inserts_every_row_once() {
    let test = "a_postgres_query_with_a_key_killed_mid_run_resumes_and_inserts_every_row_once";
    let Some(url) = service_url("AQUEDUCT_TEST_POSTGRES_URL", test) else {
        return;
    };
    killed_and_resumed(
        &Server {
            kind: "postgres",
            prefix: "pg",
            url,
            client: support::postgres::psql,
            padded_rows: support::postgres::padded_rows,
        },
        test,
    );
}

#[test]
fn a_mysql_query_with_a_key_killed_mid_run_resumes_and_inserts_every_row_once() {
    let test = "a_mysql_query_with_a_key_killed_mid_run_resumes_and_inserts_every_row_once";
    let Some(url) = service_url("AQUEDUCT_TEST_MYSQL_URL", test) else {
        return;
    };
    killed_and_resumed(
        &Server {
            kind: "mysql",
            prefix: "my",
            url,
            client: support::mysql::mysql,
            padded_rows: support::mysql::padded_rows,
        },
        test,
    );
}

/// A row whose key is NULL: the run fails with the column named.
fn null_key_fails(kind: &str, url: &str, client: fn(&str, &str) -> String) {
    let table = unique_name(&format!("{kind}_null_key"));
    client(
        url,
        &format!(
            "CREATE TABLE {table} (id BIGINT, pad TEXT NOT NULL); INSERT INTO {table} VALUES (1, 'a'), (2, 'b'), (NULL, 'c')"
        ),
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"system db: {kind} {{ url = secret("DB_URL") }}

type Row {{ id: int, pad: string }}

flow dump {{
  mode batch
  from db.query("select id, pad from {table}", key: [id]) as Row
  to file("out").append("rows.jsonl")
}}
"#
        ),
    );
    let r = p.run_with_env(&[], &[("DB_URL", url)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.unwrapped().contains(
            "key column `id` is NULL in a row; the key of a resumable query must never be NULL"
        ),
        "{}",
        r.stderr
    );
    client(url, &format!("DROP TABLE {table}"));
}

#[test]
fn a_null_key_fails_a_resumable_query_on_both_servers() {
    let test = "a_null_key_fails_a_resumable_query_on_both_servers";
    let Some(pg) = service_url("AQUEDUCT_TEST_POSTGRES_URL", test) else {
        return;
    };
    let Some(my) = service_url("AQUEDUCT_TEST_MYSQL_URL", test) else {
        return;
    };
    null_key_fails("postgres", &pg, support::postgres::psql);
    null_key_fails("mysql", &my, support::mysql::mysql);
}
