//! `mysql` batch targets at the connector level, against the real server:
//! chunks go in by `LOAD DATA LOCAL INFILE` from memory, and what that
//! path must keep is checked here: every value as it was written (text
//! with tabs, newlines, backslashes and `\N`, decimals, timestamps with
//! microseconds, bools, JSON, NULLs); a chunk is one transaction
//! committed where its flush was started; an upsert of a key written twice
//! within one chunk keeps the last record, also over existing rows; and an
//! `insert` of an existing key (which `LOAD DATA LOCAL` would skip with a
//! warning) fails the chunk with the server's message, leaving nothing of it.
//!
//! Needs `AQUEDUCT_TEST_MYSQL_URL`; prints `SKIP: …` without it.

#[path = "../../aqueduct-connectors/tests/common/mod.rs"]
mod common;

use aqueduct_db::mysql::MysqlConnector;
use aqueduct_graph::ModeKind;
use aqueduct_runtime::connector::{ConnectorFactory, Target};
use aqueduct_runtime::value::Schemas;
use aqueduct_test_support::{service_url, unique_name};
use common::{builder, fields, lit, opt_str, record, schemas};
use mysql_async::prelude::Queryable;
use serde_json::json;
use std::sync::Arc;

const COLUMNS: &str = "id INT PRIMARY KEY, name VARCHAR(64), amount DECIMAL(12,2), \
    active BOOLEAN, seen DATETIME(6), doc JSON";

async fn rows(url: &str, table: &str) -> Vec<String> {
    let mut conn = mysql_async::Conn::from_url(url).await.expect("connects");
    let rows: Vec<String> = conn
        .query(format!(
            "SELECT CONCAT_WS('|', id, COALESCE(name, 'NULL'), COALESCE(amount, 'NULL'),
                    COALESCE(active, 'NULL'), COALESCE(seen, 'NULL'), COALESCE(JSON_COMPACT(doc), 'NULL'))
             FROM {table} ORDER BY id"
        ))
        .await
        .expect("select");
    let _ = conn.disconnect().await;
    rows
}

async fn sql(url: &str, text: &str) {
    let mut conn = mysql_async::Conn::from_url(url).await.expect("connects");
    conn.query_drop(text).await.expect("runs");
    let _ = conn.disconnect().await;
}

fn target(url: &str, op: &str, table: &str) -> (Arc<dyn Target>, Arc<Schemas>) {
    let schemas = schemas(&[(
        "Item",
        &[
            ("id", "int"),
            ("name", "string?"),
            ("amount", "decimal?"),
            ("active", "bool?"),
            ("seen", "timestamp?"),
            ("doc", "json?"),
        ],
    )]);
    let mut b = builder("mysql", op, "Item", &schemas)
        .option("url", opt_str(url))
        .arg("table", lit(table))
        .mode(ModeKind::Batch);
    if op == "upsert" {
        b = b.arg("key", fields(&["id"]));
    }
    let ctx = b.build();
    (MysqlConnector.target(&ctx.cx).expect("target"), schemas)
}

#[tokio::test(flavor = "multi_thread")]
async fn load_data_keeps_every_value_and_chunks_stay_whole() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_MYSQL_URL",
        "load_data_keeps_every_value_and_chunks_stay_whole",
    ) else {
        return;
    };
    let (ins, ups) = (unique_name("myc_ins"), unique_name("myc_ups"));
    sql(
        &url,
        &format!(
            "CREATE TABLE {ins} ({COLUMNS}); CREATE TABLE {ups} ({COLUMNS});
             INSERT INTO {ups} (id, name) VALUES (1, 'old'), (9, 'untouched')"
        ),
    )
    .await;
    let (insert, schemas) = target(&url, "insert", &ins);
    let (upsert, _) = target(&url, "upsert", &ups);
    let item = |v: serde_json::Value| record(&schemas, "Item", v);
    let tricky = item(json!({"id": 1, "name": "tab\there\nline \\ back \\N 'q' é",
        "amount": "1234567890.25", "active": true, "seen": "2024-05-01T10:34:56.789012Z",
        "doc": {"a": [1, "x\ty"], "b": null}}));
    let nulls = item(
        json!({"id": 2, "name": null, "amount": null, "active": null,
        "seen": null, "doc": null}),
    );
    let again = item(
        json!({"id": 1, "name": "last", "amount": "-0.5", "active": false,
        "seen": "2026-01-01T00:00:00Z", "doc": [1]}),
    );
    for t in [&insert, &upsert] {
        t.write(std::slice::from_ref(&tricky)).await.expect("write");
        t.write(std::slice::from_ref(&nulls)).await.expect("write");
    }
    upsert
        .write(std::slice::from_ref(&again))
        .await
        .expect("same key again");
    // a chunk commits exactly what was written before its flush started
    let (i, u) = (insert.start_flush(), upsert.start_flush());
    let later = item(json!({"id": 3, "name": "next chunk"}));
    insert
        .write(std::slice::from_ref(&later))
        .await
        .expect("write");
    i.expect("split flush").await.expect("insert chunk");
    u.expect("split flush").await.expect("upsert chunk");
    let want_tricky = "1|tab\there\nline \\ back \\N 'q' é|1234567890.25|1|2024-05-01 10:34:56.789012|{\"a\":[1,\"x\\ty\"],\"b\":null}";
    assert_eq!(
        rows(&url, &ins).await,
        [want_tricky, "2|NULL|NULL|NULL|NULL|NULL"]
    );
    assert_eq!(
        rows(&url, &ups).await,
        [
            "1|last|-0.50|0|2026-01-01 00:00:00.000000|[1]",
            "2|NULL|NULL|NULL|NULL|NULL",
            "9|untouched|NULL|NULL|NULL|NULL"
        ],
        "the last record of a key within a chunk wins, over the existing row"
    );
    insert.flush().await.expect("second chunk");
    assert_eq!(rows(&url, &ins).await.len(), 3);

    // an existing key refuses that record alone, with the server's message:
    // the rest of the chunk commits and the refused record is handed back
    // for the dead letter
    insert
        .write(&[item(json!({"id": 4, "name": "new"}))])
        .await
        .expect("write");
    insert
        .write(&[item(json!({"id": 2, "name": "dup"}))])
        .await
        .expect("write");
    insert
        .flush()
        .await
        .expect("the chunk commits without the refused record");
    let refused = insert.take_refused();
    assert_eq!(refused.len(), 1, "one record refused");
    assert_eq!(refused[0].record.field("id").to_text(), "2");
    let err = refused[0].error.to_string();
    assert!(err.contains("Duplicate entry '2'"), "{err}");
    assert_eq!(
        rows(&url, &ins).await.len(),
        4,
        "id 4 landed, id 2 kept its row"
    );
    sql(&url, &format!("DROP TABLE {ins}, {ups}")).await;
}
