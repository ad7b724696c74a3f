//! Every column type through change data capture, end to end through
//! `aqueduct run` against the real servers: `postgres.changes` (pgoutput)
//! and `mysql.changes` (the row-based binlog) of a table holding an int,
//! a float, a decimal that `f64` would round, a bool, text, a date, a
//! timestamp (to the microsecond), JSON, bytes that are not UTF-8 and NULL
//! in every nullable column, each inserted, updated to NULL and back to
//! other values, and deleted. The change records, appended to a JSONL
//! file, must carry exactly those values, the `_op` of each change and the
//! key of each delete. On MariaDB a `DECIMAL(38,10)` value of 35 digits,
//! more than a `decimal` holds, must go to the dead letter as an error of
//! its record while the flow goes on; and unsigned integers above the
//! signed range, `ENUM`, `SET` and `YEAR`, which the binlog carries as a
//! wrapped negative, an index, a bit mask and text, must arrive as the
//! values `query` reads.
//!
//! Each PostgreSQL test drops its slot and publication at the end, also
//! when it fails (an abandoned slot keeps WAL on the shared server). Needs
//! `AQUEDUCT_TEST_POSTGRES_URL` / `AQUEDUCT_TEST_MYSQL_URL` and the `psql`
//! / `mysql` clients; without a URL the test prints `SKIP: …` and passes,
//! unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use serde_json::{Value, json};
use std::time::Duration;
use support::mysql::mysql;
use support::postgres::{drop_slot_sql, psql, wait_for_slot};
use support::{Project, wait_until};

/// 35 significant digits: more than a `decimal` holds (28).
const WIDE: &str = "1234567890123456789012345.1234567891";

/// The text of field `name` in one JSON line, as written: a decimal is
/// compared digit for digit, which parsing the line into an `f64` would hide.
fn raw_field(line: &str, name: &str) -> String {
    let key = format!("\"{name}\":");
    let Some(start) = line.find(&key).map(|i| i + key.len()) else {
        return format!("<no {name} in {line}>");
    };
    let rest = &line[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].to_string()
}

/// The change records of `file`: each line parsed, with the text of the
/// fields `as_written` put back as strings. Decimals and floats are
/// compared as written: serde_json parses some floats (`-1.5e-300`) one
/// unit off in the last place, and decimals into an `f64`.
fn changes(p: &Project, file: &str, as_written: &[&str]) -> Vec<Value> {
    p.read(file)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("`{line}` is not JSON: {e}"));
            for name in as_written {
                v[*name] = Value::String(raw_field(line, name));
            }
            v
        })
        .collect()
}

/// The table, slot and publication of the PostgreSQL test, dropped when it
/// ends (the running `aqueduct` is killed first, so the slot is not in use).
struct PgFixture {
    url: String,
    table: String,
    slot: String,
    publication: String,
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        let sql = format!(
            "{drop_slot}
             DROP PUBLICATION IF EXISTS {publication};
             DROP TABLE IF EXISTS {table}",
            drop_slot = drop_slot_sql(&self.slot),
            publication = self.publication,
            table = self.table
        );
        let _ = std::process::Command::new("psql")
            .arg(&self.url)
            .args(["-qAtX", "-c", &sql])
            .output();
    }
}

#[test]
fn postgres_changes_deliver_every_type_exactly_with_nulls_and_deletes_by_key() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "postgres_changes_deliver_every_type_exactly_with_nulls_and_deletes_by_key",
    ) else {
        return;
    };
    let f = PgFixture {
        url: url.clone(),
        table: unique_name("cdctypes_src"),
        slot: unique_name("cdctypes_slot"),
        publication: unique_name("cdctypes_pub"),
    };
    psql(
        &url,
        &format!(
            "CREATE TABLE {} (id bigint PRIMARY KEY, big bigint, ratio double precision,
               amount numeric(20,6), active boolean, name text, born date, seen timestamptz,
               doc jsonb, raw json, blob bytea)",
            f.table
        ),
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL") }}

type Row {{ id: int, big: int?, ratio: float?, amount: decimal?, active: bool?, name: string?,
  born: date?, seen: timestamp?, doc: json?, raw: json?, blob: bytes?, _op: string }}

