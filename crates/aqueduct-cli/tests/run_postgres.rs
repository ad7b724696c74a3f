//! `postgres` end to end through `aqueduct run` against the real server:
//! a `query` source of every type (NULLs included) into `insert` and
//! `upsert` targets and a JSONL file, `delete` by key, an `enrich` lookup
//! with bound parameters, `poll` with a watermark that survives a restart,
//! and per-record errors (a value the column cannot take, a constraint
//! violation) in the dead letter naming the column and the reason; a
//! password in the URL shown neither in dead letters, the errors of
//! connections cut mid-run nor the `/metrics` text; a deadlock and a
//! serialization failure with another session retried, the write landing
//! once.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`) and the `psql` client; without
//! the URL each test prints `SKIP: …` and passes, unless
//! `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use serde_json::json;
use std::time::Duration;
use support::postgres::psql;
use support::{Project, wait_until};

fn postgres_url(test: &str) -> Option<String> {
    service_url("AQUEDUCT_TEST_POSTGRES_URL", test)
}

const ALL_TYPES: &str = "id integer PRIMARY KEY, small smallint, big bigint NOT NULL, \
    ratio double precision, amount numeric(30,10), name text NOT NULL, code varchar(8), \
    active boolean, born date, seen timestamptz, doc jsonb, raw json, blob bytea";

const ROW_TYPE: &str = "type Row { id: int, small: int?, big: int, ratio: float?, amount: decimal?, \
    name: string, code: string?, active: bool?, born: date?, seen: timestamp?, doc: json?, \
    raw: json?, blob: bytes? }";

