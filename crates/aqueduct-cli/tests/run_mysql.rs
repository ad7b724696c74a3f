//! `mysql` end to end through `aqueduct run` against the real MariaDB: a
//! `query` source of every type (NULLs included) into `insert` and `upsert`
//! (multi-row statements per chunk) and a JSONL file, `delete` by key, an
//! `enrich` lookup with bound parameters, `poll` with a watermark,
//! per-record errors in the dead letter naming the column and the reason,
//! and the preflight (a wrong column type, a missing table, an upsert key
//! without a unique index) through `run` and `check --connect`.
//!
//! Needs `AQUEDUCT_TEST_MYSQL_URL` (e.g. `mysql://root@127.0.0.1:3306/test`)
//! and the `mariadb` (or `mysql`) client; without the URL each test prints
//! `SKIP: …` and passes, unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use serde_json::json;
use std::time::Duration;
use support::mysql::mysql;
use support::{Project, wait_until};

fn mysql_url(test: &str) -> Option<String> {
    service_url("AQUEDUCT_TEST_MYSQL_URL", test)
}

const ALL_TYPES: &str = "id INT PRIMARY KEY, small SMALLINT, big BIGINT NOT NULL, \
    ratio DOUBLE, amount DECIMAL(30,10), name VARCHAR(40) NOT NULL, flag BOOLEAN, \
    born DATE, seen DATETIME(6), doc JSON, blob_ VARBINARY(16)";

const ROW_TYPE: &str = "type Row { id: int, small: int?, big: int, ratio: float?, amount: decimal?, \
    name: string, flag: bool?, born: date?, seen: timestamp?, doc: json?, blob_: bytes? }";

