//! The state store on PostgreSQL through `aqueduct run`: a project with
//! `state: postgres://…` runs, its batch checkpoint is in the
//! `aqueduct_state` table, and a second run reads nothing again.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); without it the test prints
//! `SKIP: …` and passes, unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use support::Project;

fn postgres_url(test: &str) -> Option<String> {
    aqueduct_test_support::service_url("AQUEDUCT_TEST_POSTGRES_URL", test)
}

/// The stored value of `key`, read through the runtime's own PostgreSQL store.
fn state_value(url: &str, key: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let store = aqueduct_runtime::state::open(url)
            .await
            .expect("connects to the PostgreSQL state store");
        store.get(key).await.expect("reads the state table")
    })
}

#[test]
fn a_batch_checkpoint_is_stored_in_postgres_and_used_by_the_next_run() {
    let Some(url) =
        postgres_url("a_batch_checkpoint_is_stored_in_postgres_and_used_by_the_next_run")
    else {
        return;
    };
    // a flow name of its own, so runs of this test never share a checkpoint
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let flow = format!("pg_copy_{}_{nanos}", std::process::id());
    let p = Project::new();
    p.file("aqueduct.yaml", format!("name: pg-state\nstate: {url}\n"))
        .file("in/rows.jsonl", "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
        .file(
            "main.aq",
            format!(
                r#"
type Row {{ n: int }}

flow {flow} {{
  mode batch
  from file("in").read("*.jsonl") as Row
  to file("out").append("rows.jsonl")
}}
"#
            ),
        );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary(&flow),
        format!("{flow}: 3 in, 3 delivered, 0 filtered, 0 failed, 0 dead-lettered")
    );
    assert!(
        !p.path(".aqueduct/state.db").exists(),
        "no SQLite state store next to a PostgreSQL one"
    );
    let key = format!("file:{flow}:*.jsonl");
    let value = state_value(&url, &key)
        .unwrap_or_else(|| panic!("no checkpoint `{key}` in aqueduct_state"));
    let checkpoint: serde_json::Value =
        serde_json::from_str(&value).unwrap_or_else(|e| panic!("`{value}` is not JSON: {e}"));
    assert!(
        checkpoint["done"].get("rows.jsonl").is_some(),
        "the finished file is recorded: {checkpoint}"
    );
    // the next run finds the checkpoint and reads nothing again
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary(&flow),
        format!("{flow}: 0 in, 0 delivered, 0 filtered, 0 failed, 0 dead-lettered")
    );
    assert_eq!(
        p.read("out/rows.jsonl"),
        "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n"
    );
    // best effort: leave the shared table as it was (the key is this run's own)
    let _ = std::process::Command::new("psql")
        .arg(&url)
        .args([
            "-qAtc",
            &format!("DELETE FROM aqueduct_state WHERE key = '{key}'"),
        ])
        .output();
}
