//! `sqlite`: targets in transactions, table creation, poll with a
//! watermark, lookups, query source, all on real database files.

mod common;

use aqueduct_connectors::sqlite::SqliteConnector;
use aqueduct_graph::ModeKind;
use aqueduct_runtime::connector::ConnectorFactory;
use aqueduct_runtime::value::Value;
use common::{builder, fields, json_of, lit, next, opt_str, record, schemas, template};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

fn customer_schemas() -> Arc<aqueduct_runtime::value::Schemas> {
    schemas(&[
        (
            "Customer",
            &[
                ("id", "string"),
                ("name", "string"),
                ("revenue", "decimal?"),
                ("active", "bool"),
            ],
        ),
        ("Event", &[("id", "int"), ("kind", "string")]),
        ("Key", &[("id", "string")]),
        ("Name", &[("name", "string")]),
    ])
}

fn db_option(dir: &tempfile::TempDir) -> aqueduct_graph::ConfigValue {
    opt_str(dir.path().join("data/app.db").to_str().expect("utf8"))
}

/// A batch-mode `insert` target on a fresh `events` table in `dir`.
fn events_batch_target(
    dir: &tempfile::TempDir,
    schemas: &Arc<aqueduct_runtime::value::Schemas>,
) -> Arc<dyn aqueduct_runtime::connector::Target> {
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    let conn = rusqlite::Connection::open(dir.path().join("data/app.db")).expect("open");
    conn.execute_batch("create table events (id integer primary key, kind text not null)")
        .expect("create");
    drop(conn);
    let ctx = builder("sqlite", "insert", "Event", schemas)
        .option("path", db_option(dir))
        .arg("table", lit("events"))
        .mode(ModeKind::Batch)
        .build();
    SqliteConnector.target(&ctx.cx).expect("target")
}

fn count(dir: &tempfile::TempDir, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.path().join("data/app.db")).expect("open");
    conn.query_row(sql, [], |r| r.get(0)).expect("count")
}

#[tokio::test]
async fn upsert_creates_the_table_and_updates_by_key_then_delete_removes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = customer_schemas();
    let ctx = builder("sqlite", "upsert", "Customer", &schemas)
        .option("path", db_option(&dir))
        .arg("table", lit("customers"))
        .arg("key", fields(&["id"]))
        .build();
    let target = SqliteConnector.target(&ctx.cx).expect("target");
    let a = record(
        &schemas,
        "Customer",
        json!({"id": "c1", "name": "Acme", "revenue": "1000000.50", "active": true}),
    );
    let b = record(
        &schemas,
        "Customer",
        json!({"id": "c2", "name": "Bolt", "revenue": null, "active": false}),
    );
    target.write(&[a, b]).await.expect("write");
    let a2 = record(
        &schemas,
        "Customer",
        json!({"id": "c1", "name": "Acme Corp", "revenue": "2.00", "active": true}),
    );
    target.write(&[a2]).await.expect("upsert");
    assert_eq!(count(&dir, "select count(*) from customers"), 2);
    let conn = rusqlite::Connection::open(dir.path().join("data/app.db")).expect("open");
    let (name, revenue): (String, String) = conn
        .query_row(
            "select name, revenue from customers where id = 'c1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!(
        (name.as_str(), revenue.as_str()),
        ("Acme Corp", "2.00"),
        "decimals stay exact"
    );

    let ctx = builder("sqlite", "delete", "Key", &schemas)
        .option("path", db_option(&dir))
        .arg("table", lit("customers"))
        .arg("key", fields(&["id"]))
        .build();
    let delete = SqliteConnector.target(&ctx.cx).expect("delete");
    let key = record(&schemas, "Key", json!({"id": "c2"}));
    let missing = record(&schemas, "Key", json!({"id": "nobody"}));
    delete.write(&[key, missing]).await.expect("delete");
    assert_eq!(count(&dir, "select count(*) from customers"), 1);
}