flow types {{
  mode async
  from pg.changes("{table}", publication: "{publication}", slot: "{slot}") as Row
  to file("out").append("changes.jsonl")
  dead_letter file("dlq").append("dead.jsonl")
}}
"#,
            table = f.table,
            publication = f.publication,
            slot = f.slot
        ),
    );
    let mut running = p.spawn_with_env(&[], &[("PG_URL", &url)]);
    wait_for_slot(&url, &f.slot, Duration::from_secs(20), &running);
    // one transaction per step: the records must keep commit order too
    let t = &f.table;
    for sql in [
        format!(
            "INSERT INTO {t} VALUES (1, 9223372036854775807, 0.1, 12345678901234.123456, true,
               'héllo ''quoted'' ✓', '2024-02-29', '2024-05-01 12:34:56.789012+02',
               '{{\"a\": [1, 2.5, \"x\"], \"b\": null, \"c\": {{\"d\": \"é\"}}, \"n\": 9007199254740993}}',
               '[1, \"two\", {{\"three\": 3}}]', '\\x00ff10fe80')"
        ),
        format!("INSERT INTO {t} (id) VALUES (2)"),
        format!(
            "UPDATE {t} SET big = NULL, ratio = NULL, amount = NULL, active = NULL, name = NULL,
               born = NULL, seen = NULL, doc = NULL, raw = NULL, blob = NULL WHERE id = 1"
        ),
        format!(
            "UPDATE {t} SET big = -9223372036854775808, ratio = -1.5e-300,
               amount = -99999999999999.999999, active = false, name = '', born = '1970-01-01',
               seen = '1999-12-31 23:59:59.000001+00', doc = '[]', raw = '\"text\"', blob = '\\x'
             WHERE id = 2"
        ),
        format!(
            "UPDATE {t} SET big = 0, ratio = 3.141592653589793, amount = 0.000001, active = true,
               name = 'back', born = '2000-01-01', seen = '2000-01-01 00:00:00+00',
               doc = '{{\"k\": \"v\"}}', raw = '{{}}', blob = '\\xdeadbeef' WHERE id = 1"
        ),
        format!("DELETE FROM {t} WHERE id = 1"),
        format!("DELETE FROM {t} WHERE id = 2"),
    ] {
        psql(&url, &sql);
    }
    assert!(
        wait_until(Duration::from_secs(30), || p
            .read("out/changes.jsonl")
            .lines()
            .count()
            >= 7),
        "every change arrives: {}\n{}",
        p.read("out/changes.jsonl"),
        running.stderr()
    );
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(
        r.summary("types"),
        "types: 7 in, 7 delivered, 0 filtered, 0 failed, 0 dead-lettered",
        "{}",
        r.stderr
    );
    let null_row = |id: i64, op: &str| {
        json!({"id": id, "big": null, "ratio": "null", "amount": "null", "active": null,
               "name": null, "born": null, "seen": null, "doc": null, "raw": null, "blob": null,
               "_op": op})
    };
    let expected = [
        // numeric(20,6) digit for digit (an f64 holds 12345678901234.123);
        // the timestamp in UTC to the microsecond; bytes in base64
        json!({"id": 1, "big": 9223372036854775807_i64, "ratio": "0.1",
               "amount": "12345678901234.123456", "active": true, "name": "héllo 'quoted' ✓",
               "born": "2024-02-29", "seen": "2024-05-01T10:34:56.789012Z",
               "doc": {"a": [1, 2.5, "x"], "b": null, "c": {"d": "é"}, "n": 9007199254740993_u64},
               "raw": [1, "two", {"three": 3}], "blob": "AP8Q/oA=", "_op": "insert"}),
        null_row(2, "insert"),
        null_row(1, "update"),
        // an empty string and empty bytes are values, not NULL
        json!({"id": 2, "big": -9223372036854775808_i64, "ratio": "-1.5e-300",
               "amount": "-99999999999999.999999", "active": false, "name": "",
               "born": "1970-01-01", "seen": "1999-12-31T23:59:59.000001Z", "doc": [],
               "raw": "text", "blob": "", "_op": "update"}),
        json!({"id": 1, "big": 0, "ratio": "3.141592653589793", "amount": "0.000001",
               "active": true, "name": "back", "born": "2000-01-01",
               "seen": "2000-01-01T00:00:00Z", "doc": {"k": "v"}, "raw": {}, "blob": "3q2+7w==",
               "_op": "update"}),
        // a delete carries the key (the replica identity) and null for the rest
        null_row(1, "delete"),
        null_row(2, "delete"),
    ];
    let got = changes(&p, "out/changes.jsonl", &["ratio", "amount"]);
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (i, (got, want)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "change {i}");
    }
    assert!(!p.path("dlq/dead.jsonl").exists(), "no dead letters");
}

