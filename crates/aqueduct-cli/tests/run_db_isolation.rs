//! A `batch` chunk with rows the database refuses, through `aqueduct run`
//! against the real PostgreSQL and MariaDB: `insert` and `upsert` of 5,001
//! records (chunks of 1,000) with a key that already exists, a key repeated
//! in a chunk, a NULL for a NOT NULL column, a CHECK violation and a value
//! too long. Every good record lands exactly once, each bad one is in the
//! dead letter once with the server's message, and the run exits 0; without
//! a dead letter the run fails. Also: a MariaDB deadlock in the middle of a
//! chunk's load is retried, and the MariaDB and PostgreSQL pools keep
//! their connections open between writes, never more than `pool_size`.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL` and `AQUEDUCT_TEST_MYSQL_URL` with
//! their `psql` and `mysql` clients; without a URL its tests print
//! `SKIP: …` and pass, unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::Project;
use support::mysql::mysql;
use support::postgres::psql;

/// The input: ids 0..5000 (`qty` = id, `note` = `n`), with id 2500 again
/// right after 2501 (`qty` 1), and four bad records: 10 (a key that
/// exists, for `insert`), 777 (`qty` null), 1500 (`qty` -5, under the
/// CHECK), 3333 (`note` of 7 characters, over varchar(5)).
fn input() -> String {
    let mut text = String::new();
    for id in 0..5000 {
        let line = match id {
            777 => format!("{{\"id\":{id},\"qty\":null,\"note\":\"n\"}}\n"),
            1500 => format!("{{\"id\":{id},\"qty\":-5,\"note\":\"n\"}}\n"),
            3333 => format!("{{\"id\":{id},\"qty\":{id},\"note\":\"toolong\"}}\n"),
            _ => format!("{{\"id\":{id},\"qty\":{id},\"note\":\"n\"}}\n"),
        };
        text.push_str(&line);
        if id == 2501 {
            text.push_str("{\"id\":2500,\"qty\":1,\"note\":\"again\"}\n");
        }
    }
    text
}

/// The project: `insert` and `upsert` flows of the input, each with its
/// own dead letter.
fn project(system: &str, ins: &str, ups: &str) -> Project {
    let p = Project::new();
    p.file("in/rows.jsonl", input()).file(
        "main.aq",
        format!(
            r#"
system db: {system} {{ url = secret("DB_URL") }}

type Row {{ id: int, qty: int?, note: string? }}

flow ins {{
  mode batch chunk 1000
  from file("in").read("rows.jsonl") as Row
  to db.insert("{ins}")
  dead_letter file("out").append("ins_dead.jsonl")
}}

flow ups {{
  mode batch chunk 1000
  from file("in").read("rows.jsonl") as Row
  to db.upsert("{ups}", key: [id])
  dead_letter file("out").append("ups_dead.jsonl")
}}
"#
        ),
    );
    p
}

/// Each dead-lettered record's id and error, by id.
fn dead(p: &Project, file: &str) -> BTreeMap<i64, String> {
    let entries = p.jsonl(&format!("out/{file}"));
    let mut by_id = BTreeMap::new();
    for e in &entries {
        let id = e["record"]["id"].as_i64().expect("a record with an id");
        let error = e["error"].as_str().unwrap_or_default().to_string();
        assert!(
            by_id.insert(id, error).is_none(),
            "{id} dead-lettered twice: {entries:?}"
        );
    }
    by_id
}

/// `id|qty|note` of every row the tables must hold after the run: the good
/// records, and for `insert` the row 10 that was there before.
fn expected(upsert: bool) -> String {
    let mut rows = Vec::new();
    for id in 0..5000 {
        match id {
            777 | 1500 | 3333 => continue,
            10 if !upsert => rows.push("10|-1|old".to_string()),
            2500 if upsert => rows.push("2500|1|again".to_string()),
            _ => rows.push(format!("{id}|{id}|n")),
        }
    }
    rows.join("\n")
}

