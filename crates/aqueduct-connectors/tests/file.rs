//! `file`: read with checkpoint resume, tail across appends and rotation,
//! atomic write (going on from an interrupted run's file), append with a csv
//! header once.

mod common;

use aqueduct_connectors::file::FileConnector;
use aqueduct_graph::ModeKind;
use aqueduct_runtime::connector::{ConnectorFactory, Envelope};
use common::{Builder, builder, json_of, lit, next, opt_str, record, schemas, template};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

fn item_schemas() -> Arc<aqueduct_runtime::value::Schemas> {
    schemas(&[
        ("Item", &[("id", "int"), ("name", "string")]),
        ("Out", &[("region", "string"), ("id", "int")]),
    ])
}

fn write_lines(path: &std::path::Path, from: i64, to: i64) {
    let text: String = (from..to)
        .map(|i| format!("{{\"id\": {i}, \"name\": \"n{i}\"}}\n"))
        .collect();
    std::fs::write(path, text).expect("write");
}

fn reader(root: &std::path::Path, state: &Arc<aqueduct_runtime::state::MemoryStore>) -> Builder {
    builder("file", "read", "Item", &item_schemas())
        .option("root", opt_str(root.to_str().expect("utf8")))
        .arg("glob", lit("in/*.jsonl"))
        .mode(ModeKind::Batch)
        .chunk(2)
        .state(state)
}

fn id_of(env: &Envelope) -> i64 {
    match env.record.as_ref().expect("record").field("id") {
        aqueduct_runtime::value::Value::Int(i) => i,
        other => panic!("id is {other:?}"),
    }
}

#[tokio::test]
async fn read_resumes_after_the_last_committed_chunk() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("in")).expect("mkdir");
    write_lines(&dir.path().join("in/a.jsonl"), 0, 5);
    write_lines(&dir.path().join("in/b.jsonl"), 5, 8);
    let state = Arc::new(aqueduct_runtime::state::MemoryStore::default());

    // First run: three records are read and acked, then the run is killed.
    let ctx = reader(dir.path(), &state).build();
    let source = FileConnector.source(&ctx.cx).expect("source");
    let (tx, mut rx) = mpsc::channel(1);
    let run = tokio::spawn(source.run(tx));
    for expected in 0..3 {
        let env = next(&mut rx).await;
        assert_eq!(id_of(&env), expected);
        env.ack.done();
    }
    drop(rx);
    ctx.stop.send(true).expect("stop");
    run.await.expect("join").expect("run");
    let saved = state.snapshot();
    let checkpoint = saved
        .get("file:test_flow:in/*.jsonl")
        .expect("checkpoint stored");
    assert!(checkpoint.contains("\"in/a.jsonl\""), "{checkpoint}");

    // Second run: resumes after the chunk boundary (record 2), reads to the end.
    let ctx = reader(dir.path(), &state).build();
    let source = FileConnector.source(&ctx.cx).expect("source");
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(source.run(tx));
    let mut seen = Vec::new();
    while let Some(env) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("timely")
    {
        seen.push(id_of(&env));
        env.ack.done();
    }
    run.await.expect("join").expect("run");
    assert_eq!(seen, vec![2, 3, 4, 5, 6, 7]);

    // Third run: every file is done and unchanged, so nothing is read.
    let ctx = reader(dir.path(), &state).build();
    let (tx, mut rx) = mpsc::channel(16);
    FileConnector
        .source(&ctx.cx)
        .expect("source")
        .run(tx)
        .await
        .expect("run");
    assert!(rx.recv().await.is_none());

    // A changed file is read again from its start.
    write_lines(&dir.path().join("in/b.jsonl"), 5, 9);
    let ctx = reader(dir.path(), &state).build();
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(FileConnector.source(&ctx.cx).expect("source").run(tx));
    let mut again = Vec::new();
    while let Some(env) = rx.recv().await {
        again.push(id_of(&env));
        env.ack.done();
    }
    run.await.expect("join").expect("run");
    assert_eq!(again, vec![5, 6, 7, 8]);
}

#[tokio::test]
async fn read_sends_decode_errors_and_keeps_going() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("in")).expect("mkdir");
    std::fs::write(
        dir.path().join("in/a.jsonl"),
        "{\"id\": 1, \"name\": \"a\"}\nnot json\n{\"id\": 3, \"name\": \"c\"}",
    )
    .expect("write");
    let state = Arc::new(aqueduct_runtime::state::MemoryStore::default());
    let ctx = reader(dir.path(), &state).build();
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(FileConnector.source(&ctx.cx).expect("source").run(tx));
    let first = next(&mut rx).await;
    let bad = next(&mut rx).await;
    let last = next(&mut rx).await;
    assert_eq!(id_of(&first), 1);
    let err = bad.record.as_ref().expect_err("decode error");
    assert_eq!(err.raw, "not json");
    assert!(err.reason.contains("malformed JSON"));
    assert_eq!(id_of(&last), 3, "a last line without newline is read");
    for env in [first, bad, last] {
        env.ack.done();
    }
    run.await.expect("join").expect("run");
}