#[test]
fn every_type_round_trips_through_query_insert_and_upsert() {
    let Some(url) = mysql_url("every_type_round_trips_through_query_insert_and_upsert") else {
        return;
    };
    let src = unique_name("my_src");
    let ins = unique_name("my_ins");
    let ups = unique_name("my_ups");
    mysql(
        &url,
        &format!(
            "CREATE TABLE {src} ({ALL_TYPES}); CREATE TABLE {ins} ({ALL_TYPES}); CREATE TABLE {ups} ({ALL_TYPES});
             INSERT INTO {src} VALUES
             (1, -32768, 9223372036854775807, 0.1, 1234567890123456789.0123456780, 'héllo ''quoted''', TRUE,
              '2024-02-29', '2024-05-01 10:34:56.789012', '{{\"a\":[1,2.5,\"x\"],\"b\":null}}', X'00FF10'),
             (2, NULL, -1, NULL, NULL, '', NULL, NULL, NULL, NULL, NULL);
             INSERT INTO {ups} (id, big, name) VALUES (1, 0, 'old'), (3, 3, 'untouched');"
        ),
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system my: mysql {{ url = secret("MY_URL"), pool_size = 2 }}

{ROW_TYPE}

flow copy {{
  mode batch
  from my.query("select * from {src} order by id") as Row
  to my.insert("{ins}")
  to my.upsert("{ups}", key: [id])
  to file("out").append("rows.jsonl")
}}
"#
        ),
    );
    let r = p.run_with_env(&[], &[("MY_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("copy"),
        "copy: 2 in, 6 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    let text = p.read("out/rows.jsonl");
    assert!(
        text.contains(r#""amount":1234567890123456789.0123456780,"#),
        "{text}"
    );
    let rows = p.jsonl("out/rows.jsonl");
    assert_eq!(
        rows[0],
        json!({"id": 1, "small": -32768, "big": 9223372036854775807_i64, "ratio": 0.1,
               "amount": 1234567890123456789.012345678_f64, "name": "héllo 'quoted'", "flag": true,
               "born": "2024-02-29", "seen": "2024-05-01T10:34:56.789012Z",
               "doc": {"a": [1, 2.5, "x"], "b": null}, "blob_": "AP8Q"})
    );
    assert_eq!(
        rows[1],
        json!({"id": 2, "small": null, "big": -1, "ratio": null, "amount": null, "name": "",
               "flag": null, "born": null, "seen": null, "doc": null, "blob_": null})
    );
    let cols =
        "id, small, big, ratio, amount, name, flag, born, seen, JSON_COMPACT(doc), HEX(blob_)";
    let want = mysql(&url, &format!("SELECT {cols} FROM {src} ORDER BY id"));
    assert_eq!(
        mysql(&url, &format!("SELECT {cols} FROM {ins} ORDER BY id")),
        want
    );
    let upserted = mysql(
        &url,
        &format!("SELECT {cols} FROM {ups} WHERE id < 3 ORDER BY id"),
    );
    assert_eq!(upserted, want, "upsert replaced row 1 and added row 2");
    assert_eq!(
        mysql(&url, &format!("SELECT name FROM {ups} WHERE id = 3")),
        "untouched"
    );
    mysql(&url, &format!("DROP TABLE {src}, {ins}, {ups}"));
}

#[test]
fn bad_values_and_constraint_violations_go_to_the_dead_letter_by_record() {
    let Some(url) =
        mysql_url("bad_values_and_constraint_violations_go_to_the_dead_letter_by_record")
    else {
        return;
    };
    let t = unique_name("my_bad");
    mysql(
        &url,
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, qty SMALLINT NOT NULL, note VARCHAR(5))"),
    );
    let p = Project::new();
    p.file(
        "in/rows.jsonl",
        "{\"id\":1,\"qty\":5,\"note\":\"ok\"}\n{\"id\":2,\"qty\":70000,\"note\":\"big\"}\n{\"id\":1,\"qty\":6,\"note\":\"dup\"}\n{\"id\":4,\"qty\":1,\"note\":\"too long\"}\n{\"id\":3,\"qty\":7,\"note\":null}\n",
    )
    .file(
        "main.aq",
        format!(
            r#"
system my: mysql {{ url = secret("MY_URL") }}

type Row {{ id: int, qty: int, note: string? }}

flow load {{
  mode async
  from file("in").read("rows.jsonl") as Row
  to my.insert("{t}")
  dead_letter file("out").append("dead.jsonl")
}}
"#
        ),
    );
    let r = p.run_with_env(&[], &[("MY_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("load"),
        "load: 5 in, 2 delivered, 0 filtered, 3 failed, 3 dead-lettered"
    );
    assert_eq!(
        mysql(
            &url,
            &format!("SELECT id, qty, COALESCE(note, 'NULL') FROM {t} ORDER BY id")
        ),
        "1\t5\tok\n3\t7\tNULL"
    );
    let dead = p.jsonl("out/dead.jsonl");
    let errors: Vec<&str> = dead
        .iter()
        .map(|d| d["error"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(errors.len(), 3, "{dead:?}");
    assert!(
        errors[0].contains("column `qty` (smallint(6)): 70000 is out of range for smallint(6)"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("Duplicate entry '1'"), "{}", errors[1]);
    assert!(
        errors[2].contains("column `note` (varchar(5)): 8 characters do not fit varchar(5)"),
        "{}",
        errors[2]
    );
    mysql(&url, &format!("DROP TABLE {t}"));
}

#[test]
fn delete_by_key_lookup_and_poll_with_a_watermark() {
    let Some(url) = mysql_url("delete_by_key_lookup_and_poll_with_a_watermark") else {
        return;
    };
    let customers = unique_name("my_cust");
    mysql(
        &url,
        &format!(
            "CREATE TABLE {customers} (id BIGINT PRIMARY KEY, name VARCHAR(40) NOT NULL, credit DECIMAL(12,2));
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
system my: mysql {{ url = secret("MY_URL") }}

type Order {{ id: string, customer_id: int, who: string }}
type Customer {{ id: int, name: string, credit: decimal? }}
type Out {{ id: string, name: string?, credit: decimal? }}
type Key {{ id: int }}

flow price {{
  mode batch
  from file("in").read("orders.jsonl") as Order
  enrich byid = my.query("select id, name, credit from {customers} where id = {{.customer_id}}") as Customer
  enrich byname = my.query("select id, name, credit from {customers} where name = :who") as Customer
  map Out {{ id = .id, name = $byname.name, credit = $byid.credit }}
  to file("out").append("priced.jsonl")
}}

flow purge {{
  mode batch
  from file("in").read("gone.jsonl") as Key
  to my.delete("{customers}", key: [id])
}}

flow watch {{
  mode async
  from my.poll("select id, name, credit from {customers} where :watermark is null or id > :watermark order by id", every: 100ms, watermark: "id") as Customer
  to file("out").append("seen.jsonl")
}}
"#
        ),
    );
    let r = p.run_with_env(&["--flow", "price"], &[("MY_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/priced.jsonl"),
        "{\"id\":\"o1\",\"name\":\"Acme\",\"credit\":1000.50}\n\
         {\"id\":\"o2\",\"name\":\"O'Brien; DROP TABLE x\",\"credit\":null}\n\
         {\"id\":\"o3\",\"name\":null,\"credit\":null}\n"
    );
    let r = p.run_with_env(&["--flow", "purge"], &[("MY_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        mysql(&url, &format!("SELECT id FROM {customers} ORDER BY id")),
        "7\n8"
    );
    let ids = |p: &Project| -> Vec<i64> {
        if !p.path("out/seen.jsonl").exists() {
            return Vec::new();
        }
        p.jsonl("out/seen.jsonl")
            .iter()
            .filter_map(|e| e["id"].as_i64())
            .collect()
    };
    let mut running = p.spawn_with_env(&["--flow", "watch"], &[("MY_URL", &url)]);
    assert!(
        wait_until(Duration::from_secs(20), || ids(&p).len() == 2),
        "{:?}\n{}",
        ids(&p),
        running.stderr()
    );
    running.terminate(Duration::from_secs(20));
    mysql(
        &url,
        &format!("INSERT INTO {customers} VALUES (10, 'New', 2)"),
    );
    let mut running = p.spawn_with_env(&["--flow", "watch"], &[("MY_URL", &url)]);
    assert!(
        wait_until(Duration::from_secs(20), || ids(&p).len() >= 3),
        "{:?}\n{}",
        ids(&p),
        running.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    running.terminate(Duration::from_secs(20));
    assert_eq!(ids(&p), vec![7, 8, 10], "resumed after the watermark");
    mysql(&url, &format!("DROP TABLE {customers}"));
}

#[test]
fn a_missing_unique_key_stops_run_and_passwords_stay_hidden() {
    let Some(url) = mysql_url("a_missing_unique_key_stops_run_and_passwords_stay_hidden") else {
        return;
    };
    let t = unique_name("my_pre");
    mysql(&url, &format!("CREATE TABLE {t} (id INT, name TEXT)"));
    let p = Project::new();
    p.file("in/rows.jsonl", "{\"id\":1,\"name\":\"x\"}\n").file(
        "main.aq",
        format!(
            r#"
system my: mysql {{ url = secret("MY_URL") }}

type Row {{ id: int, name: string }}

flow load {{
  mode batch
  from file("in").read("rows.jsonl") as Row
  to my.upsert("{t}", key: [id])
}}
"#
        ),
    );
    let r = p.run_with_env(&[], &[("MY_URL", &url)]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains(&format!(
            "`{t}` has no primary key or unique index on (id), which upsert needs"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(mysql(&url, &format!("SELECT count(*) FROM {t}")), "0");
    let port = support::free_port();
    let bad = format!("mysql://nobody:s3cr3t-pw@127.0.0.1:{port}/test");
    let r = p.run_with_env(&[], &[("MY_URL", &bad)]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("mysql `my`"), "{}", r.stderr);
    assert!(!r.stderr.contains("s3cr3t-pw"), "{}", r.stderr);
    mysql(&url, &format!("DROP TABLE {t}"));
}

#[test]
fn check_connect_and_run_report_a_wrong_type_a_missing_table_and_a_missing_unique_key() {
    let Some(url) = mysql_url(
        "check_connect_and_run_report_a_wrong_type_a_missing_table_and_a_missing_unique_key",
    ) else {
        return;
    };
    let t = unique_name("my_chk");
    let missing = unique_name("my_gone");
    mysql(
        &url,
        &format!("CREATE TABLE {t} (id INT, born DATE NOT NULL, name TEXT)"),
    );
    let p = Project::new();
    p.file("in/rows.jsonl", "{\"id\":1,\"born\":true,\"name\":\"x\"}\n")
        .file(
            "main.aq",
            format!(
                r#"system my: mysql {{ url = secret("MY_URL") }}

type Row {{ id: int, born: bool, name: string }}

flow load {{
  mode batch
  from file("in").read("rows.jsonl") as Row
  to my.upsert("{t}", key: [id])
  to my.insert("{missing}")
}}
"#
            ),
        );
    let check = p.check_connect(&[("MY_URL", &url)]);
    let text = check.unwrapped();
    assert_eq!(check.code, 1, "{text}");
    assert!(text.contains("AQ0410"), "{text}");
    let wrong_type =
        format!("column `born` of `{t}` is date, which cannot take field `born: bool`");
    let no_key = format!("`{t}` has no primary key or unique index on (id), which upsert needs");
    let no_table = format!("table `{missing}` does not exist");
    for expected in [&wrong_type, &no_key, &no_table] {
        assert!(text.contains(expected.as_str()), "{expected}\n{text}");
    }
    assert!(
        text.contains("main.aq:8"),
        "points at the upsert line: {text}"
    );
    assert!(
        text.contains("main.aq:9"),
        "points at the insert line: {text}"
    );
    // `run` stops at the same problems, naming the lines, before any record moves
    let r = p.run_with_env(&[], &[("MY_URL", &url)]);
    assert_ne!(r.code, 0);
    let stderr = r.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(stderr.contains("main.aq:8: flow `load`"), "{}", r.stderr);
    for expected in [&wrong_type, &no_key, &no_table] {
        assert!(
            stderr.contains(expected.as_str()),
            "{expected}\n{}",
            r.stderr
        );
    }
    assert_eq!(mysql(&url, &format!("SELECT count(*) FROM {t}")), "0");
    mysql(&url, &format!("DROP TABLE {t}"));
}

/// The instants of the `timestamp` test, as UTC text and as seconds since
/// 1970 (what `UNIX_TIMESTAMP` answers whatever the session's time zone).
const INSTANTS: [(i64, &str, &str); 4] = [
    (1, "2024-05-01T10:34:56.789012Z", "1714559696.789012"),
    (2, "2024-03-30T22:00:00.000001Z", "1711836000.000001"),
    (3, "2038-01-19T03:14:07.999999Z", "2147483647.999999"),
    (4, "1970-01-01T00:00:01.000001Z", "1.000001"),
];

/// `TIMESTAMP` columns convert between the session's time zone and UTC
/// (`DATETIME` does not). Rows written by a session in `+05:30` are read
/// by `query` as the same instants, and `insert`/`upsert` of those
/// instants (through `LOAD DATA` in a `batch` flow and through statements
/// in an `async` one) store the same instants again: `UNIX_TIMESTAMP`,
/// which no time zone changes, agrees to the microsecond, and a `+05:30`
/// session sees the local times it wrote.
#[test]
fn a_timestamp_column_keeps_the_instant_both_ways() {
    let Some(url) = mysql_url("a_timestamp_column_keeps_the_instant_both_ways") else {
        return;
    };
    let tables: Vec<String> = [
        "my_ts_src",
        "my_ts_ins",
        "my_ts_ups",
        "my_ts_ains",
        "my_ts_aups",
    ]
    .iter()
    .map(|p| unique_name(p))
    .collect();
    let [src, ins, ups, ains, aups] = [0, 1, 2, 3, 4].map(|i| tables[i].clone());
    let mut sql = String::from("SET time_zone = '+05:30';");
    for t in &tables {
        sql.push_str(&format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, at TIMESTAMP(6) NULL DEFAULT NULL);"
        ));
    }
    // local times of +05:30 for the instants above
    sql.push_str(&format!(
        "INSERT INTO {src} VALUES (1, '2024-05-01 16:04:56.789012'), (2, '2024-03-31 03:30:00.000001'),
           (3, '2038-01-19 08:44:07.999999'), (4, '1970-01-01 05:30:01.000001'), (5, NULL);
         INSERT INTO {ups} VALUES (1, '2000-01-01 00:00:00'), (9, '2001-01-01 00:00:00');
         INSERT INTO {aups} VALUES (1, '2000-01-01 00:00:00'), (9, '2001-01-01 00:00:00');"
    ));
    mysql(&url, &sql);
    let p = Project::new();
    let lines: String = INSTANTS
        .iter()
        .map(|(id, at, _)| format!("{{\"id\":{id},\"at\":\"{at}\"}}\n"))
        .collect();
    p.file("in/rows.jsonl", lines).file(
        "main.aq",
        format!(
            r#"
system my: mysql {{ url = secret("MY_URL") }}

type Row {{ id: int, at: timestamp? }}

flow copy {{
  mode batch
  from my.query("select id, at from {src} order by id") as Row
  to my.insert("{ins}")
  to my.upsert("{ups}", key: [id])
  to file("out").append("rows.jsonl")
}}

flow live {{
  mode async
  from file("in").read("rows.jsonl") as Row
  to my.insert("{ains}")
  to my.upsert("{aups}", key: [id])
}}
"#
        ),
    );
    let r = p.run_with_env(&[], &[("MY_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("copy"),
        "copy: 5 in, 15 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        r.summary("live"),
        "live: 4 in, 8 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    // read: the instants in UTC, whatever zone wrote them
    let read: Vec<String> = p
        .jsonl("out/rows.jsonl")
        .iter()
        .map(|r| r["at"].as_str().unwrap_or("null").to_string())
        .collect();
    let mut want: Vec<String> = INSTANTS.iter().map(|(_, at, _)| at.to_string()).collect();
    want.push("null".to_string());
    assert_eq!(read, want);
    // written: the same instants, to the microsecond
    let epochs: String = INSTANTS
        .iter()
        .map(|(id, _, epoch)| format!("{id}\t{epoch}\n"))
        .collect();
    for t in [&src, &ins, &ups, &ains, &aups] {
        let got = mysql(
            &url,
            &format!("SELECT id, UNIX_TIMESTAMP(at) FROM {t} WHERE id < 5 ORDER BY id"),
        );
        assert_eq!(format!("{got}\n"), epochs, "the instants in {t}");
    }
    // and a session in +05:30 reads back the local times it wrote
    let local = |t: &str| {
        mysql(
            &url,
            &format!("SET time_zone = '+05:30'; SELECT id, at FROM {t} WHERE id < 5 ORDER BY id"),
        )
    };
    assert_eq!(local(&ins), local(&src));
    assert_eq!(local(&aups), local(&src));
    assert_eq!(
        mysql(&url, &format!("SELECT COUNT(*) FROM {ups} WHERE id = 9")),
        "1",
        "upsert left the other row"
    );
    mysql(&url, &format!("DROP TABLE {}", tables.join(", ")));
}

/// A user with a password (made here, dropped at the end) writes through
/// a flow whose connection is killed mid-statement (the write is retried)
/// and whose bad records go to the dead letter: the password shows in none
/// of stderr (with the retries' debug log), stdout, the dead letters or the
/// `/metrics` text of `--admin`.
#[test]
fn a_password_never_appears_in_dead_letters_metrics_or_mid_run_errors() {
    let Some(url) = mysql_url("a_password_never_appears_in_dead_letters_metrics_or_mid_run_errors")
    else {
        return;
    };
    let secret = "s3cr3t-My-pw";
    let user = unique_name("aq_pw").replace('-', "_");
    let user = &user[..user.len().min(32)];
    let t = unique_name("my_pw");
    let rest = url.trim_start_matches("mysql://");
    let host = rest.split_once('@').map(|(_, h)| h).unwrap_or(rest);
    let (hostport, tail) = host.split_once('/').unwrap_or((host, "test"));
    let db = tail.split('?').next().unwrap_or(tail);
    mysql(
        &url,
        &format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, qty SMALLINT NOT NULL);
             CREATE USER '{user}'@'%' IDENTIFIED BY '{secret}';
             CREATE USER '{user}'@'localhost' IDENTIFIED BY '{secret}';
             GRANT ALL ON `{db}`.* TO '{user}'@'%';
             GRANT ALL ON `{db}`.* TO '{user}'@'localhost';"
        ),
    );
    let with_password = format!("mysql://{user}:{secret}@{hostport}/{tail}");
    let mut rows: String = (0..300)
        .map(|i| format!("{{\"id\":{i},\"qty\":{}}}\n", i % 100))
        .collect();
    rows.push_str("{\"id\":1000,\"qty\":70000}\n{\"id\":5,\"qty\":1}\n");
    let p = Project::new();
    p.file("in/rows.jsonl", rows).file(
        "main.aq",
        format!(
            r#"
system my: mysql {{ url = secret("MY_URL") }}

type Row {{ id: int, qty: int }}

flow load {{
  mode async
  from file("in").read("rows.jsonl") as Row
  to my.insert("{t}")
  retry 10 backoff exponential(100ms, 1s)
  rate_limit 50 per 1s
  dead_letter file("out").append("dead.jsonl")
}}
"#
        ),
    );
    let admin = support::free_port();
    let mut running = p.spawn_with_env(
        &["--admin", &format!("127.0.0.1:{admin}")],
        &[
            ("MY_URL", &with_password),
            // the retried mid-run error shows in the log
            ("RUST_LOG", "info,aqueduct_runtime=debug"),
        ],
    );
    let count = || -> i64 {
        mysql(&url, &format!("SELECT COUNT(*) FROM {t}"))
            .parse()
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(60), || count() >= 50),
        "rows arrive\n{}",
        running.stderr()
    );
    // another session locks the table, so the flow's next write waits on
    // the server; that waiting connection is then killed: the write fails mid-run
    let locker = {
        let (url, t) = (url.clone(), t.clone());
        std::thread::spawn(move || {
            mysql(
                &url,
                &format!("LOCK TABLES {t} WRITE; SELECT SLEEP(3); UNLOCK TABLES"),
            )
        })
    };
    let waiting = || {
        mysql(
            &url,
            &format!(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{user}' AND STATE LIKE 'Waiting for table%'"
            ),
        )
    };
    assert!(
        wait_until(Duration::from_secs(30), || !waiting().is_empty()),
        "the flow waits for the lock\n{}",
        running.stderr()
    );
    let mut killed = 0;
    for id in waiting().lines().filter(|l| !l.is_empty()) {
        // it may have ended meanwhile: only the kills that happened count
        if support::mysql::try_mysql(&url, &format!("KILL {id}")).is_ok() {
            killed += 1;
        }
    }
    assert!(killed >= 1, "the flow's waiting connection was killed");
    let metrics = support::try_http(admin, "GET", "/metrics", "", &[])
        .map(|r| r.body)
        .unwrap_or_default();
    let status = running.wait_exit(support::RUN_LIMIT).expect("the run ends");
    assert!(locker.join().is_ok(), "the locking session failed");
    let (stdout, stderr) = (running.stdout(), running.stderr());
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(count(), 300, "every good row arrived despite the kill");
    assert!(
        stderr.contains("Retrying after a failure.") && stderr.contains("mysql `my`"),
        "the killed write failed and was retried: {stderr}"
    );
    let dead = p.read("out/dead.jsonl");
    assert_eq!(p.jsonl("out/dead.jsonl").len(), 2, "{dead}");
    assert!(
        dead.contains("out of range") && dead.contains("Duplicate entry"),
        "{dead}"
    );
    assert!(
        metrics.contains("flow=\"load\""),
        "the metrics were read: {metrics}"
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
    mysql(
        &url,
        &format!("DROP USER '{user}'@'%'; DROP USER '{user}'@'localhost'; DROP TABLE {t}"),
    );
}
