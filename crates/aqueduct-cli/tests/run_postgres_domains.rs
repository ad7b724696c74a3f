//! PostgreSQL domains behave exactly like their base types, end to end
//! through `aqueduct run` against the real server: a table whose columns
//! are an `integer` domain, a domain over that domain, a `text` domain, a
//! `numeric(30,10)` domain (each with a CHECK), a `timestamptz` domain and
//! a domain over an enum is read by `query` (and an `enrich` lookup whose parameter
//! is cast to a domain) into a file with every value exact, written by
//! `insert` and `upsert` in batch mode (binary COPY) and in async mode with
//! every value exact and each CHECK violation in the dead letter with the
//! server's message, and read by `changes` (pgoutput in binary) through
//! inserts, updates and deletes into a file and an upsert target, every
//! value exact. The start-up preflight of targets and of `changes` takes
//! matching field types and refuses a mismatched one, naming the domain and
//! its base type.
//!
//! Each test drops its tables, domains, slot and publication at the end,
//! also when it fails. Needs `AQUEDUCT_TEST_POSTGRES_URL` (with
//! `wal_level = logical` for `changes`) and the `psql` client; without the
//! URL each test prints `SKIP: …` and passes, unless
//! `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use std::time::Duration;
use support::postgres::{drop_slot_sql, psql, slots, wait_for_slot};
use support::{Project, wait_until};

/// 29 significant digits: more than an `f64` keeps, what a decimal holds.
const FITS: &str = "1234567890123456789.0123456789";

/// The domains, tables, slot and publication of one test, dropped when it
/// ends (the running `aqueduct` is killed first, so the slot is not in use).
struct Fixture {
    url: String,
    /// The prefix of the domains: `{d}_pos` (integer > 0), `{d}_lvl`
    /// (a `{d}_pos` below 100), `{d}_email` (text with an `@`),
    /// `{d}_money` (numeric(30,10) ≥ 0), `{d}_at` (timestamptz) and
    /// `{d}_mood` (the enum `{d}_feel`).
    d: String,
    tables: Vec<String>,
    slot: String,
    publication: String,
}

impl Fixture {
    fn new(url: &str, prefix: &str) -> Fixture {
        let d = unique_name(&format!("{prefix}_d"));
        psql(
            url,
            &format!(
                "CREATE DOMAIN {d}_pos AS integer CHECK (VALUE > 0);
                 CREATE DOMAIN {d}_lvl AS {d}_pos CHECK (VALUE < 100);
                 CREATE DOMAIN {d}_email AS text CHECK (VALUE LIKE '%@%');
                 CREATE DOMAIN {d}_money AS numeric(30,10) CHECK (VALUE >= 0);
                 CREATE DOMAIN {d}_at AS timestamptz;
                 CREATE TYPE {d}_feel AS ENUM ('ok', 'great');
                 CREATE DOMAIN {d}_mood AS {d}_feel;"
            ),
        );
        Fixture {
            url: url.to_string(),
            slot: unique_name(&format!("{prefix}_slot")),
            publication: unique_name(&format!("{prefix}_pub")),
            d,
            tables: Vec::new(),
        }
    }

    /// Creates a table of the domain columns; its name.
    fn table(&mut self, prefix: &str) -> String {
        let t = unique_name(prefix);
        let d = &self.d;
        psql(
            &self.url,
            &format!(
                "CREATE TABLE {t} (id bigint PRIMARY KEY, n {d}_pos NOT NULL, lvl {d}_lvl,
                   email {d}_email NOT NULL, amount {d}_money, seen {d}_at,
                   mood {d}_mood)"
            ),
        );
        self.tables.push(t.clone());
        t
    }

    /// The rows of `table`, `|`-separated, times in UTC, NULL as `NULL`.
    fn rows(&self, table: &str) -> String {
        psql(
            &self.url,
            &format!(
                "SELECT id, n, coalesce(lvl::text, 'NULL'), email, coalesce(amount::text, 'NULL'),
                   coalesce(to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), 'NULL'),
                   coalesce(mood::text, 'NULL')
                 FROM {table} ORDER BY id"
            ),
        )
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let mut sql = format!(
            "{drop_slot}
             DROP PUBLICATION IF EXISTS {publication};",
            drop_slot = drop_slot_sql(&self.slot),
            publication = self.publication,
        );
        for t in &self.tables {
            sql.push_str(&format!("DROP TABLE IF EXISTS {t};"));
        }
        let d = &self.d;
        sql.push_str(&format!(
            "DROP DOMAIN IF EXISTS {d}_lvl, {d}_pos, {d}_email, {d}_money, {d}_at, {d}_mood CASCADE;
             DROP TYPE IF EXISTS {d}_feel CASCADE;"
        ));
        let _ = std::process::Command::new("psql")
            .arg(&self.url)
            .args(["-qAtX", "-c", &sql])
            .output();
    }
}