/// The MariaDB table of the test, dropped when it ends.
struct MyTable {
    url: String,
    name: String,
}

impl Drop for MyTable {
    fn drop(&mut self) {
        let _ =
            support::mysql::try_mysql(&self.url, &format!("DROP TABLE IF EXISTS {}", self.name));
    }
}

#[test]
fn mysql_changes_deliver_every_type_exactly_and_a_too_wide_decimal_is_dead_lettered() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_MYSQL_URL",
        "mysql_changes_deliver_every_type_exactly_and_a_too_wide_decimal_is_dead_lettered",
    ) else {
        return;
    };
    let table = MyTable {
        url: url.clone(),
        name: unique_name("cdctypes_my"),
    };
    let t = table.name.as_str();
    mysql(
        &url,
        &format!(
            "CREATE TABLE {t} (id BIGINT PRIMARY KEY, big BIGINT NULL, ratio DOUBLE NULL,
               amount DECIMAL(20,6) NULL, active BOOL NULL, name VARCHAR(64) NULL, born DATE NULL,
               seen TIMESTAMP(6) NULL DEFAULT NULL, at DATETIME(6) NULL, doc JSON NULL,
               bin VARBINARY(16) NULL, data BLOB NULL, wide DECIMAL(38,10) NULL)
             DEFAULT CHARSET = utf8mb4"
        ),
    );
    // a replica id of its own: other tests may read the same server's binlog
    let server_id = 5_000_000 + std::process::id() % 1_000_000;
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system my: mysql {{ url = secret("MY_URL") }}

type Row {{ id: int, big: int?, ratio: float?, amount: decimal?, active: bool?, name: string?,
  born: date?, seen: timestamp?, at: timestamp?, doc: json?, bin: bytes?, data: bytes?,
  wide: decimal?, _op: string }}