#[test]
fn postgres_batch_chunks_set_refused_rows_aside_for_the_dead_letter() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "postgres_batch_chunks_set_refused_rows_aside_for_the_dead_letter",
    ) else {
        return;
    };
    let (ins, ups) = (unique_name("pg_iso_ins"), unique_name("pg_iso_ups"));
    for t in [&ins, &ups] {
        psql(
            &url,
            &format!(
                "CREATE TABLE {t} (id bigint PRIMARY KEY, qty bigint NOT NULL CONSTRAINT {t}_qty_ok CHECK (qty >= 0 OR id = 10), note varchar(5));
                 INSERT INTO {t} VALUES (10, -1, 'old')"
            ),
        );
    }
    let p = project("postgres", &ins, &ups);
    let r = p.run_with_env(&[], &[("DB_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("ins"),
        "ins: 5001 in, 4996 delivered, 0 filtered, 5 failed, 5 dead-lettered"
    );
    assert_eq!(
        r.summary("ups"),
        "ups: 5001 in, 4998 delivered, 0 filtered, 3 failed, 3 dead-lettered"
    );
    let table = |t: &str| {
        psql(
            &url,
            &format!("SELECT id, qty, coalesce(note, 'NULL') FROM {t} ORDER BY id"),
        )
    };
    assert_eq!(table(&ins), expected(false));
    assert_eq!(table(&ups), expected(true));

    let ins_dead = dead(&p, "ins_dead.jsonl");
    assert_eq!(
        ins_dead.keys().copied().collect::<Vec<_>>(),
        [10, 777, 1500, 2500, 3333],
        "{ins_dead:?}"
    );
    let starts = "db.insert: postgres `db`: ";
    for e in ins_dead.values() {
        assert!(e.starts_with(starts), "{e}");
    }
    assert!(
        ins_dead[&10].ends_with(&format!(
            "duplicate key value violates unique constraint \"{ins}_pkey\" (Key (id)=(10) already exists.)"
        )),
        "{}",
        ins_dead[&10]
    );
    assert!(
        ins_dead[&2500].ends_with(&format!(
            "duplicate key value violates unique constraint \"{ins}_pkey\" (Key (id)=(2500) already exists.)"
        )),
        "{}",
        ins_dead[&2500]
    );
    assert!(
        ins_dead[&777].contains(&format!(
            "null value in column \"qty\" of relation \"{ins}\" violates not-null constraint"
        )),
        "{}",
        ins_dead[&777]
    );
    assert!(
        ins_dead[&1500].contains(&format!(
            "new row for relation \"{ins}\" violates check constraint \"{ins}_qty_ok\""
        )),
        "{}",
        ins_dead[&1500]
    );
    assert!(
        ins_dead[&3333].ends_with("value too long for type character varying(5)"),
        "{}",
        ins_dead[&3333]
    );

    let ups_dead = dead(&p, "ups_dead.jsonl");
    assert_eq!(
        ups_dead.keys().copied().collect::<Vec<_>>(),
        [777, 1500, 3333],
        "{ups_dead:?}"
    );
    assert!(
        ups_dead[&1500].contains(&format!("violates check constraint \"{ups}_qty_ok\"")),
        "{}",
        ups_dead[&1500]
    );
    psql(&url, &format!("DROP TABLE {ins}, {ups}"));
}

#[test]
fn mysql_batch_chunks_set_refused_rows_aside_for_the_dead_letter() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_MYSQL_URL",
        "mysql_batch_chunks_set_refused_rows_aside_for_the_dead_letter",
    ) else {
        return;
    };
    let (ins, ups) = (unique_name("my_iso_ins"), unique_name("my_iso_ups"));
    for t in [&ins, &ups] {
        mysql(
            &url,
            &format!(
                "CREATE TABLE {t} (id BIGINT PRIMARY KEY, qty BIGINT NOT NULL, note VARCHAR(5),
                   CONSTRAINT qty_ok CHECK (qty >= 0 OR id = 10));
                 INSERT INTO {t} VALUES (10, -1, 'old')"
            ),
        );
    }
    let p = project("mysql", &ins, &ups);
    let r = p.run_with_env(&[], &[("DB_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("ins"),
        "ins: 5001 in, 4996 delivered, 0 filtered, 5 failed, 5 dead-lettered"
    );
    assert_eq!(
        r.summary("ups"),
        "ups: 5001 in, 4998 delivered, 0 filtered, 3 failed, 3 dead-lettered"
    );
    let table = |t: &str| {
        mysql(
            &url,
            &format!("SELECT id, qty, COALESCE(note, 'NULL') FROM {t} ORDER BY id"),
        )
        .replace('\t', "|")
    };
    assert_eq!(table(&ins), expected(false));
    assert_eq!(table(&ups), expected(true));

    let ins_dead = dead(&p, "ins_dead.jsonl");
    assert_eq!(
        ins_dead.keys().copied().collect::<Vec<_>>(),
        [10, 777, 1500, 2500, 3333],
        "{ins_dead:?}"
    );
    assert_eq!(
        ins_dead[&10],
        "db.insert: mysql `db`: Duplicate entry '10' for key 'PRIMARY' (error 1062)"
    );
    assert_eq!(
        ins_dead[&2500],
        "db.insert: mysql `db`: Duplicate entry '2500' for key 'PRIMARY' (error 1062)"
    );
    assert_eq!(
        ins_dead[&777],
        "db.insert: mysql `db`: Column 'qty' cannot be null (error 1048)"
    );
    assert!(
        ins_dead[&1500].starts_with("db.insert: mysql `db`: CONSTRAINT `qty_ok` failed for ")
            && ins_dead[&1500].ends_with("(error 4025)"),
        "{}",
        ins_dead[&1500]
    );
    // checked before it is sent: the record's own error, as in any flow
    assert!(
        ins_dead[&3333].contains("column `note` (varchar(5)): 7 characters do not fit varchar(5)"),
        "{}",
        ins_dead[&3333]
    );

    let ups_dead = dead(&p, "ups_dead.jsonl");
    assert_eq!(
        ups_dead.keys().copied().collect::<Vec<_>>(),
        [777, 1500, 3333],
        "{ups_dead:?}"
    );
    assert_eq!(
        ups_dead[&777],
        "db.upsert: mysql `db`: Column 'qty' cannot be null (error 1048)"
    );
    mysql(&url, &format!("DROP TABLE {ins}, {ups}"));
}

/// A second session holds row 900 of the table and, once the flow's chunk
/// waits for it, asks for row 100, which the chunk holds: a deadlock. The
/// session has written 5,000 other rows, so the server rolls the chunk
/// back (the smaller transaction); the load tries it again, and every row
/// lands once.
#[test]
fn a_mysql_deadlock_during_a_chunk_is_retried() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_MYSQL_URL",
        "a_mysql_deadlock_during_a_chunk_is_retried",
    ) else {
        return;
    };
    let (t, weight) = (unique_name("my_dl"), unique_name("my_dl_w"));
    mysql(
        &url,
        &format!(
            "CREATE TABLE {t} (id BIGINT PRIMARY KEY, qty BIGINT NOT NULL, note VARCHAR(5));
             CREATE TABLE {weight} (id BIGINT PRIMARY KEY)"
        ),
    );
    let holder = {
        let (url, t, weight) = (url.clone(), t.clone(), weight.clone());
        std::thread::spawn(move || {
            mysql(
                &url,
                &format!(
                    "START TRANSACTION;
                     INSERT INTO {weight} SELECT seq FROM seq_1_to_5000;
                     INSERT INTO {t} VALUES (900, 0, 'lock');
                     SELECT SLEEP(6);
                     INSERT INTO {t} VALUES (100, 0, 'lock');
                     ROLLBACK;"
                ),
            )
        })
    };
    // the session holds row 900 before the flow starts; polled gently:
    // INNODB_TRX asked every few milliseconds slows its insert to a crawl
    let mut seen = String::new();
    let holding =
        support::wait_until_every(Duration::from_secs(30), Duration::from_millis(250), || {
            seen = mysql(
                &url,
                "SELECT trx_rows_modified FROM information_schema.INNODB_TRX",
            );
            let holds = seen
                .lines()
                .any(|n| n.trim().parse::<u64>().is_ok_and(|n| n >= 5001));
            holds || holder.is_finished()
        });
    assert!(
        holding && !holder.is_finished(),
        "the locking session did not start (rows modified: {seen:?})"
    );
    let started = Instant::now();
    let p = Project::new();
    let mut lines = String::new();
    for id in 0..1000 {
        lines.push_str(&format!("{{\"id\":{id},\"qty\":{id},\"note\":\"n\"}}\n"));
    }
    p.file("in/rows.jsonl", lines).file(
        "main.aq",
        format!(
            r#"
system db: mysql {{ url = secret("DB_URL") }}

type Row {{ id: int, qty: int, note: string? }}

flow load {{
  mode batch chunk 1000
  from file("in").read("rows.jsonl") as Row
  to db.insert("{t}")
}}
"#
        ),
    );
    let r = p.run_with_env(&[], &[("DB_URL", &url)]);
    let held = holder.join();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(held.is_ok(), "the locking session failed");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the chunk waited for the lock timeout"
    );
    assert!(
        r.stderr.contains("Loading a chunk failed; trying again.")
            && r.stderr.contains("(error 1213)"),
        "no deadlock was retried: {}",
        r.stderr
    );
    assert_eq!(
        r.summary("load"),
        "load: 1000 in, 1000 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        mysql(
            &url,
            &format!("SELECT COUNT(*), COUNT(DISTINCT id), SUM(note = 'n') FROM {t}")
        ),
        "1000\t1000\t1000"
    );
    mysql(&url, &format!("DROP TABLE {t}, {weight}"));
}