const ROW_TYPE: &str = "type Row { id: int, n: int, lvl: int?, email: string, amount: decimal?, seen: timestamp?, mood: string? }";

/// The error of each dead letter of `file`, by the `id` of its record.
fn dead_errors(p: &Project, file: &str) -> Vec<(i64, String)> {
    p.jsonl(file)
        .iter()
        .map(|d| {
            (
                d["record"]["id"].as_i64().unwrap_or(-1),
                d["error"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn domain_columns_read_and_write_exactly_as_their_base_types() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "domain_columns_read_and_write_exactly_as_their_base_types",
    ) else {
        return;
    };
    let mut f = Fixture::new(&url, "pgdom");
    let src = f.table("pgdom_src");
    let ins = f.table("pgdom_ins");
    let ups = f.table("pgdom_ups");
    let [b_ins, b_ups, a_ins, a_ups] =
        ["pgdom_bins", "pgdom_bups", "pgdom_ains", "pgdom_aups"].map(|t| f.table(t));
    let d = f.d.clone();
    psql(
        &url,
        &format!(
            "INSERT INTO {src} VALUES
               (1, 2147483647, 99, 'ann@example.com', {FITS}, '2024-05-01 12:34:56.789012+02', 'great'),
               (2, 1, NULL, 'b@x', 0.0000000001, NULL, NULL);
             INSERT INTO {ups} VALUES (1, 5, 5, 'old@x', 5, NULL, 'ok'), (3, 3, 3, 'untouched@x', 3, NULL, 'ok');"
        ),
    );
    let p = Project::new();
    // one good record first and last; between them one CHECK violation of
    // each domain (the outer one of the domain over a domain included)
    p.file(
        "in/rows.jsonl",
        format!(
            "{{\"id\":10,\"n\":7,\"lvl\":1,\"email\":\"c@x\",\"amount\":{FITS},\"seen\":\"2024-02-29T23:59:59.999999Z\",\"mood\":\"great\"}}
{{\"id\":11,\"n\":0,\"lvl\":null,\"email\":\"d@x\",\"amount\":null,\"seen\":null}}
{{\"id\":12,\"n\":3,\"lvl\":100,\"email\":\"e@x\",\"amount\":1,\"seen\":null}}
{{\"id\":13,\"n\":4,\"lvl\":0,\"email\":\"f@x\",\"amount\":1,\"seen\":null}}
{{\"id\":14,\"n\":4,\"lvl\":5,\"email\":\"no-at-sign\",\"amount\":0.5,\"seen\":null}}
{{\"id\":15,\"n\":5,\"lvl\":null,\"email\":\"g@x\",\"amount\":-0.0000000001,\"seen\":null}}
{{\"id\":16,\"n\":6,\"lvl\":50,\"email\":\"h@x\",\"amount\":0,\"seen\":\"1970-01-01T00:00:00Z\",\"mood\":\"ok\"}}
"
        ),
    )
    .file("in/keys.jsonl", "{\"n\":2147483647}\n{\"n\":1}\n{\"n\":42}\n")
    .file(
        "main.aq",
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL"), pool_size = 2 }}

{ROW_TYPE}
type Key {{ n: int }}
type Found {{ id: int, email: string, amount: decimal?, seen: timestamp? }}
type Out {{ n: int, id: int?, email: string?, amount: decimal?, seen: timestamp? }}

flow copy {{
  mode batch
  from pg.query("select * from {src} order by id") as Row
  to pg.insert("{ins}")
  to pg.upsert("{ups}", key: [id])
  to file("out").append("rows.jsonl")
}}

flow look {{
  mode async
  from file("in").read("keys.jsonl") as Key
  enrich found = pg.query("select id, email, amount, seen from {src} where n = {{.n}}::{d}_pos") as Found
  map Out {{ n = .n, id = $found.id, email = $found.email, amount = $found.amount, seen = $found.seen }}
  to file("out").append("found.jsonl")
  dead_letter file("out").append("found_dead.jsonl")
}}

flow batch_insert {{
  mode batch
  from file("in").read("rows.jsonl") as Row
  to pg.insert("{b_ins}")
  dead_letter file("out").append("batch_insert_dead.jsonl")
}}

flow batch_upsert {{
  mode batch
  from file("in").read("rows.jsonl") as Row
  to pg.upsert("{b_ups}", key: [id])
  dead_letter file("out").append("batch_upsert_dead.jsonl")
}}

flow async_insert {{
  mode async
  from file("in").read("rows.jsonl") as Row
  to pg.insert("{a_ins}")
  dead_letter file("out").append("async_insert_dead.jsonl")
}}

flow async_upsert {{
  mode async
  from file("in").read("rows.jsonl") as Row
  to pg.upsert("{a_ups}", key: [id])
  dead_letter file("out").append("async_upsert_dead.jsonl")
}}
"#
        ),
    );
    let r = p.run_with_env(&[], &[("PG_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // query: every value exact (the decimal digit for digit, the time in UTC)
    assert_eq!(
        r.summary("copy"),
        "copy: 2 in, 6 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        p.read("out/rows.jsonl"),
        format!(
            "{{\"id\":1,\"n\":2147483647,\"lvl\":99,\"email\":\"ann@example.com\",\"amount\":{FITS},\"seen\":\"2024-05-01T10:34:56.789012Z\",\"mood\":\"great\"}}\n\
             {{\"id\":2,\"n\":1,\"lvl\":null,\"email\":\"b@x\",\"amount\":0.0000000001,\"seen\":null,\"mood\":null}}\n"
        )
    );
    // batch insert (COPY) and upsert wrote the same values back
    let src_rows = f.rows(&src);
    assert_eq!(
        src_rows,
        format!(
            "1|2147483647|99|ann@example.com|{FITS}|2024-05-01 10:34:56.789012|great\n\
             2|1|NULL|b@x|0.0000000001|NULL|NULL"
        )
    );
    assert_eq!(f.rows(&ins), src_rows);
    assert_eq!(
        f.rows(&ups),
        format!("{src_rows}\n3|3|3|untouched@x|3.0000000000|NULL|ok"),
        "upsert updated row 1, inserted row 2 and left row 3"
    );

    // a lookup whose parameter the server types as the domain
    assert_eq!(
        r.summary("look"),
        "look: 3 in, 3 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        p.read("out/found.jsonl"),
        format!(
            "{{\"n\":2147483647,\"id\":1,\"email\":\"ann@example.com\",\"amount\":{FITS},\"seen\":\"2024-05-01T10:34:56.789012Z\"}}\n\
             {{\"n\":1,\"id\":2,\"email\":\"b@x\",\"amount\":0.0000000001,\"seen\":null}}\n\
             {{\"n\":42,\"id\":null,\"email\":null,\"amount\":null,\"seen\":null}}\n"
        )
    );

    // writes from a file, batch (COPY) and async: the good records exact,
    // each CHECK violation dead-lettered with the server's message
    let written = format!(
        "10|7|1|c@x|{FITS}|2024-02-29 23:59:59.999999|great\n16|6|50|h@x|0.0000000000|1970-01-01 00:00:00.000000|ok"
    );
    let violation = |domain: &str, check: &str| {
        format!("value for domain {d}_{domain} violates check constraint \"{d}_{check}_check\"")
    };
    // `lvl` 0 breaks the CHECK of the domain under it
    let expected_dead = [
        (11, violation("pos", "pos")),
        (12, violation("lvl", "lvl")),
        (13, violation("lvl", "pos")),
        (14, violation("email", "email")),
        (15, violation("money", "money")),
    ];
    for (flow, table) in [
        ("batch_insert", &b_ins),
        ("batch_upsert", &b_ups),
        ("async_insert", &a_ins),
        ("async_upsert", &a_ups),
    ] {
        assert_eq!(
            r.summary(flow),
            format!("{flow}: 7 in, 2 delivered, 0 filtered, 5 failed, 5 dead-lettered"),
            "{}",
            r.stderr
        );
        assert_eq!(f.rows(table), written, "{flow}");
        let mut dead = dead_errors(&p, &format!("out/{flow}_dead.jsonl"));
        dead.sort();
        assert_eq!(
            dead.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            expected_dead.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            "{flow}: {dead:?}"
        );
        for ((id, error), (_, why)) in dead.iter().zip(&expected_dead) {
            assert!(
                error.contains(why),
                "{flow}: record {id} is dead-lettered with the server's message `{why}`: {error}"
            );
        }
    }
}

#[test]
fn domain_column_changes_arrive_exactly() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "domain_column_changes_arrive_exactly",
    ) else {
        return;
    };
    let mut f = Fixture::new(&url, "pgdomcdc");
    let src = f.table("pgdomcdc_src");
    let dst = f.table("pgdomcdc_dst");
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL"), pool_size = 3 }}

type Change {{ id: int, n: int?, lvl: int?, email: string?, amount: decimal?, seen: timestamp?, mood: string?, _op: string }}
type Item {{ id: int, n: int?, lvl: int?, email: string?, amount: decimal?, seen: timestamp?, mood: string? }}

flow mirror {{
  mode async
  from pg.changes("{src}", publication: "{publication}", slot: "{slot}") as Change
  tap file("out").append("changes.jsonl")
  route {{
    when ._op == "delete" => {{
      map Item {{ ... }}
      to pg.delete("{dst}", key: [id])
    }}
    else => {{
      map Item {{ ... }}
      to pg.upsert("{dst}", key: [id])
    }}
  }}
  dead_letter file("dlq").append("dead.jsonl")
}}
"#,
            publication = f.publication,
            slot = f.slot
        ),
    );
    let mut running = p.spawn_with_env(&[], &[("PG_URL", &url)]);
    wait_for_slot(&url, &f.slot, Duration::from_secs(20), &running);
    // one transaction per step: the records keep commit order
    for sql in [
        format!(
            "INSERT INTO {src} VALUES (1, 2147483647, 99, 'ann@example.com', {FITS}, '2024-05-01 12:34:56.789012+02', 'great')"
        ),
        format!("INSERT INTO {src} (id, n, email) VALUES (2, 1, 'b@x')"),
        format!(
            "UPDATE {src} SET n = 12345, lvl = NULL, email = 'ann@new.example', amount = 0.0000000001,
               seen = '1999-12-31 23:59:59.000001+00', mood = 'ok' WHERE id = 1"
        ),
        format!(
            "UPDATE {src} SET lvl = 1, amount = 9999999999999999.9999999999, seen = '2000-01-01 00:00:00+00' WHERE id = 2"
        ),
        format!("DELETE FROM {src} WHERE id = 2"),
        format!("INSERT INTO {src} VALUES (3, 3, 3, 'c@x', 0, '1970-01-01 00:00:00+00', 'great')"),
    ] {
        psql(&url, &sql);
    }
    assert!(
        wait_until(Duration::from_secs(30), || p
            .read("out/changes.jsonl")
            .lines()
            .count()
            >= 6
            && f.rows(&dst) == f.rows(&src)),
        "every change arrives: {}\n{}",
        p.read("out/changes.jsonl"),
        running.stderr()
    );
    let r = running.terminate(Duration::from_secs(20));
    // each change delivered to the tap and to the upsert or delete target
    assert_eq!(
        r.summary("mirror"),
        "mirror: 6 in, 12 delivered, 0 filtered, 0 failed, 0 dead-lettered",
        "{}",
        r.stderr
    );
    assert_eq!(
        p.read("out/changes.jsonl"),
        format!(
            "{{\"id\":1,\"n\":2147483647,\"lvl\":99,\"email\":\"ann@example.com\",\"amount\":{FITS},\"seen\":\"2024-05-01T10:34:56.789012Z\",\"mood\":\"great\",\"_op\":\"insert\"}}\n\
             {{\"id\":2,\"n\":1,\"lvl\":null,\"email\":\"b@x\",\"amount\":null,\"seen\":null,\"mood\":null,\"_op\":\"insert\"}}\n\
             {{\"id\":1,\"n\":12345,\"lvl\":null,\"email\":\"ann@new.example\",\"amount\":0.0000000001,\"seen\":\"1999-12-31T23:59:59.000001Z\",\"mood\":\"ok\",\"_op\":\"update\"}}\n\
             {{\"id\":2,\"n\":1,\"lvl\":1,\"email\":\"b@x\",\"amount\":9999999999999999.9999999999,\"seen\":\"2000-01-01T00:00:00Z\",\"mood\":null,\"_op\":\"update\"}}\n\
             {{\"id\":2,\"n\":null,\"lvl\":null,\"email\":null,\"amount\":null,\"seen\":null,\"mood\":null,\"_op\":\"delete\"}}\n\
             {{\"id\":3,\"n\":3,\"lvl\":3,\"email\":\"c@x\",\"amount\":0.0000000000,\"seen\":\"1970-01-01T00:00:00Z\",\"mood\":\"great\",\"_op\":\"insert\"}}\n"
        )
    );
    // the upsert target holds the source's rows, value for value
    assert_eq!(
        f.rows(&dst),
        format!(
            "1|12345|NULL|ann@new.example|0.0000000001|1999-12-31 23:59:59.000001|ok\n\
             3|3|3|c@x|0.0000000000|1970-01-01 00:00:00.000000|great"
        )
    );
    assert_eq!(f.rows(&dst), f.rows(&src));
}

#[test]
fn the_preflight_reads_a_domain_as_its_base_type_and_names_both() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "the_preflight_reads_a_domain_as_its_base_type_and_names_both",
    ) else {
        return;
    };
    let mut f = Fixture::new(&url, "pgdomchk");
    let t = f.table("pgdomchk_t");
    let d = f.d.clone();
    let p = Project::new();
    let project = |row: &str, change: &str| {
        format!(
            r#"system pg: postgres {{ url = secret("PG_URL") }}

type Row {{ {row} }}
type Change {{ {change}, _op: string }}

flow load {{
  mode batch
  from file("in").read("rows.jsonl") as Row
  to pg.upsert("{t}", key: [id])
}}

flow mirror {{
  mode async
  from pg.changes("{t}", publication: "{publication}", slot: "{slot}") as Change
  to file("out").append("changes.jsonl")
  dead_letter file("dlq").append("dead.jsonl")
}}
"#,
            publication = f.publication,
            slot = f.slot
        )
    };
    p.file("in/rows.jsonl", "");
    let env = [("PG_URL", url.as_str())];
    // matching types (and a string field on the int domain, as for integer)
    p.file(
        "main.aq",
        project(
            "id: int, n: int, lvl: int?, email: string, amount: decimal?, seen: timestamp?, mood: string?",
            "id: int, n: string?, lvl: int?, email: string?, amount: decimal?, seen: timestamp?, mood: string?",
        ),
    );
    let check = p.check_connect(&env);
    assert_eq!(check.code, 0, "{}", check.unwrapped());
    // mismatched ones, each named with the domain and its base type
    p.file(
        "main.aq",
        project(
            "id: int, n: bool, lvl: int?, email: string, amount: date?, seen: timestamp?",
            "id: int, n: date?, lvl: int?, email: int?, amount: decimal?, seen: date?, mood: int?",
        ),
    );
    let check = p.check_connect(&env);
    let text = check.unwrapped();
    assert_eq!(check.code, 1, "{text}");
    for problem in [
        format!(
            "column `n` of `{t}` is {d}_pos (a domain over int4), which cannot take field `n: bool`"
        ),
        format!(
            "column `amount` of `{t}` is {d}_money (a domain over numeric), which cannot take field `amount: date?`"
        ),
        format!(
            "column `n` of `{t}` is {d}_pos (a domain over integer), which cannot be read into field `n: date?`"
        ),
        format!(
            "column `email` of `{t}` is {d}_email (a domain over text), which cannot be read into field `email: int?`"
        ),
        format!(
            "column `seen` of `{t}` is {d}_at (a domain over timestamp with time zone), which cannot be read into field `seen: date?`"
        ),
        format!(
            "column `mood` of `{t}` is {d}_mood (a domain over {d}_feel), which cannot be read into field `mood: int?`"
        ),
    ] {
        assert!(text.contains(&problem), "{problem}\n{text}");
    }
    // `check --connect` makes no slot
    assert_eq!(slots(&url, &f.slot), "0");
}