flow types {{
  mode async
  from my.changes("{t}", server_id: {server_id}) as Row
  to file("out").append("changes.jsonl")
  dead_letter file("dlq").append("dead.jsonl")
}}
"#
        ),
    );
    let mut running = p.spawn_with_env(&[], &[("MY_URL", &url)]);
    // the flow reads changes made after its first position is stored
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
    // TIMESTAMP is written by a +05:30 session (the instant is what
    // arrives); DATETIME has no zone and arrives as written, read as UTC
    let session = "SET NAMES utf8mb4; SET time_zone = '+05:30';";
    for sql in [
        format!(
            "INSERT INTO {t} VALUES (1, 9223372036854775807, 0.1, 12345678901234.123456, TRUE,
               'héllo ''quoted'' ✓', '2024-02-29', '2024-05-01 16:04:56.789012',
               '2024-05-01 16:04:56.789012', '{{\"a\": [1, 2.5, \"x\"], \"b\": null, \"c\": {{\"d\": \"é\"}}, \"n\": 9007199254740993}}',
               X'00ff10fe80', X'80', 1234567890123456789.0123456789)"
        ),
        format!("INSERT INTO {t} (id) VALUES (2)"),
        format!(
            "UPDATE {t} SET big = NULL, ratio = NULL, amount = NULL, active = NULL, name = NULL,
               born = NULL, seen = NULL, at = NULL, doc = NULL, bin = NULL, data = NULL, wide = NULL
             WHERE id = 1"
        ),
        format!(
            "UPDATE {t} SET big = -9223372036854775808, ratio = -1.5e-300,
               amount = -99999999999999.999999, active = FALSE, name = '', born = '1970-01-01',
               seen = '1970-01-01 05:30:01.000001', at = '1000-01-01 00:00:00.000001', doc = '[]',
               bin = X'', data = X'fffe', wide = -0.0000000001
             WHERE id = 2"
        ),
        format!(
            "UPDATE {t} SET big = 0, ratio = 3.141592653589793, amount = 0.000001, active = TRUE,
               name = 'back', born = '2000-01-01', seen = '2038-01-19 08:44:07.999999',
               at = '9999-12-31 23:59:59.999999', doc = '{{\"k\": \"v\"}}', bin = X'deadbeef',
               data = X'00', wide = 1.5
             WHERE id = 1"
        ),
        // more digits than a decimal holds: an error of this record alone
        format!("INSERT INTO {t} (id, wide) VALUES (3, {WIDE})"),
        // whole seconds: TIMESTAMP2 and DATETIME2 without a fraction
        format!(
            "UPDATE {t} SET wide = 2, seen = '2000-01-01 05:30:00', at = '2000-01-01 00:00:00'
             WHERE id = 3"
        ),
        format!("DELETE FROM {t} WHERE id = 1"),
        format!("DELETE FROM {t} WHERE id = 2"),
        format!("DELETE FROM {t} WHERE id = 3"),
    ] {
        mysql(&url, &format!("{session} {sql}"));
    }
    assert!(
        wait_until(Duration::from_secs(30), || {
            p.read("out/changes.jsonl").lines().count() >= 9
                && p.read("dlq/dead.jsonl").lines().count() >= 1
        }),
        "every change arrives: {}\ndead: {}\n{}",
        p.read("out/changes.jsonl"),
        p.read("dlq/dead.jsonl"),
        running.stderr()
    );
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(
        r.summary("types"),
        "types: 10 in, 9 delivered, 0 filtered, 1 failed, 1 dead-lettered",
        "{}",
        r.stderr
    );
    let null_row = |id: i64, op: &str| {
        json!({"id": id, "big": null, "ratio": "null", "amount": "null", "active": null,
               "name": null, "born": null, "seen": null, "at": null, "doc": null, "bin": null,
               "data": null, "wide": "null", "_op": op})
    };
    let first = json!({"id": 1, "big": 9223372036854775807_i64, "ratio": "0.1",
        "amount": "12345678901234.123456", "active": true, "name": "héllo 'quoted' ✓",
        "born": "2024-02-29", "seen": "2024-05-01T10:34:56.789012Z",
        "at": "2024-05-01T16:04:56.789012Z",
        "doc": {"a": [1, 2.5, "x"], "b": null, "c": {"d": "é"}, "n": 9007199254740993_u64},
        "bin": "AP8Q/oA=", "data": "gA==", "wide": "1234567890123456789.0123456789", "_op": "insert"});
    let second = json!({"id": 2, "big": -9223372036854775808_i64, "ratio": "-1.5e-300",
        "amount": "-99999999999999.999999", "active": false, "name": "", "born": "1970-01-01",
        "seen": "1970-01-01T00:00:01.000001Z", "at": "1000-01-01T00:00:00.000001Z", "doc": [],
        "bin": "", "data": "//4=", "wide": "-0.0000000001", "_op": "update"});
    let back = json!({"id": 1, "big": 0, "ratio": "3.141592653589793", "amount": "0.000001",
        "active": true, "name": "back", "born": "2000-01-01",
        "seen": "2038-01-19T03:14:07.999999Z", "at": "9999-12-31T23:59:59.999999Z",
        "doc": {"k": "v"}, "bin": "3q2+7w==", "data": "AA==", "wide": "1.5000000000",
        "_op": "update"});
    let with = |row: &Value, op: &str| {
        let mut row = row.clone();
        row["_op"] = json!(op);
        row
    };
    let mut third = null_row(3, "update");
    third["wide"] = json!("2.0000000000");
    third["seen"] = json!("2000-01-01T00:00:00Z");
    third["at"] = json!("2000-01-01T00:00:00Z");
    let expected = [
        first,
        null_row(2, "insert"),
        null_row(1, "update"),
        second.clone(),
        back.clone(),
        // the insert of id 3 is in the dead letter; its update is not
        third.clone(),
        // the full row image: a delete carries the key and every column
        with(&back, "delete"),
        with(&second, "delete"),
        with(&third, "delete"),
    ];
    let got = changes(&p, "out/changes.jsonl", &["ratio", "amount", "wide"]);
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (i, (got, want)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "change {i}");
    }
    // not rounded, not a stopped flow: the record alone, with the column
    let dead = p.jsonl("dlq/dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(
        dead[0]["error"],
        format!(
            "column `wide`: {WIDE} has more digits than a decimal holds exactly (28 significant digits, at most 28 after the point)"
        ),
        "{}",
        dead[0]
    );
    let raw: Value = dead[0]["raw"]
        .as_str()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    assert_eq!(
        (&raw["id"], &raw["_op"]),
        (&json!(3), &json!("insert")),
        "{}",
        dead[0]
    );
}

