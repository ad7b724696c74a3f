//! Shared helpers of the codegen tests: loading projects, formatting the
//! generated Rust, writing a generated tree where cargo can build it.
#![allow(dead_code)]

use aqueduct_codegen::{GenerateOptions, GeneratedWorkspace, RuntimeSource};
use aqueduct_diagnostics::SourceMap;
use aqueduct_graph::Graph;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every project under `examples/`, by name.
pub fn examples() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/ exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .map(|p| {
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                p,
            )
        })
        .collect();
    out.sort();
    out
}

/// The property-test fixture project.
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/differential")
}

/// Every project the generator is tested on: the examples and the fixtures
/// (`differential`: the property test's flow; `constructs`: lists, json,
/// `in`, indexing, `split`, `dedupe` and the functions handed to the runtime).
pub fn projects() -> Vec<(String, PathBuf)> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = examples();
    out.push(("differential-fixture".into(), fixtures.join("differential")));
    out.push(("constructs-fixture".into(), fixtures.join("constructs")));
    out
}

/// Checks the project at `dir`: its graph and its `.aq` texts.
pub fn load(dir: &Path) -> (Graph, BTreeMap<String, String>) {
    let mut files = Vec::new();
    collect(dir, &mut files);
    files.sort();
    let mut sources = SourceMap::default();
    let mut texts = BTreeMap::new();
    let manifest = dir.join("aqueduct.yaml");
    let manifest = manifest.is_file().then(|| {
        sources.add(
            "aqueduct.yaml",
            std::fs::read_to_string(&manifest).expect("manifest reads"),
        )
    });
    for f in files {
        let name = f
            .strip_prefix(dir)
            .expect("inside")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&f).expect("reads");
        texts.insert(name.clone(), text.clone());
        sources.add(name, text);
    }
    let result = aqueduct_check::check(&sources, manifest);
    let graph = result
        .graph
        .unwrap_or_else(|| panic!("{} checks: {:?}", dir.display(), result.diagnostics));
    (graph, texts)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("dir reads") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "aq") {
            out.push(path);
        }
    }
}

/// Options as the golden files use them (a fixed runtime path).
pub fn options(sources: BTreeMap<String, String>) -> GenerateOptions {
    GenerateOptions {
        flows: Vec::new(),
        runtime: RuntimeSource::Path("../../crates".into()),
        sources,
    }
}

/// `text` formatted by `rustfmt --edition 2024`.
pub fn rustfmt(text: &str) -> String {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rustfmt runs (rustup component add rustfmt)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("writes");
    let out = child.wait_with_output().expect("rustfmt ends");
    assert!(
        out.status.success(),
        "rustfmt rejects generated code:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The generated files with the Rust ones formatted, as the CLI writes them.
pub fn formatted(ws: &GeneratedWorkspace) -> BTreeMap<String, String> {
    ws.files
        .iter()
        .map(|(p, t)| {
            (
                p.clone(),
                if p.ends_with(".rs") {
                    rustfmt(t)
                } else {
                    t.clone()
                },
            )
        })
        .collect()
}

/// The cargo target directory the tests share with the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

/// `to` relative to the directory `from`.
pub fn relative(from: &Path, to: &Path) -> String {
    let from = std::fs::canonicalize(from).expect("from exists");
    let to = std::fs::canonicalize(to).expect("to exists");
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// Runs cargo with the shared target directory; panics with its output on failure.
pub fn cargo(dir: &Path, args: &[&str]) {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {} failed in {}:\n{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