#[tokio::test]
async fn tail_follows_appends_and_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    std::fs::write(&path, "old line\n").expect("write");
    let schemas = schemas(&[("Line", &[("line", "string")])]);
    let ctx = builder("file", "tail", "Line", &schemas)
        .option("root", opt_str(dir.path().to_str().expect("utf8")))
        .arg("path", lit("app.log"))
        .arg("format", lit("text"))
        .build();
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(FileConnector.source(&ctx.cx).expect("source").run(tx));
    tokio::time::sleep(Duration::from_millis(300)).await;

    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    file.write_all(b"first\nsec").expect("append");
    file.flush().expect("flush");
    let env = next(&mut rx).await;
    assert_eq!(
        json_of(&env),
        r#"{"line":"first"}"#,
        "starts at the end, skipping old lines"
    );
    env.ack.done();
    file.write_all(b"ond\n").expect("append");
    let env = next(&mut rx).await;
    assert_eq!(
        json_of(&env),
        r#"{"line":"second"}"#,
        "a partial line waits for its end"
    );
    env.ack.done();

    // Rotation: the old file moves away with one more line, a new one appears.
    file.write_all(b"last of old\n").expect("append");
    drop(file);
    std::fs::rename(&path, dir.path().join("app.log.1")).expect("rotate");
    std::fs::write(&path, "new file\n").expect("new file");
    let env = next(&mut rx).await;
    assert_eq!(json_of(&env), r#"{"line":"last of old"}"#);
    env.ack.done();
    let env = next(&mut rx).await;
    assert_eq!(json_of(&env), r#"{"line":"new file"}"#);
    env.ack.done();

    tokio::time::sleep(Duration::from_millis(700)).await;
    ctx.stop.send(true).expect("stop");
    run.await.expect("join").expect("run");
    let saved = ctx.state.snapshot();
    let position = saved.get("file:test_flow:app.log").expect("position");
    assert!(position.contains("\"offset\":9"), "{position}");
}

#[tokio::test]
async fn batch_write_replaces_the_file_once_when_the_run_is_complete() {
    // docs/connectors.md, file: in a batch flow the target is replaced when
    // the run completes; chunk commits only sync the hidden temporary file,
    // so a run costs time linear in its output
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = item_schemas();
    std::fs::create_dir(dir.path().join("out")).expect("mkdir");
    let final_path = dir.path().join("out/items.json");
    let temp_path = dir.path().join("out/.items.json.aq-tmp");
    std::fs::write(&final_path, "previous").expect("write");
    let ctx = builder("file", "write", "Item", &schemas)
        .option("root", opt_str(dir.path().to_str().expect("utf8")))
        .arg("path", lit("out/items.json"))
        .mode(ModeKind::Batch)
        .build();
    let target = FileConnector.target(&ctx.cx).expect("target");
    let a = record(&schemas, "Item", json!({"id": 1, "name": "a"}));
    let b = record(&schemas, "Item", json!({"id": 2, "name": "b"}));
    target.write(std::slice::from_ref(&a)).await.expect("write");
    target.flush().await.expect("flush");
    target.write(&[b]).await.expect("write");
    target.flush().await.expect("flush");
    assert_eq!(
        std::fs::read_to_string(&final_path).expect("read"),
        "previous",
        "the previous run's document stays until this run is complete"
    );
    let committed = std::fs::read_to_string(&temp_path).expect("temporary file");
    assert!(
        committed.contains("\"id\":2"),
        "chunks are committed: {committed}"
    );
    target.finish().await.expect("finish");
    let both: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&final_path).expect("read"))
            .expect("valid json");
    assert_eq!(
        both,
        json!([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    );
    drop(target);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "temporary files are gone: {leftovers:?}"
    );
}

#[tokio::test]
async fn async_write_replaces_atomically_at_each_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = item_schemas();
    let final_path = dir.path().join("out/items.json");
    let ctx = builder("file", "write", "Item", &schemas)
        .option("root", opt_str(dir.path().to_str().expect("utf8")))
        .arg("path", lit("out/items.json"))
        .mode(ModeKind::Async)
        .build();
    let target = FileConnector.target(&ctx.cx).expect("target");
    let a = record(&schemas, "Item", json!({"id": 1, "name": "a"}));
    target.write(std::slice::from_ref(&a)).await.expect("write");
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&final_path).expect("read"))
            .expect("valid json");
    assert_eq!(first, json!([{"id": 1, "name": "a"}]));
}