#[test]
fn mysql_changes_read_unsigned_ints_enum_set_and_year_as_their_values() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_MYSQL_URL",
        "mysql_changes_read_unsigned_ints_enum_set_and_year_as_their_values",
    ) else {
        return;
    };
    let table = MyTable {
        url: url.clone(),
        name: unique_name("cdcenum_my"),
    };
    let t = table.name.as_str();
    mysql(
        &url,
        &format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, kind ENUM('Small','Big') NULL,
               tags SET('A','b','C') NULL, y YEAR NULL, u BIGINT UNSIGNED NULL,
               ui INT UNSIGNED NULL, tu TINYINT UNSIGNED NULL)"
        ),
    );
    let server_id = 6_000_000 + std::process::id() % 1_000_000;
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system my: mysql {{ url = secret("MY_URL") }}

type Row {{ id: int, kind: string?, tags: string?, y: int?, u: decimal?, ui: int?, tu: int?,
  _op: string }}

flow types {{
  mode async
  from my.changes("{t}", server_id: {server_id}) as Row
  to file("out").append("changes.jsonl")
  dead_letter file("dlq").append("dead.jsonl")
}}
"#
        ),
    );
    let mut running = p.spawn_with_env(&[], &[("MY_URL", &url)]);
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
    for sql in [
        format!(
            "INSERT INTO {t} VALUES (1, 'Big', 'C,A', 2024, 18446744073709551615, 4294967295, 255)"
        ),
        format!(
            "UPDATE {t} SET kind = 'Small', tags = '', y = 1901, u = 9223372036854775808,
               ui = 2147483648, tu = 128 WHERE id = 1"
        ),
        format!("DELETE FROM {t} WHERE id = 1"),
    ] {
        mysql(&url, &sql);
    }
    assert!(
        wait_until(Duration::from_secs(30), || p
            .read("out/changes.jsonl")
            .lines()
            .count()
            >= 3),
        "every change arrives: {}\ndead: {}\n{}",
        p.read("out/changes.jsonl"),
        p.read("dlq/dead.jsonl"),
        running.stderr()
    );
    running.terminate(Duration::from_secs(20));
    // the binlog carries an ENUM's index, a SET's bit mask and unsigned
    // ints without their flag; the records carry the values
    let first = json!({"id": 1, "kind": "Big", "tags": "A,C", "y": 2024,
        "u": "18446744073709551615", "ui": 4294967295_u64, "tu": 255, "_op": "insert"});
    let second = json!({"id": 1, "kind": "Small", "tags": "", "y": 1901,
        "u": "9223372036854775808", "ui": 2147483648_u64, "tu": 128, "_op": "update"});
    let mut gone = second.clone();
    gone["_op"] = json!("delete");
    assert_eq!(
        changes(&p, "out/changes.jsonl", &["u"]),
        [first, second, gone]
    );
    assert!(!p.path("dlq/dead.jsonl").exists(), "no dead letters");
}
