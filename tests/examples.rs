//! Every project in `examples/` checks clean, and its lowered Graph and its
//! DOT and Mermaid drawings are golden files (`snapshots/examples/`), so a
//! change to lowering or drawing shows up as a reviewed diff.

use aqueduct_tests::{check, load, render_plain};
use std::path::Path;

fn examples() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .expect("examples/ exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

#[test]
fn examples_check_clean_and_lower() {
    let examples = examples();
    assert!(
        examples.len() >= 7,
        "the six scenarios and the quickstart are examples"
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots/examples");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for example in examples {
            let name = example
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let loaded = load(&example).expect("example loads");
            let result = check(&loaded);
            assert!(
                result.diagnostics.is_empty(),
                "example {name} is not clean:\n{}",
                render_plain(&result, &loaded)
            );
            let graph = result.graph.expect("a clean project lowers to a graph");
            assert!(!graph.flows.is_empty(), "example {name} has flows");
            assert!(!graph.tests.is_empty(), "example {name} has tests");
            insta::assert_snapshot!(format!("{name}.dot"), aqueduct_graph::render::dot(&graph));
            insta::assert_snapshot!(
                format!("{name}.mermaid"),
                aqueduct_graph::render::mermaid(&graph)
            );
            insta::assert_json_snapshot!(name, graph);
        }
    });
}
