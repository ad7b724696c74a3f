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
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aqueduct"))
        .args(["check", "--connect"])
        .arg(p.root())
        .env("MY_URL", &url)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs aqueduct check");
    let raw = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // messages are wrapped to the terminal: compare them unwrapped
    let text = raw
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(out.status.code(), Some(1), "{raw}");
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
