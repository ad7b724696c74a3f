//! Golden snapshots of the generated tree: one snapshot per example holding
//! every file as `//// path` sections, Rust formatted as the CLI writes it.
//! A change to the generator shows up as a reviewed diff.

mod common;

use aqueduct_codegen::generate;

#[test]
fn every_example_generates_the_same_tree() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for (name, dir) in common::projects() {
            let (graph, sources) = common::load(&dir);
            let options = common::options(sources);
            let first = generate(&graph, &options).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let second = generate(&graph, &options).expect("generates again");
            assert_eq!(first, second, "{name}: the same input gives the same bytes");
            let mut text = String::new();
            for (path, content) in common::formatted(&first) {
                text.push_str(&format!("//// {path}\n{content}"));
                if !content.ends_with('\n') {
                    text.push('\n');
                }
            }
            insta::assert_snapshot!(name, text);
        }
    });
}