#[tokio::test]
async fn a_batch_is_one_transaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = customer_schemas();
    let target = events_batch_target(&dir, &schemas);
    let e = |id: i64| record(&schemas, "Event", json!({"id": id, "kind": "k"}));
    target.write(&[e(1), e(2)]).await.expect("insert");
    let err = target
        .write(&[e(3), e(1)])
        .await
        .expect_err("duplicate key");
    assert!(
        !err.is_retryable(),
        "a constraint violation is permanent: {err}"
    );
    assert_eq!(
        count(&dir, "select count(*) from events"),
        0,
        "a batch flow's chunk is committed by flush()"
    );
    target.flush().await.expect("commits");
    assert_eq!(
        count(&dir, "select count(*) from events"),
        2,
        "the failed batch left nothing behind, the rest of the chunk is there"
    );
}

#[tokio::test]
async fn async_staged_records_share_one_transaction_and_fail_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = customer_schemas();
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    let ctx = builder("sqlite", "insert", "Event", &schemas)
        .option("path", db_option(&dir))
        .arg("table", lit("events"))
        .mode(ModeKind::Async)
        .build();
    let target = SqliteConnector.target(&ctx.cx).expect("target");
    assert!(target.group_commits());
    let e = |id: i64| record(&schemas, "Event", json!({"id": id, "kind": "k"}));
    let conn = rusqlite::Connection::open(dir.path().join("data/app.db")).expect("open");
    conn.execute_batch("create unique index events_id on events (id)")
        .expect("index");
    drop(conn);
    target.stage(&[e(1)]).await.expect("stage");
    target.stage(&[e(2)]).await.expect("stage");
    let err = target.stage(&[e(1)]).await.expect_err("duplicate key");
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(
        count(&dir, "select count(*) from events"),
        0,
        "staged rows wait for the commit"
    );
    target.commit().await.expect("commits");
    assert_eq!(
        count(&dir, "select count(*) from events"),
        2,
        "the refused row alone was undone"
    );
}

#[tokio::test]
async fn a_batch_chunk_is_one_transaction_committed_where_it_was_started() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = customer_schemas();
    let target = events_batch_target(&dir, &schemas);
    let e = |id: i64| record(&schemas, "Event", json!({"id": id, "kind": "k"}));
    for id in 1..=3 {
        target.write(&[e(id)]).await.expect("insert");
    }
    assert_eq!(count(&dir, "select count(*) from events"), 0);
    // the end of a chunk: the commit covers what was written before it,
    // not what the next chunk writes while it runs
    let commit = target
        .start_flush()
        .expect("a sqlite target starts flushes");
    target.write(&[e(4)]).await.expect("insert");
    commit.await.expect("commits");
    assert_eq!(count(&dir, "select count(*) from events"), 3);
    target.flush().await.expect("commits");
    assert_eq!(count(&dir, "select count(*) from events"), 4);
    target.flush().await.expect("nothing to commit");

    // sync and async flows: each write is committed before it returns
    let ctx = builder("sqlite", "insert", "Event", &schemas)
        .option("path", db_option(&dir))
        .arg("table", lit("events"))
        .build();
    let each = SqliteConnector.target(&ctx.cx).expect("target");
    assert!(each.start_flush().is_none());
    each.write(&[e(5)]).await.expect("insert");
    assert_eq!(count(&dir, "select count(*) from events"), 5);
    each.write(&[e(6), e(5)]).await.expect_err("duplicate key");
    assert_eq!(count(&dir, "select count(*) from events"), 5);
}

