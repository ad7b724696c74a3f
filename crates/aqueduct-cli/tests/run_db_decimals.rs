//! Decimals with more digits than aqueduct's `decimal` holds (28
//! significant digits), through `aqueduct run` against the real PostgreSQL
//! and MariaDB: a `NUMERIC(38,10)` / `DECIMAL(38,10)` value of 35 digits
//! read by `query`, and written from a JSON number, a JSON string and a
//! `string` field, is never rounded: each such record is in the dead letter
//! with the reason (and the column, when the database side refuses it),
//! while the values that fit go through exactly.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL` and `AQUEDUCT_TEST_MYSQL_URL` with
//! their `psql` and `mysql` clients; without a URL its tests print
//! `SKIP: …` and pass, unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use std::collections::BTreeMap;
use support::Project;
use support::mysql::mysql;
use support::postgres::psql;

/// 35 significant digits: 25 before the point, 10 after.
const WIDE: &str = "1234567890123456789012345.1234567891";
/// 29 significant digits, which a decimal holds.
const FITS: &str = "1234567890123456789.0123456789";

/// The refusal both databases' records carry.
fn too_many() -> String {
    format!(
        "{WIDE} has more digits than a decimal holds exactly (28 significant digits, at most 28 after the point)"
    )
}

/// The project: `read` copies the source table to a file; `write` loads
/// decimals from a file; `text` loads the same digits from a string field
/// (into a table of its own: a target takes one record type).
fn project(system: &str, src: &str, dst: &str, txt: &str) -> Project {
    let p = Project::new();
    p.file(
        "in/amounts.jsonl",
        format!(
            "{{\"id\":1,\"amount\":{FITS}}}\n{{\"id\":2,\"amount\":{WIDE}}}\n{{\"id\":3,\"amount\":\"{WIDE}\"}}\n"
        ),
    )
    .file(
        "in/texts.jsonl",
        format!("{{\"id\":4,\"amount\":\"{WIDE}\"}}\n{{\"id\":5,\"amount\":\"0.5\"}}\n"),
    )
    .file(
        "main.aq",
        format!(
            r#"
system db: {system} {{ url = secret("DB_URL") }}

type Amount {{ id: int, amount: decimal }}
type Text {{ id: int, amount: string }}

flow read {{
  mode batch
  from db.query("select id, amount from {src} order by id") as Amount
  to file("out").append("read.jsonl")
  dead_letter file("out").append("read_dead.jsonl")
}}

flow write {{
  mode async
  from file("in").read("amounts.jsonl") as Amount
  to db.insert("{dst}")
  dead_letter file("out").append("write_dead.jsonl")
}}

flow text {{
  mode async
  from file("in").read("texts.jsonl") as Text
  to db.insert("{txt}")
  dead_letter file("out").append("text_dead.jsonl")
}}
"#
        ),
    );
    p
}