/// Without a `dead_letter`, a refused row fails the run, after the chunk's
/// good rows were committed (the chunk is not acknowledged, so a rerun
/// loads it again).
#[test]
fn a_refused_row_without_a_dead_letter_fails_the_run() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "a_refused_row_without_a_dead_letter_fails_the_run",
    ) else {
        return;
    };
    let t = unique_name("pg_iso_nodl");
    psql(
        &url,
        &format!("CREATE TABLE {t} (id bigint PRIMARY KEY, qty bigint NOT NULL, note varchar(5))"),
    );
    let p = Project::new();
    p.file(
        "in/rows.jsonl",
        "{\"id\":1,\"qty\":1}\n{\"id\":2,\"qty\":null}\n{\"id\":3,\"qty\":3}\n",
    )
    .file(
        "main.aq",
        format!(
            r#"
system db: postgres {{ url = secret("DB_URL") }}

type Row {{ id: int, qty: int?, note: string? }}

flow load {{
  mode batch
  from file("in").read("rows.jsonl") as Row
  to db.insert("{t}")
}}
"#
        ),
    );
    let r = p.run_with_env(&[], &[("DB_URL", &url)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("violates not-null constraint")
            && r.stderr.contains("the flow has no dead_letter"),
        "{}",
        r.stderr
    );
    // the chunk's good rows were committed before the refusal stopped it
    assert_eq!(
        psql(&url, &format!("SELECT id FROM {t} ORDER BY id")),
        "1\n3"
    );
    psql(&url, &format!("DROP TABLE {t}"));
}