#[tokio::test]
async fn poll_emits_new_rows_after_the_watermark_and_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    let conn = rusqlite::Connection::open(dir.path().join("data/app.db")).expect("open");
    conn.execute_batch(
        "create table events (id integer primary key, kind text not null);
         insert into events values (1, 'a'), (2, 'b');",
    )
    .expect("seed");
    let schemas = customer_schemas();
    let state = Arc::new(aqueduct_runtime::state::MemoryStore::default());
    let build = || {
        builder("sqlite", "poll", "Event", &schemas)
            .option("path", db_option(&dir))
            .arg(
                "sql",
                lit("select id, kind from events where id > {watermark} order by id"),
            )
            .arg("every", common::dur(50))
            .arg("watermark", lit("id"))
            .state(&state)
            .build()
    };
    let ctx = build();
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(SqliteConnector.source(&ctx.cx).expect("source").run(tx));
    for expected in [r#"{"id":1,"kind":"a"}"#, r#"{"id":2,"kind":"b"}"#] {
        let env = next(&mut rx).await;
        assert_eq!(json_of(&env), expected);
        env.ack.done();
    }
    conn.execute("insert into events values (3, 'c')", [])
        .expect("insert");
    let env = next(&mut rx).await;
    assert_eq!(json_of(&env), r#"{"id":3,"kind":"c"}"#, "only the new row");
    env.ack.done();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(rx.try_recv().is_err(), "nothing is emitted twice");
    ctx.stop.send(true).expect("stop");
    run.await.expect("join").expect("run");
    assert_eq!(
        state
            .snapshot()
            .get("sqlite:test_flow:watermark")
            .map(String::as_str),
        Some("3")
    );

    conn.execute("insert into events values (4, 'd')", [])
        .expect("insert");
    let ctx = build();
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(SqliteConnector.source(&ctx.cx).expect("source").run(tx));
    let env = next(&mut rx).await;
    assert_eq!(
        json_of(&env),
        r#"{"id":4,"kind":"d"}"#,
        "a restart resumes after the stored watermark"
    );
    env.ack.done();
    tokio::time::sleep(Duration::from_millis(700)).await;
    ctx.stop.send(true).expect("stop");
    run.await.expect("join").expect("run");
}

#[tokio::test]
async fn lookups_bind_interpolations_and_named_parameters() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    let conn = rusqlite::Connection::open(dir.path().join("data/app.db")).expect("open");
    conn.execute_batch("create table names (id text, name text); insert into names values ('k1', 'one'), ('k1', 'uno'), ('k2', 'two');")
        .expect("seed");
    let schemas = customer_schemas();
    let first = builder("sqlite", "query", "Name?", &schemas)
        .option("path", db_option(&dir))
        .arg(
            "sql",
            template("select name from names where id = {.id} order by name"),
        )
        .build();
    let call = SqliteConnector.call(&first.cx).expect("call");
    let key = |id: &str| record(&schemas, "Key", json!({ "id": id }));
    assert_eq!(
        call.call(&key("k1"))
            .await
            .expect("lookup")
            .to_json_string(),
        r#"{"name":"one"}"#
    );
    assert_eq!(
        call.call(&key("'; drop table names; --"))
            .await
            .expect("lookup"),
        Value::Null,
        "no injection, no row"
    );

    let all = builder("sqlite", "query", "[Name]", &schemas)
        .option("path", db_option(&dir))
        .arg(
            "sql",
            lit("select name from names where id = :id order by name"),
        )
        .build();
    let call = SqliteConnector.call(&all.cx).expect("call");
    assert_eq!(
        call.call(&key("k1"))
            .await
            .expect("lookup")
            .to_json_string(),
        r#"[{"name":"one"},{"name":"uno"}]"#
    );
    assert_eq!(count(&dir, "select count(*) from names"), 3);
}

#[tokio::test]
async fn query_reads_every_row_and_reports_bad_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    let conn = rusqlite::Connection::open(dir.path().join("data/app.db")).expect("open");
    conn.execute_batch("create table events (id integer, kind text); insert into events values (1, 'a'), (2, null), (3, 'c');")
        .expect("seed");
    let schemas = customer_schemas();
    let ctx = builder("sqlite", "query", "Event", &schemas)
        .option("path", db_option(&dir))
        .arg("sql", lit("select * from events order by id"))
        .mode(ModeKind::Batch)
        .build();
    let (tx, mut rx) = mpsc::channel(16);
    SqliteConnector
        .source(&ctx.cx)
        .expect("source")
        .run(tx)
        .await
        .expect("run");
    let mut out = Vec::new();
    while let Some(env) = rx.recv().await {
        out.push(env.record.map(|v| v.to_json_string()).map_err(|e| e.reason));
    }
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].as_deref(), Ok(r#"{"id":1,"kind":"a"}"#));
    assert!(out[1].as_ref().expect_err("null kind").contains("kind"));
}

#[test]
fn bad_sql_is_refused_at_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = customer_schemas();
    let ctx = builder("sqlite", "query", "Event", &schemas)
        .option("path", db_option(&dir))
        .arg("sql", lit("selec nothing"))
        .build();
    let err = SqliteConnector.source(&ctx.cx).err().expect("refused");
    assert!(
        matches!(err, aqueduct_runtime::connector::ConnectorError::Config(_)),
        "{err}"
    );
}