#[tokio::test]
async fn async_append_and_write_commit_staged_records_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = item_schemas();
    let target = |op: &str, path: &str| {
        let ctx = builder("file", op, "Item", &schemas)
            .option("root", opt_str(dir.path().to_str().expect("utf8")))
            .arg("path", lit(path))
            .mode(ModeKind::Async)
            .build();
        FileConnector.target(&ctx.cx).expect("target")
    };
    let items: Vec<_> = (1..=3)
        .map(|i| record(&schemas, "Item", json!({"id": i, "name": "n"})))
        .collect();
    let read = |rel: &str| std::fs::read_to_string(dir.path().join(rel)).unwrap_or_default();

    let append = target("append", "out/items.jsonl");
    assert!(append.group_commits());
    append.write(&items[..1]).await.expect("write");
    for item in &items[1..] {
        append
            .stage(std::slice::from_ref(item))
            .await
            .expect("stage");
    }
    // staged records wait for the commit
    assert_eq!(read("out/items.jsonl").lines().count(), 1);
    append.commit().await.expect("commit");
    assert_eq!(
        read("out/items.jsonl"),
        "{\"id\":1,\"name\":\"n\"}\n{\"id\":2,\"name\":\"n\"}\n{\"id\":3,\"name\":\"n\"}\n"
    );

    let write = target("write", "out/items.json");
    for item in &items {
        write
            .stage(std::slice::from_ref(item))
            .await
            .expect("stage");
    }
    assert!(!dir.path().join("out/items.json").exists());
    write.commit().await.expect("commit");
    let doc: serde_json::Value = serde_json::from_str(&read("out/items.json")).expect("json");
    assert_eq!(doc.as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn write_goes_on_from_the_file_of_an_interrupted_run_and_afresh_after_a_complete_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = item_schemas();
    let state = Arc::new(aqueduct_runtime::state::MemoryStore::default());
    let final_path = dir.path().join("out/items.json");
    let target = || {
        let ctx = builder("file", "write", "Item", &schemas)
            .option("root", opt_str(dir.path().to_str().expect("utf8")))
            .arg("path", lit("out/items.json"))
            .mode(ModeKind::Batch)
            .state(&state)
            .build();
        FileConnector.target(&ctx.cx).expect("target")
    };
    let item = |id: i64| {
        record(
            &schemas,
            "Item",
            json!({"id": id, "name": format!("n{id}")}),
        )
    };
    let ids = || -> Vec<i64> {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&final_path).expect("read"))
                .expect("valid json");
        doc.as_array()
            .expect("array")
            .iter()
            .map(|v| v["id"].as_i64().expect("id"))
            .collect()
    };
    // a run commits two chunks, buffers and spills part of a third, and is
    // killed (no finish)
    let first = target();
    first.write(&[item(1), item(2)]).await.expect("write");
    first.flush().await.expect("flush");
    first.write(&[item(3)]).await.expect("write");
    first.flush().await.expect("flush");
    first.write(&[item(4)]).await.expect("write");
    drop(first);
    assert!(!final_path.exists(), "no document before a run is complete");
    // the resumed run goes on from what was committed, and is interrupted too
    let resumed = target();
    resumed.write(&[item(4), item(5)]).await.expect("write");
    resumed.flush().await.expect("flush");
    drop(resumed);
    // the next one still goes on, and completes
    let again = target();
    again.write(&[item(6)]).await.expect("write");
    again.flush().await.expect("flush");
    again.finish().await.expect("finish");
    drop(again);
    assert_eq!(ids(), vec![1, 2, 3, 4, 5, 6]);
    // complete: the next run starts afresh
    let fresh = target();
    fresh.write(&[item(7)]).await.expect("write");
    fresh.flush().await.expect("flush");
    fresh.finish().await.expect("finish");
    assert_eq!(ids(), vec![7]);
}

#[tokio::test]
async fn append_writes_the_csv_header_once_and_templates_split_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = item_schemas();
    let build = || {
        builder("file", "append", "Out", &schemas)
            .option("root", opt_str(dir.path().to_str().expect("utf8")))
            .arg("path", template("out/{.region}.csv"))
            .build()
    };
    let ctx = build();
    let target = FileConnector.target(&ctx.cx).expect("target");
    let eu = record(&schemas, "Out", json!({"region": "eu", "id": 1}));
    let us = record(&schemas, "Out", json!({"region": "us", "id": 2}));
    let sneaky = record(&schemas, "Out", json!({"region": "../x", "id": 3}));
    target
        .write(&[eu.clone(), us, sneaky])
        .await
        .expect("write");
    drop(target);
    let ctx = build();
    let target = FileConnector.target(&ctx.cx).expect("target");
    target.write(&[eu]).await.expect("write");
    target.flush().await.expect("flush");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/eu.csv")).expect("eu"),
        "region,id\neu,1\neu,1\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/us.csv")).expect("us"),
        "region,id\nus,2\n"
    );
    assert!(
        dir.path().join("out/.._x.csv").exists()
            || dir.path().join("out/__x.csv").exists()
            || dir.path().join("out/_x.csv").exists()
    );
    assert!(
        !dir.path().join("x.csv").exists(),
        "a value cannot leave the directory"
    );
}

#[test]
fn appending_json_is_refused_at_build() {
    let schemas = item_schemas();
    let ctx = builder("file", "append", "Item", &schemas)
        .arg("path", lit("out.json"))
        .build();
    let err = FileConnector.target(&ctx.cx).err().expect("refused");
    assert!(err.to_string().contains("cannot append"), "{err}");
}