/// The MariaDB pool keeps its connections between writes (it used to
/// close each one as it came back, so every write connected again) and
/// never holds more than `pool_size`: the server's process list, sampled
/// while 3,000 records are written one by one, 4 at a time, shows at most
/// 2 connections of the flow's database, and only a few ever.
#[test]
fn the_mysql_pool_keeps_at_most_pool_size_connections_open() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_MYSQL_URL",
        "the_mysql_pool_keeps_at_most_pool_size_connections_open",
    ) else {
        return;
    };
    let db = unique_name("aq_pool").replace('-', "_");
    mysql(&url, &format!("CREATE DATABASE {db}"));
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url.as_str(), String::new()),
    };
    let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(base);
    let db_url = format!("{server}/{db}{query}");
    mysql(
        &db_url,
        "CREATE TABLE t (id BIGINT PRIMARY KEY, qty BIGINT NOT NULL, note VARCHAR(5))",
    );
    let p = Project::new();
    let mut lines = String::new();
    for id in 0..3000 {
        lines.push_str(&format!("{{\"id\":{id},\"qty\":{id},\"note\":\"n\"}}\n"));
    }
    p.file("in/rows.jsonl", lines).file(
        "main.aq",
        r#"
system db: mysql { url = secret("DB_URL"), pool_size = 2 }

type Row { id: int, qty: int, note: string? }

flow load {
  mode async
  concurrency 4
  from file("in").read("rows.jsonl") as Row
  to db.insert("t")
}
"#,
    );
    let mut running = p.spawn_with_env(&[], &[("DB_URL", &db_url)]);
    let mut ids = std::collections::BTreeSet::new();
    let mut most = 0;
    let mut samples = 0;
    // counted from another database, so the sampler's own connections
    // never show in the flow database's list
    let count = || mysql(&url, &format!("SELECT COUNT(*) FROM {db}.t"));
    // from the first row on (the start-up checks use connections of their own)
    assert!(
        support::wait_until(Duration::from_secs(30), || count() != "0"),
        "no row arrived: {}",
        running.stderr()
    );
    while running.is_running() && count() != "3000" {
        let list = mysql(
            &url,
            &format!(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{db}' AND ID <> CONNECTION_ID()"
            ),
        );
        let now: Vec<&str> = list.lines().filter(|l| !l.is_empty()).collect();
        most = most.max(now.len());
        ids.extend(now.iter().map(|s| s.to_string()));
        samples += 1;
    }
    let status = running.wait_exit(Duration::from_secs(60));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        running.stderr()
    );
    assert_eq!(count(), "3000");
    assert!(samples >= 3, "only {samples} samples");
    assert!(most <= 2, "{most} connections at once");
    assert!(
        ids.len() <= 4,
        "{} connections over the run: {ids:?}",
        ids.len()
    );
    mysql(&url, &format!("DROP DATABASE {db}"));
}

