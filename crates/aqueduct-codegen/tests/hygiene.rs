//! No secret value and no absolute path of the build machine appears in any
//! generated file. The generation runs in a child process (this test binary
//! again) whose environment holds a value for every secret and variable the
//! examples name, as a deployment would.

mod common;

use aqueduct_cli::{Cli, Exit};
use clap::Parser;
use std::path::Path;
use std::process::Command;

const CHILD: &str = "AQUEDUCT_HYGIENE_OUT";
const SECRET: &str = "s3cr3t-value-that-must-never-leak";

/// Every `secret("…")` and `env("…")` name of the examples.
fn names() -> Vec<String> {
    let mut out = Vec::new();
    for (_, dir) in common::examples() {
        let (graph, _) = common::load(&dir);
        let json = serde_json::to_string(&graph.systems).expect("serializes");
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        collect(&value, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn collect(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                if (k == "secret" || k == "env")
                    && let Some(name) = x.get("name").and_then(|n| n.as_str())
                {
                    out.push(name.to_string());
                }
                collect(x, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
        _ => {}
    }
}

#[test]
fn generated_files_hold_no_secret_and_no_absolute_path() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(std::env::current_exe().expect("test binary"));
    child
        .args([
            "--exact",
            "child_generates_every_example",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, tmp.path());
    for name in names() {
        child.env(name, SECRET);
    }
    let status = child.status().expect("child runs");
    assert!(status.success(), "the child generation failed");
    let repo = std::fs::canonicalize(common::repo()).expect("repo");
    let home = std::env::var("HOME").unwrap_or_else(|_| "/nonexistent-home".into());
    let forbidden = [
        SECRET.to_string(),
        repo.display().to_string(),
        tmp.path().display().to_string(),
        format!("{home}/"),
    ];
    let mut files = 0;
    scan(tmp.path(), &forbidden, &mut files);
    assert!(files > 50, "every example was generated ({files} files)");
}

fn scan(dir: &Path, forbidden: &[String], files: &mut usize) {
    for entry in std::fs::read_dir(dir).expect("reads") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            scan(&path, forbidden, files);
            continue;
        }
        *files += 1;
        let text = std::fs::read_to_string(&path).expect("text");
        for f in forbidden {
            // a relative path to the runtime may pass through these directories
            // (`../../work/main/crates`); an absolute one may not appear
            let absolute = text
                .match_indices(f.as_str())
                .any(|(i, _)| !text[..i].ends_with(".."));
            assert!(!absolute, "{} contains `{f}`", path.display());
        }
    }
}

/// Runs only as the child of the test above.
#[test]
#[ignore = "the child process of generated_files_hold_no_secret_and_no_absolute_path"]
fn child_generates_every_example() {
    let Some(out) = std::env::var_os(CHILD) else {
        return;
    };
    for (name, dir) in common::examples() {
        let args = ["aqueduct", "--quiet", "build"]
            .into_iter()
            .map(String::from)
            .chain([
                dir.display().to_string(),
                "--out".into(),
                Path::new(&out).join(&name).display().to_string(),
            ]);
        assert_eq!(aqueduct_cli::run(Cli::parse_from(args)), Exit::Ok, "{name}");
    }
}
