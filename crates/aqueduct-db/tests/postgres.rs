//! `postgres` at the connector level, against the real server: a batch
//! chunk is one transaction committed where its flush was started, values
//! are converted per column before anything is sent, and upserting a key
//! twice within one chunk keeps the last record.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL`; prints `SKIP: …` without it.

#[path = "../../aqueduct-connectors/tests/common/mod.rs"]
mod common;

use aqueduct_db::postgres::PostgresConnector;
use aqueduct_graph::ModeKind;
use aqueduct_runtime::connector::ConnectorFactory;
use aqueduct_test_support::{service_url, unique_name};
use common::{builder, fields, lit, opt_str, record, schemas};
use serde_json::json;

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(conn);
    client
}

async fn count(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunk_commits_exactly_the_rows_written_before_its_flush_started() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "a_chunk_commits_exactly_the_rows_written_before_its_flush_started",
    ) else {
        return;
    };
    let table = unique_name("pgc_chunk");
    let db = client(&url).await;
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id integer PRIMARY KEY, kind text NOT NULL, amount numeric(10,2))"
    ))
    .await
    .expect("create");
    let schemas = schemas(&[(
        "Event",
        &[("id", "int"), ("kind", "string"), ("amount", "decimal?")],
    )]);
    let ctx = builder("postgres", "upsert", "Event", &schemas)
        .option("url", opt_str(&url))
        .arg("table", lit(&table))
        .arg("key", fields(&["id"]))
        .mode(ModeKind::Batch)
        .build();
    let target = PostgresConnector.target(&ctx.cx).expect("target");
    let e = |id: i64, kind: &str, amount: &str| {
        record(
            &schemas,
            "Event",
            json!({"id": id, "kind": kind, "amount": amount}),
        )
    };
    target.write(&[e(1, "a", "1.50")]).await.expect("write");
    target
        .write(&[e(1, "b", "2.50")])
        .await
        .expect("same key again");
    target.write(&[e(2, "c", "3")]).await.expect("write");
    // a value the column cannot take fails its record only, before anything is sent
    let err = target
        .write(&[e(3_000_000_000, "d", "1")])
        .await
        .expect_err("out of range for integer");
    assert!(
        err.to_string()
            .contains("column `id` (int4): 3000000000 is out of range for int4"),
        "{err}"
    );
    assert_eq!(count(&db, &table).await, 0, "nothing before the flush");
    let flush = target.start_flush().expect("batch targets split flushes");
    target.write(&[e(4, "e", "4")]).await.expect("next chunk");
    flush.await.expect("commit");
    assert_eq!(count(&db, &table).await, 2, "exactly the first chunk");
    let row = db
        .query_one(
            &format!("SELECT kind, amount::text FROM {table} WHERE id = 1"),
            &[],
        )
        .await
        .expect("row");
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("b".to_string(), "2.50".to_string()),
        "the last record of a key within a chunk wins"
    );
    target.flush().await.expect("second chunk");
    assert_eq!(count(&db, &table).await, 3);
    db.batch_execute(&format!("DROP TABLE {table}"))
        .await
        .expect("drop");
}
