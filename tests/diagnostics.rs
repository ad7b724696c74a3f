//! Golden tests of every diagnostic: each case in `tests/cases/` is named
//! `AQnnnn_what_is_wrong` (a `.aq` file, or a directory holding a project)
//! and must produce its code; the snapshot holds the source and the rendered
//! report. Adding a test means adding a file.

use aqueduct_diagnostics::codes::REGISTRY;
use aqueduct_tests::{check, load, render_plain};
use std::path::Path;

/// Codes raised before checking (by the CLI reading files); their golden
/// tests are CLI tests in `crates/aqueduct-cli/tests/`.
const CLI_LEVEL: &[&str] = &[
    "AQ0106", "AQ0108", "AQ0904",
    // `aqueduct build`: tested in crates/aqueduct-codegen/tests/bad_input.rs
    "AQ0501", "AQ0502",
    // `aqueduct check --connect` against a live database: tested in
    // crates/aqueduct-cli/tests/run_postgres.rs
    "AQ0410",
    // a warning of `check --connect` against the Salesforce emulator:
    // crates/aqueduct-cli/tests/run_salesforce.rs
    "AQ0412",
];

fn cases() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut cases: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/cases exists")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    cases
}

fn code_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().chars().take(6).collect())
        .unwrap_or_default()
}

#[test]
fn every_case_reports_its_code() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots/diagnostics");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for case in cases() {
            let name = case
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let code = code_of(&case);
            let loaded = load(&case).expect("case loads");
            let result = check(&loaded);
            let report = render_plain(&result, &loaded);
            assert!(
                result.diagnostics.iter().any(|d| d.code.as_str() == code),
                "case {name} should report {code}, got:\n{report}"
            );
            let mut source = String::new();
            for (_, file) in loaded.sources.iter() {
                source.push_str(&format!("//// {}\n{}", file.name, file.text));
            }
            insta::assert_snapshot!(
                name,
                format!("----- SOURCE\n{source}\n----- DIAGNOSTICS\n{report}")
            );
        }
    });
}

#[test]
fn every_code_has_a_case() {
    let cases: Vec<String> = cases().iter().map(|c| code_of(c)).collect();
    for info in REGISTRY {
        let code = info.code.as_str();
        assert!(
            cases.iter().any(|c| c == code) || CLI_LEVEL.contains(&code),
            "diagnostic {code} ({}) has no golden case in tests/cases/",
            info.title
        );
    }
}