/// The PostgreSQL pool, likewise: while 3,000 records are written one by
/// one, 4 at a time, through a pool of 2, the server's `pg_stat_activity`
/// shows at most 2 backends of the flow's database, and only a few ever.
#[test]
fn the_postgres_pool_keeps_at_most_pool_size_connections_open() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "the_postgres_pool_keeps_at_most_pool_size_connections_open",
    ) else {
        return;
    };
    // a database of its own: every backend in it is the flow's
    let db = support::postgres::Database::create(&url, "pg_pool");
    psql(
        &db.url,
        "CREATE TABLE t (id bigint PRIMARY KEY, qty bigint NOT NULL, note varchar(5))",
    );
    let p = Project::new();
    let mut lines = String::new();
    for id in 0..3000 {
        lines.push_str(&format!("{{\"id\":{id},\"qty\":{id},\"note\":\"n\"}}\n"));
    }
    p.file("in/rows.jsonl", lines).file(
        "main.aq",
        r#"
system db: postgres { url = secret("DB_URL"), pool_size = 2 }

type Row { id: int, qty: int, note: string? }

flow load {
  mode async
  concurrency 4
  from file("in").read("rows.jsonl") as Row
  to db.insert("t")
}
"#,
    );
    let mut running = p.spawn_with_env(&[], &[("DB_URL", &db.url)]);
    let (mut pids, mut most, mut samples) = (std::collections::BTreeSet::new(), 0, 0);
    // sampled from the server's first database, so the sampler's own
    // backends are never among the flow database's
    let name = db.url.rsplit('/').next().unwrap_or_default();
    let name = name.split('?').next().unwrap_or(name).to_string();
    let count = || psql(&db.url, "SELECT count(*) FROM t");
    // from the first row on (the start-up checks use connections of their own)
    assert!(
        support::wait_until(Duration::from_secs(30), || count() != "0"),
        "no row arrived: {}",
        running.stderr()
    );
    while running.is_running() {
        let list = psql(
            &url,
            &format!(
                "SELECT pid FROM pg_stat_activity WHERE datname = '{name}' AND application_name <> 'psql'"
            ),
        );
        let now: Vec<&str> = list.lines().filter(|l| !l.is_empty()).collect();
        most = most.max(now.len());
        pids.extend(now.iter().map(|s| s.to_string()));
        samples += 1;
        if count() == "3000" {
            break;
        }
    }
    let status = running.wait_exit(Duration::from_secs(60));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        running.stderr()
    );
    assert_eq!(count(), "3000");
    assert!(samples >= 3, "only {samples} samples");
    assert!(most >= 1, "no connection of the flow was ever seen");
    assert!(most <= 2, "{most} connections at once");
    assert!(
        pids.len() <= 4,
        "{} connections over the run: {pids:?}",
        pids.len()
    );
}
