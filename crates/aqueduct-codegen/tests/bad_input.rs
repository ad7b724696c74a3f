//! Bad input to `aqueduct build`: an unknown `--flow` (AQ0501) and an
//! output directory holding other files get a clear error, exit 2, and
//! change nothing on disk.

mod common;

use aqueduct_cli::{Cli, Exit};
use aqueduct_codegen::{CodegenError, GenerateOptions, generate};
use clap::Parser;
use std::path::Path;

fn build(project: &Path, out: &Path, extra: &[&str]) -> Exit {
    let mut args = vec![
        "aqueduct".to_string(),
        "--quiet".into(),
        "build".into(),
        project.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    aqueduct_cli::run(Cli::parse_from(args))
}

fn quickstart() -> std::path::PathBuf {
    common::repo().join("examples/quickstart")
}

#[test]
fn unknown_flow_is_aq0501_and_writes_nothing() {
    let (graph, _) = common::load(&quickstart());
    let options = GenerateOptions {
        flows: vec!["import".into()],
        ..GenerateOptions::default()
    };
    let errors = generate(&graph, &options).expect_err("`import` is not a flow");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code(), "AQ0501");
    assert!(
        matches!(&errors[0], CodegenError::UnknownFlow { name, known } if name == "import" && known.contains("import_orders"))
    );
    assert!(
        errors[0]
            .to_string()
            .contains("there is no flow named `import`")
    );

    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("services");
    assert_eq!(
        build(&quickstart(), &out, &["--flow", "import"]),
        Exit::Usage
    );
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn out_dir_with_other_files_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("services");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("notes.txt"), "mine").expect("write");
    assert_eq!(build(&quickstart(), &out, &[]), Exit::Usage);
    let entries: Vec<_> = std::fs::read_dir(&out).expect("read").collect();
    assert_eq!(entries.len(), 1, "nothing is added");
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).expect("read"),
        "mine"
    );
}

#[test]
fn building_again_replaces_an_earlier_build() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("services");
    assert_eq!(build(&quickstart(), &out, &["--flow", "quote"]), Exit::Ok);
    assert!(out.join("quote/src/quote.rs").is_file());
    assert!(
        !out.join("import-orders").exists(),
        "only the selected flow's service"
    );
    assert_eq!(build(&quickstart(), &out, &[]), Exit::Ok);
    assert!(out.join("import-orders/src/import_orders.rs").is_file());
}

#[test]
fn flows_joined_by_an_in_process_channel_are_one_service() {
    let (graph, _) = common::load(&common::repo().join("examples/document-upload"));
    let options = GenerateOptions {
        flows: vec!["portal_uploads".into()],
        ..GenerateOptions::default()
    };
    let ws = generate(&graph, &options).expect("generates");
    assert_eq!(ws.services.len(), 1);
    assert_eq!(
        ws.services[0].flows,
        ["scan_inbox", "portal_uploads", "store_in_salesforce"]
    );
}
