//! Embeds the sources of the aqueduct library crates that generated
//! services link (and what they `include_str!`), aqueduct's workspace
//! manifest and its `Cargo.lock` into the `aqueduct` binary, so that
//! `aqueduct build` writes a self-contained workspace (see
//! `src/commands/build/vendor.rs`).
//!
//! The list is data: a new library crate a generated service may use (a
//! connector crate such as `aqueduct-db`) is added to [`EMBED`]; what a
//! service actually gets is decided when it is built (only the crates it
//! uses, with their internal dependencies).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Library crates (under `crates/`) a generated service may need.
const EMBED: &[&str] = &[
    "aqueduct-diagnostics",
    "aqueduct-graph",
    "aqueduct-catalog",
    "aqueduct-runtime",
    "aqueduct-connectors",
    "aqueduct-db",
    "aqueduct-brokers",
    "aqueduct-salesforce",
    "aqueduct-web",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.join("../..");
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for name in EMBED {
        let dir = root.join("crates").join(name);
        if !dir.join("Cargo.toml").is_file() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", dir.display());
        for rel in ["Cargo.toml", "build.rs"] {
            if dir.join(rel).is_file() {
                files.push((format!("crates/{name}/{rel}"), dir.join(rel)));
            }
        }
        collect(&root, &dir.join("src"), &mut files);
    }
    // what the sources include (the diagnostics pages, for instance)
    let mut included = Vec::new();
    for (_, path) in &files {
        if path.extension().is_some_and(|e| e == "rs") {
            included.extend(includes(&root, path));
        }
    }
    for (rel, path) in included {
        println!("cargo:rerun-if-changed={}", path.display());
        if !files.iter().any(|(r, _)| *r == rel) {
            files.push((rel, path));
        }
    }
    files.sort();
    for extra in ["Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(extra).display());
    }
    let mut out = String::from("/// Embedded library sources: (path in the checkout, bytes).\n");
    out.push_str("pub static FILES: &[(&str, &[u8])] = &[\n");
    for (rel, path) in &files {
        let _ = writeln!(out, "    ({rel:?}, include_bytes!({:?})),", abs(path));
    }
    out.push_str("];\n");
    let _ = writeln!(
        out,
        "/// aqueduct's workspace manifest.\npub static ROOT_MANIFEST: &str = include_str!({:?});",
        abs(&root.join("Cargo.toml"))
    );
    let _ = writeln!(
        out,
        "/// aqueduct's lock file (the versions CI tested).\npub static LOCK: &str = include_str!({:?});",
        abs(&root.join("Cargo.lock"))
    );
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("embedded.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}

fn abs(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Every file below `dir`, as (path relative to `root`, path).
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Some(rel) = relative(root, &path) {
            out.push((rel, path));
        }
    }
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let root = std::fs::canonicalize(root).ok()?;
    let path = std::fs::canonicalize(path).ok()?;
    let rel = path.strip_prefix(&root).ok()?;
    Some(
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

/// The files `include_str!("…")` / `include_bytes!("…")` in `file` name.
fn includes(root: &Path, file: &Path) -> Vec<(String, PathBuf)> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for marker in ["include_str!(\"", "include_bytes!(\""] {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            let Some(end) = rest.find('"') else { continue };
            let path = dir.join(&rest[..end]);
            if let Some(rel) = relative(root, &path) {
                out.push((rel, path));
            }
        }
    }
    out
}