#[test]
fn every_type_round_trips_through_query_insert_and_upsert() {
    let Some(url) = postgres_url("every_type_round_trips_through_query_insert_and_upsert") else {
        return;
    };
    let src = unique_name("pg_src");
    let ins = unique_name("pg_ins");
    let ups = unique_name("pg_ups");
    psql(
        &url,
        &format!(
            "CREATE TABLE {src} ({ALL_TYPES}); CREATE TABLE {ins} ({ALL_TYPES}); CREATE TABLE {ups} ({ALL_TYPES});
             INSERT INTO {src} VALUES
             (1, -32768, 9223372036854775807, 0.1, 1234567890123456789.012345678, 'héllo ''quoted''', 'abc',
              true, '2024-02-29', '2024-05-01 12:34:56.789012+02', '{{\"a\":[1,2.5,\"x\"],\"b\":null}}', '[1, 2]', '\\x00ff10'),
             (2, NULL, -1, NULL, NULL, '', NULL, NULL, NULL, NULL, NULL, NULL, NULL);
             INSERT INTO {ups} (id, big, name) VALUES (1, 0, 'old'), (3, 3, 'untouched');"
        ),
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL"), pool_size = 2 }}

{ROW_TYPE}

flow copy {{
  mode batch
  from pg.query("select * from {src} order by id") as Row
  to pg.insert("{ins}")
  to pg.upsert("{ups}", key: [id])
  to file("out").append("rows.jsonl")
}}
"#
        ),
    );
    let r = p.run_with_env(&[], &[("PG_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("copy"),
        "copy: 2 in, 6 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    // values read exactly: decimals and 64-bit ints untouched, timestamps in UTC
    // (the exact text, scale of numeric(30,10) kept: serde_json would round it)
    assert!(
        p.read("out/rows.jsonl")
            .contains(r#""amount":1234567890123456789.0123456780,"#),
        "{}",
        p.read("out/rows.jsonl")
    );
    let rows = p.jsonl("out/rows.jsonl");
    assert_eq!(
        rows[0],
        json!({"id": 1, "small": -32768, "big": 9223372036854775807_i64, "ratio": 0.1,
               "amount": 1234567890123456789.012345678_f64, "name": "héllo 'quoted'", "code": "abc",
               "active": true, "born": "2024-02-29", "seen": "2024-05-01T10:34:56.789012Z",
               "doc": {"a": [1, 2.5, "x"], "b": null}, "raw": [1, 2], "blob": "AP8Q"})
    );
    assert_eq!(
        rows[1],
        json!({"id": 2, "small": null, "big": -1, "ratio": null, "amount": null, "name": "",
               "code": null, "active": null, "born": null, "seen": null, "doc": null, "raw": null, "blob": null})
    );
    // and written exactly: the copies equal the source, column by column
    for table in [&ins, &ups] {
        let diff = psql(
            &url,
            &format!(
                "SELECT count(*) FROM (SELECT id, small, big, ratio, amount, name, code, active, born, seen, doc, raw::jsonb, blob FROM {src}
                 EXCEPT SELECT id, small, big, ratio, amount, name, code, active, born, seen, doc, raw::jsonb, blob FROM {table}) d"
            ),
        );
        assert_eq!(diff, "0", "{table} equals {src}");
    }
    assert_eq!(
        psql(&url, &format!("SELECT id, name FROM {ups} ORDER BY id")),
        "1|héllo 'quoted'\n2|\n3|untouched",
        "upsert updated row 1, inserted row 2 and left row 3"
    );
    psql(&url, &format!("DROP TABLE {src}, {ins}, {ups}"));
}

#[test]
fn bad_values_and_constraint_violations_go_to_the_dead_letter_by_record() {
    let Some(url) =
        postgres_url("bad_values_and_constraint_violations_go_to_the_dead_letter_by_record")
    else {
        return;
    };
    let t = unique_name("pg_bad");
    psql(
        &url,
        &format!("CREATE TABLE {t} (id integer PRIMARY KEY, qty smallint NOT NULL, note text)"),
    );
    let p = Project::new();
    p.file(
        "in/rows.jsonl",
        "{\"id\":1,\"qty\":5,\"note\":\"ok\"}\n{\"id\":2,\"qty\":70000,\"note\":\"too big\"}\n{\"id\":1,\"qty\":6,\"note\":\"duplicate\"}\n{\"id\":3,\"qty\":7,\"note\":null}\n",
    )
    .file(
        "main.aq",
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL") }}

type Row {{ id: int, qty: int, note: string? }}

flow load {{
  mode async
  from file("in").read("rows.jsonl") as Row
  to pg.insert("{t}")
  dead_letter file("out").append("dead.jsonl")
}}
"#
        ),
    );
    let r = p.run_with_env(&[], &[("PG_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("load"),
        "load: 4 in, 2 delivered, 0 filtered, 2 failed, 2 dead-lettered"
    );
    assert_eq!(
        psql(
            &url,
            &format!("SELECT id, qty, coalesce(note, 'NULL') FROM {t} ORDER BY id")
        ),
        "1|5|ok\n3|7|NULL"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 2, "{dead:?}");
    let errors: Vec<&str> = dead
        .iter()
        .map(|d| d["error"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        dead[0]["record"],
        json!({"id": 2, "qty": 70000, "note": "too big"})
    );
    assert!(
        errors[0].contains("column `qty` (int2): 70000 is out of range for int2"),
        "{}",
        errors[0]
    );
    assert_eq!(dead[1]["record"]["note"], json!("duplicate"));
    assert!(
        errors[1].contains("duplicate key value violates unique constraint"),
        "the server's message: {}",
        errors[1]
    );
    psql(&url, &format!("DROP TABLE {t}"));
}

#[test]
fn delete_by_key_and_lookup_with_bound_parameters() {
    let Some(url) = postgres_url("delete_by_key_and_lookup_with_bound_parameters") else {
        return;
    };
    let customers = unique_name("pg_cust");
    psql(
        &url,
        &format!(
            "CREATE TABLE {customers} (id bigint PRIMARY KEY, name text NOT NULL, credit numeric(12,2));
             INSERT INTO {customers} VALUES (7, 'Acme', 1000.50), (8, 'O''Brien; DROP TABLE x', NULL), (9, 'Gone', 1)"
        ),
    );
    let p = Project::new();
    p.file(
        "in/orders.jsonl",
        "{\"id\":\"o1\",\"customer_id\":7,\"who\":\"Acme\"}\n{\"id\":\"o2\",\"customer_id\":8,\"who\":\"O'Brien; DROP TABLE x\"}\n{\"id\":\"o3\",\"customer_id\":99,\"who\":\"nobody\"}\n",
    )
    .file("in/gone.jsonl", "{\"id\":9}\n{\"id\":12345}\n")
    .file(
        "main.aq",
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL") }}

type Order {{ id: string, customer_id: int, who: string }}
type Customer {{ id: int, name: string, credit: decimal? }}
type Out {{ id: string, name: string?, credit: decimal? }}
type Key {{ id: int }}

flow price {{
  mode batch
  from file("in").read("orders.jsonl") as Order
  enrich byid = pg.query("select id, name, credit from {customers} where id = {{.customer_id}}") as Customer
  enrich byname = pg.query("select id, name, credit from {customers} where name = :who") as Customer
  map Out {{ id = .id, name = $byname.name, credit = $byid.credit }}
  to file("out").append("priced.jsonl")
}}

flow purge {{
  mode batch
  from file("in").read("gone.jsonl") as Key
  to pg.delete("{customers}", key: [id])
}}
"#
        ),
    );
    let r = p.run_with_env(&["--flow", "price"], &[("PG_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/priced.jsonl"),
        "{\"id\":\"o1\",\"name\":\"Acme\",\"credit\":1000.50}\n\
         {\"id\":\"o2\",\"name\":\"O'Brien; DROP TABLE x\",\"credit\":null}\n\
         {\"id\":\"o3\",\"name\":null,\"credit\":null}\n"
    );
    let r = p.run_with_env(&["--flow", "purge"], &[("PG_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("purge"),
        "purge: 2 in, 2 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        psql(&url, &format!("SELECT id FROM {customers} ORDER BY id")),
        "7\n8"
    );
    psql(&url, &format!("DROP TABLE {customers}"));
}

#[test]
fn poll_emits_new_rows_after_the_watermark_and_resumes_after_a_restart() {
    let Some(url) =
        postgres_url("poll_emits_new_rows_after_the_watermark_and_resumes_after_a_restart")
    else {
        return;
    };
    let t = unique_name("pg_poll");
    psql(
        &url,
        &format!(
            "CREATE TABLE {t} (id bigserial PRIMARY KEY, at timestamptz NOT NULL, what text NOT NULL);
             INSERT INTO {t} (at, what) VALUES ('2024-01-01T00:00:00Z', 'a'), ('2024-01-02T00:00:00Z', 'b')"
        ),
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL") }}

type Event {{ id: int, at: timestamp, what: string }}

flow events {{
  mode async
  from pg.poll("select id, at, what from {t} where at > :watermark order by at", every: 100ms, watermark: "at") as Event
  to file("out").append("events.jsonl")
}}
"#
        ),
    );
    let whats = |p: &Project| -> Vec<String> {
        if !p.path("out/events.jsonl").exists() {
            return Vec::new();
        }
        p.jsonl("out/events.jsonl")
            .iter()
            .map(|e| e["what"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let mut running = p.spawn_with_env(&[], &[("PG_URL", &url)]);
    assert!(
        wait_until(Duration::from_secs(20), || whats(&p).len() == 2),
        "the first two rows arrive: {:?}\n{}",
        whats(&p),
        running.stderr()
    );
    psql(
        &url,
        &format!("INSERT INTO {t} (at, what) VALUES ('2024-01-03T00:00:00Z', 'c')"),
    );
    assert!(
        wait_until(Duration::from_secs(20), || whats(&p).len() == 3),
        "the new row arrives: {:?}",
        whats(&p)
    );
    running.terminate(Duration::from_secs(20));
    // rows added while stopped are read after the restart, nothing twice
    psql(
        &url,
        &format!("INSERT INTO {t} (at, what) VALUES ('2024-01-04T00:00:00Z', 'd')"),
    );
    let mut running = p.spawn_with_env(&[], &[("PG_URL", &url)]);
    assert!(
        wait_until(Duration::from_secs(20), || whats(&p).len() >= 4),
        "the row added while stopped arrives: {:?}\n{}",
        whats(&p),
        running.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    running.terminate(Duration::from_secs(20));
    assert_eq!(whats(&p), vec!["a", "b", "c", "d"]);
    psql(&url, &format!("DROP TABLE {t}"));
}

#[test]
fn a_missing_table_or_column_stops_run_before_any_record_moves() {
    let Some(url) = postgres_url("a_missing_table_or_column_stops_run_before_any_record_moves")
    else {
        return;
    };
    let t = unique_name("pg_pre");
    psql(
        &url,
        &format!("CREATE TABLE {t} (id integer PRIMARY KEY, name text)"),
    );
    let missing = unique_name("pg_nope");
    let p = Project::new();
    p.file(
        "in/rows.jsonl",
        "{\"id\":1,\"name\":\"x\",\"extra\":true}\n",
    )
    .file(
        "main.aq",
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL") }}

type Row {{ id: int, name: string, extra: bool }}

flow load {{
  mode batch
  from file("in").read("rows.jsonl") as Row
  to pg.insert("{t}")
  to pg.upsert("{missing}", key: [id])
}}
"#
        ),
    );
    let r = p.run_with_env(&[], &[("PG_URL", &url)]);
    assert_ne!(r.code, 0, "run refuses to start");
    assert!(
        r.stderr.contains(&format!(
            "table `{t}` has no column `extra` (field of `Row`)"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("table `{missing}` does not exist")),
        "{}",
        r.stderr
    );
    assert_eq!(psql(&url, &format!("SELECT count(*) FROM {t}")), "0");
    psql(&url, &format!("DROP TABLE {t}"));
}

#[test]
fn passwords_in_the_url_never_appear_in_errors() {
    let Some(url) = postgres_url("passwords_in_the_url_never_appear_in_errors") else {
        return;
    };
    // a wrong password for a user that does not exist, on a port nobody serves
    let _ = url;
    let p = Project::new();
    p.file("in/rows.jsonl", "{\"id\":1}\n").file(
        "main.aq",
        r#"
system pg: postgres { url = secret("PG_URL") }

type Row { id: int }

flow load {
  mode batch
  from file("in").read("rows.jsonl") as Row
  to pg.insert("t")
}
"#,
    );
    let port = support::free_port();
    let bad = format!("postgres://nobody:s3cr3t-pw@127.0.0.1:{port}/test");
    let r = p.run_with_env(&[], &[("PG_URL", &bad)]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("postgres `pg`"), "{}", r.stderr);
    assert!(!r.stderr.contains("s3cr3t-pw"), "{}", r.stderr);
    assert!(!r.stdout.contains("s3cr3t-pw"), "{}", r.stdout);
}

#[test]
fn check_connect_reports_a_wrong_type_a_missing_table_and_a_missing_unique_key() {
    let Some(url) =
        postgres_url("check_connect_reports_a_wrong_type_a_missing_table_and_a_missing_unique_key")
    else {
        return;
    };
    let t = unique_name("pg_chk");
    let missing = unique_name("pg_gone");
    psql(
        &url,
        &format!("CREATE TABLE {t} (id integer, qty smallint NOT NULL, name text)"),
    );
    let p = Project::new();
    p.file("in/rows.jsonl", "{\"id\":1,\"qty\":true,\"name\":\"x\"}\n")
        .file(
            "main.aq",
            format!(
                r#"system pg: postgres {{ url = secret("PG_URL") }}

type Row {{ id: int, qty: bool, name: string }}

flow load {{
  mode batch
  from file("in").read("rows.jsonl") as Row
  to pg.upsert("{t}", key: [id])
  to pg.insert("{missing}")
}}
"#
            ),
        );
    let check = p.check_connect(&[("PG_URL", &url)]);
    let text = check.unwrapped();
    assert_eq!(check.code, 1, "{text}");
    assert!(text.contains("AQ0410"), "{text}");
    assert!(
        text.contains(&format!(
            "column `qty` of `{t}` is int2, which cannot take field `qty: bool`"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "`{t}` has no primary key or unique index on (id), which upsert needs"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("table `{missing}` does not exist")),
        "{text}"
    );
    assert!(
        text.contains("main.aq:8"),
        "points at the upsert line: {text}"
    );
    assert!(
        text.contains("main.aq:9"),
        "points at the insert line: {text}"
    );
    // `run` stops at the same problems, naming the lines, before any record moves
    let r = p.run_with_env(&[], &[("PG_URL", &url)]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("main.aq:8: flow `load`"), "{}", r.stderr);
    assert_eq!(psql(&url, &format!("SELECT count(*) FROM {t}")), "0");
    psql(&url, &format!("DROP TABLE {t}"));
}

/// A flow whose URL holds a password writes through a connection cut
/// mid-run (the write is retried) and sends bad records to the dead
/// letter: the password shows in none of stderr, stdout, the dead letters
/// or the `/metrics` text of `--admin` (as MySQL's test in `run_mysql.rs`).
#[test]
fn a_password_never_appears_in_dead_letters_metrics_or_mid_run_errors() {
    let Some(url) =
        postgres_url("a_password_never_appears_in_dead_letters_metrics_or_mid_run_errors")
    else {
        return;
    };
    // a database of its own: its connections are cut mid-run below
    let db = support::postgres::Database::create(&url, "pg_pw");
    psql(
        &db.url,
        "CREATE TABLE t (id integer PRIMARY KEY, qty smallint NOT NULL)",
    );
    // the test server trusts local connections, so any password is accepted
    // and the run goes on: what matters is that it is never shown
    let secret = "s3cr3t-pw";
    let (scheme, rest) = db.url.split_once("://").expect("a URL");
    let (auth, host) = rest.split_once('@').expect("a user in the URL");
    let user = auth.split(':').next().unwrap_or(auth);
    let with_password = format!("{scheme}://{user}:{secret}@{host}");
    let mut rows: String = (0..300)
        .map(|i| format!("{{\"id\":{i},\"qty\":{}}}\n", i % 100))
        .collect();
    rows.push_str("{\"id\":1000,\"qty\":70000}\n{\"id\":5,\"qty\":1}\n");
    let p = Project::new();
    p.file("in/rows.jsonl", rows).file(
        "main.aq",
        r#"
system pg: postgres { url = secret("PG_URL") }

type Row { id: int, qty: int }

flow load {
  mode async
  from file("in").read("rows.jsonl") as Row
  to pg.insert("t")
  retry 10 backoff exponential(100ms, 1s)
  rate_limit 100 per 1s
  dead_letter file("out").append("dead.jsonl")
}
"#,
    );
    let admin = support::free_port();
    let mut running = p.spawn_with_env(
        &["--admin", &format!("127.0.0.1:{admin}")],
        &[("PG_URL", &with_password)],
    );
    let count = || -> i64 { psql(&db.url, "SELECT count(*) FROM t").parse().unwrap_or(0) };
    assert!(
        wait_until(Duration::from_secs(60), || count() >= 50),
        "rows arrive\n{}",
        running.stderr()
    );
    // another session locks the table, so the flow's next write waits on
    // the server; that waiting session is then cut: the write fails mid-run
    let (other, mut session) = Session::start(&db.url);
    session.send("BEGIN;\nLOCK TABLE t IN ACCESS EXCLUSIVE MODE;\n");
    assert!(
        wait_until(Duration::from_secs(60), || holding(&db.url)),
        "the other session holds the lock"
    );
    assert!(
        wait_until(Duration::from_secs(60), || lock_waits(&db.url) == 1),
        "the flow waits for the lock\n{}",
        running.stderr()
    );
    let cut = psql(
        &db.url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock' \
         AND application_name <> 'psql'",
    );
    assert_eq!(cut, "1", "the flow's waiting connection was cut");
    session.send("COMMIT;\n");
    session.end(other);
    // read while the run goes on (the rate limit leaves it a few seconds),
    // after the cut and the first dead letter
    let metrics = support::try_http(admin, "GET", "/metrics", "", &[])
        .map(|r| r.body)
        .unwrap_or_default();
    let status = running.wait_exit(support::RUN_LIMIT).expect("the run ends");
    let (stdout, stderr) = (running.stdout(), running.stderr());
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(count(), 300, "every good row arrived despite the cut");
    assert!(
        metrics.contains("flow=\"load\""),
        "the metrics were read: {metrics}"
    );
    let dead = p.read("out/dead.jsonl");
    assert_eq!(p.jsonl("out/dead.jsonl").len(), 2, "{dead}");
    assert!(
        dead.contains("out of range") && dead.contains("duplicate key"),
        "{dead}"
    );
    assert!(
        stderr.contains("A postgres connection ended"),
        "the cut shows in the log: {stderr}"
    );
    for (what, text) in [
        ("dead letters", dead.as_str()),
        ("stderr", stderr.as_str()),
        ("stdout", stdout.as_str()),
        ("metrics", metrics.as_str()),
    ] {
        assert!(
            !text.contains(secret),
            "the password shows in {what}: {text}"
        );
    }
}

#[test]
fn a_deadlock_with_another_session_is_retried_and_the_write_lands() {
    let Some(url) = postgres_url("a_deadlock_with_another_session_is_retried_and_the_write_lands")
    else {
        return;
    };
    // a database of its own, so its lock waits are the test's alone
    let db = support::postgres::Database::create(&url, "pg_dl");
    psql(
        &db.url,
        "CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL);
         INSERT INTO t VALUES (1, 'old'), (2, 'old')",
    );
    // another session holds row 2; its deadlock check waits a minute, so
    // the server picks the flow's transaction (checked after 1 s) as the victim
    let (other, mut session) = Session::start(&db.url);
    session
        .send("SET deadlock_timeout = '60s';\nBEGIN;\nUPDATE t SET name = 'other' WHERE id = 2;\n");
    assert!(
        wait_until(Duration::from_secs(60), || holding(&db.url)),
        "the other session holds row 2"
    );
    let p = Project::new();
    p.file(
        "in/rows.jsonl",
        "{\"id\":1,\"name\":\"flow\"}\n{\"id\":2,\"name\":\"flow\"}\n",
    )
    .file(
        "main.aq",
        r#"
system pg: postgres { url = secret("PG_URL") }

type Row { id: int, name: string }

flow load {
  mode async
  from file("in").read("rows.jsonl") as Row
  batch 2
  to pg.upsert("t", key: [id])
  retry 5 backoff exponential(100ms, 1s)
  dead_letter file("out").append("dead.jsonl")
}
"#,
    );
    let mut running = p.spawn_with_env(&[], &[("PG_URL", &db.url)]);
    // the flow's transaction took row 1 and waits for row 2
    assert!(
        wait_until(Duration::from_secs(60), || lock_waits(&db.url) == 1),
        "the flow waits for the other session's lock\n{}",
        running.stderr()
    );
    // the other session now wants row 1: a deadlock
    session.send("UPDATE t SET name = 'other' WHERE id = 1;\nCOMMIT;\n");
    let status = running.wait_exit(support::RUN_LIMIT).expect("the run ends");
    let stderr = running.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    session.end(other);
    // the server counted the deadlock (its statistics arrive shortly after)
    assert!(
        wait_until(Duration::from_secs(20), || psql(
            &db.url,
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ) == "1"),
        "the server saw one deadlock\n{stderr}"
    );
    assert_eq!(
        support::summary_line(&stderr, "load"),
        "load: 2 in, 2 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    // the retried write came after the other session's commit
    assert_eq!(
        psql(&db.url, "SELECT id, name FROM t ORDER BY id"),
        "1|flow\n2|flow"
    );
}

/// Serialization failures (SQLSTATE 40001) are retried. The test's
/// database runs every transaction in REPEATABLE READ; another session
/// updates row 1 and holds it while the flow's upsert of rows 1 and 2
/// waits for it, then commits: the flow's transaction, whose snapshot is
/// older than that update, fails with 40001, is retried (the log says so)
/// and lands once (a trigger logs each row the flow writes: one each).
#[test]
fn a_serialization_failure_is_retried_and_the_write_lands_once() {
    let Some(url) = postgres_url("a_serialization_failure_is_retried_and_the_write_lands_once")
    else {
        return;
    };
    // a database of its own, so its isolation level and lock waits are the test's alone
    let db = support::postgres::Database::create(&url, "pg_ser");
    psql(
        &db.url,
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = ''repeatable read''', current_database()); END $$;
         CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL);
         INSERT INTO t VALUES (1, 'old'), (2, 'old');
         CREATE TABLE written (id integer NOT NULL, name text NOT NULL);
         CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO written VALUES (NEW.id, NEW.name); RETURN NEW; END $$;
         CREATE TRIGGER t_written AFTER INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION log_write()",
    );
    assert_eq!(
        psql(&db.url, "SHOW default_transaction_isolation"),
        "repeatable read"
    );
    let (other, mut session) = Session::start(&db.url);
    session.send("BEGIN;\nUPDATE t SET name = 'other' WHERE id = 1;\n");
    assert!(
        wait_until(Duration::from_secs(60), || holding(&db.url)),
        "the other session holds row 1"
    );
    let p = Project::new();
    p.file(
        "in/rows.jsonl",
        "{\"id\":1,\"name\":\"flow\"}\n{\"id\":2,\"name\":\"flow\"}\n",
    )
    .file(
        "main.aq",
        r#"
system pg: postgres { url = secret("PG_URL") }

type Row { id: int, name: string }

flow load {
  mode async
  from file("in").read("rows.jsonl") as Row
  batch 2
  to pg.upsert("t", key: [id])
  retry 5 backoff exponential(100ms, 1s)
  dead_letter file("out").append("dead.jsonl")
}
"#,
    );
    let mut running = p.spawn_with_env(
        &[],
        &[
            ("PG_URL", &db.url),
            ("RUST_LOG", "info,aqueduct_runtime=debug"),
        ],
    );
    assert!(
        wait_until(Duration::from_secs(60), || lock_waits(&db.url) == 1),
        "the flow waits for the other session's row\n{}",
        running.stderr()
    );
    // the update the flow's snapshot does not see commits
    session.send("COMMIT;\n");
    session.end(other);
    let status = running.wait_exit(support::RUN_LIMIT).expect("the run ends");
    let stderr = running.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Retrying after a failure.")
            && stderr.contains("could not serialize access due to concurrent update"),
        "the serialization failure was retried: {stderr}"
    );
    assert_eq!(
        support::summary_line(&stderr, "load"),
        "load: 2 in, 2 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        psql(&db.url, "SELECT id, name FROM t ORDER BY id"),
        "1|flow\n2|flow"
    );
    // the other session's update, then the flow's rows, each once
    assert_eq!(
        psql(
            &db.url,
            "SELECT id, name, count(*) FROM written GROUP BY id, name ORDER BY id, name"
        ),
        "1|flow|1\n1|other|1\n2|flow|1"
    );
}

/// A `psql` session fed line by line, to hold locks beside a running flow.
struct Session(std::process::ChildStdin);

impl Session {
    fn start(url: &str) -> (std::process::Child, Session) {
        let mut child = std::process::Command::new("psql")
            .arg(url)
            .args(["-qAtX", "-v", "ON_ERROR_STOP=1"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs psql");
        let stdin = child.stdin.take().expect("psql's stdin");
        (child, Session(stdin))
    }

    fn send(&mut self, sql: &str) {
        use std::io::Write;
        self.0.write_all(sql.as_bytes()).expect("writes to psql");
        self.0.flush().expect("flushes to psql");
    }

    /// Closes the session and checks every statement succeeded.
    fn end(self, child: std::process::Child) {
        drop(self);
        let out = child.wait_with_output().expect("psql ends");
        assert!(
            out.status.success(),
            "the other session's statements succeeded: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Sessions of `url`'s database other than `psql`'s (the flow's) waiting for a lock.
fn lock_waits(url: &str) -> i64 {
    psql(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND application_name <> 'psql'",
    )
    .parse()
    .unwrap_or(0)
}

/// True once the other session holds its locks (idle in its transaction).
fn holding(url: &str) -> bool {
    psql(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'psql' AND state = 'idle in transaction'",
    ) == "1"
}