/// Each dead letter's error, by the id in its record (or in its raw text).
fn dead(p: &Project, file: &str) -> BTreeMap<i64, String> {
    let path = format!("out/{file}");
    if !p.path(&path).exists() {
        return BTreeMap::new();
    }
    p.jsonl(&path)
        .iter()
        .map(|e| {
            let id = e["record"]["id"]
                .as_i64()
                .or_else(|| {
                    // a line that did not decode is kept as its raw text
                    let raw = e["raw"].as_str()?;
                    serde_json::from_str::<serde_json::Value>(raw).ok()?["id"].as_i64()
                })
                .unwrap_or(-1);
            (id, e["error"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

/// Runs the three flows and checks what every database must show.
/// `refused` is the start of the `text` flow's error for record 4, before
/// the reason (its database and column type).
fn check(
    p: &Project,
    url: &str,
    rows: impl Fn(&str) -> String,
    (dst, txt): (&str, &str),
    refused: &str,
) {
    let r = p.run_with_env(&[], &[("DB_URL", url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // read: the row that fits exactly, the wide one refused, naming the column
    assert_eq!(
        r.summary("read"),
        "read: 2 in, 1 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    assert_eq!(
        p.read("out/read.jsonl"),
        format!("{{\"id\":1,\"amount\":{FITS}}}\n")
    );
    let read = dead(p, "read_dead.jsonl");
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(
        read.values().next(),
        Some(&format!("column `amount`: {}", too_many()))
    );
    // write: the wide number and the wide string refused as they are read
    assert_eq!(
        r.summary("write"),
        "write: 3 in, 1 delivered, 0 filtered, 2 failed, 2 dead-lettered"
    );
    let write = dead(p, "write_dead.jsonl");
    assert_eq!(
        write.keys().copied().collect::<Vec<_>>(),
        [2, 3],
        "{write:?}"
    );
    for why in write.values() {
        assert_eq!(why, &format!("field `amount`: {}", too_many()));
    }
    // text: the wide string refused for its column before it is sent
    assert_eq!(
        r.summary("text"),
        "text: 2 in, 1 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    let text = dead(p, "text_dead.jsonl");
    assert_eq!(text.keys().copied().collect::<Vec<_>>(), [4], "{text:?}");
    assert_eq!(text[&4], format!("{refused}{}", too_many()));
    // nothing rounded reached the table
    assert_eq!(rows(dst), format!("1|{FITS}"));
    assert_eq!(rows(txt), "5|0.5000000000");
}

#[test]
fn postgres_numeric_wider_than_a_decimal_is_refused_both_ways() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "postgres_numeric_wider_than_a_decimal_is_refused_both_ways",
    ) else {
        return;
    };
    let [src, dst, txt] = ["pg_dec_src", "pg_dec_dst", "pg_dec_txt"].map(unique_name);
    psql(
        &url,
        &format!(
            "CREATE TABLE {src} (id integer PRIMARY KEY, amount numeric(38,10) NOT NULL);
             CREATE TABLE {dst} (id integer PRIMARY KEY, amount numeric(38,10) NOT NULL);
             CREATE TABLE {txt} (id integer PRIMARY KEY, amount numeric(38,10) NOT NULL);
             INSERT INTO {src} VALUES (1, {FITS}), (2, {WIDE})"
        ),
    );
    let p = project("postgres", &src, &dst, &txt);
    let rows = |t: &str| psql(&url, &format!("SELECT id, amount FROM {t} ORDER BY id"));
    check(
        &p,
        &url,
        rows,
        (&dst, &txt),
        "db.insert: postgres `db`: column `amount` (numeric): ",
    );
    psql(&url, &format!("DROP TABLE {src}, {dst}, {txt}"));
}

#[test]
fn mysql_decimal_wider_than_a_decimal_is_refused_both_ways() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_MYSQL_URL",
        "mysql_decimal_wider_than_a_decimal_is_refused_both_ways",
    ) else {
        return;
    };
    let [src, dst, txt] = ["my_dec_src", "my_dec_dst", "my_dec_txt"].map(unique_name);
    mysql(
        &url,
        &format!(
            "CREATE TABLE {src} (id INT PRIMARY KEY, amount DECIMAL(38,10) NOT NULL);
             CREATE TABLE {dst} (id INT PRIMARY KEY, amount DECIMAL(38,10) NOT NULL);
             CREATE TABLE {txt} (id INT PRIMARY KEY, amount DECIMAL(38,10) NOT NULL);
             INSERT INTO {src} VALUES (1, {FITS}), (2, {WIDE})"
        ),
    );
    let p = project("mysql", &src, &dst, &txt);
    let rows = |t: &str| {
        mysql(&url, &format!("SELECT id, amount FROM {t} ORDER BY id")).replace('\t', "|")
    };
    check(
        &p,
        &url,
        rows,
        (&dst, &txt),
        "db.insert: mysql `db`: column `amount` (decimal(38,10)): ",
    );
    mysql(&url, &format!("DROP TABLE {src}, {dst}, {txt}"));
}
