//! A generated service reads a resumable `query(sql, key: [..])` the way
//! `aqueduct run` does: the source's `key` reaches the embedded
//! `graph.json` as the same list of field names the connector crates read
//! (`arg_fields`), as a target's `upsert(…, key: [..])` does.

mod common;

use aqueduct_graph::{Endpoint, ExprKind, Value};

#[test]
fn the_key_of_a_resumable_query_reaches_the_service_graph() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("main.aq"),
        r#"system db: postgres { url = secret("DB_URL") }

type Row { id: int, day: date, name: string }

flow dump {
  mode batch
  from db.query("select id, day, name from t", key: [day, id]) as Row
  to db.upsert("copy", key: [id])
}
"#,
    )
    .expect("writes");
    let (graph, sources) = common::load(dir.path());
    let ws = aqueduct_codegen::generate(&graph, &common::options(sources)).expect("generates");
    let (_, json) = ws
        .files
        .iter()
        .find(|(path, _)| path.ends_with("graph.json"))
        .expect("a graph.json");
    let embedded = aqueduct_runtime::native::load_graph(json).expect("loads");
    let flow = embedded.flow("dump").expect("the flow");
    let Endpoint::Op(op) = &flow.source.endpoint else {
        panic!("an operation source");
    };
    let key = op.arg("key").expect("the key argument");
    let ExprKind::List(items) = &key.kind else {
        panic!("a list: {key:?}");
    };
    let names: Vec<&str> = items
        .iter()
        .map(|i| match &i.kind {
            ExprKind::Lit(Value::String(s)) => s.as_str(),
            other => panic!("a field name: {other:?}"),
        })
        .collect();
    assert_eq!(names, ["day", "id"]);
}
