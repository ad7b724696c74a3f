//! `aqueduct build` output is self-contained: copied to another directory,
//! with no path back to the aqueduct checkout, `cargo build` succeeds with
//! only Rust and the package registry (here: its local cache, `--offline`).
//!
//! Slow the first time (it compiles the runtime's dependencies); the target
//! directory is kept under cargo's test tmp dir so later runs reuse it.

use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).expect("copy");
        }
    }
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn a_moved_copy_of_the_output_builds_without_the_checkout() {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let checkout = std::fs::canonicalize(&checkout).expect("checkout");
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_aqueduct"))
        .arg("build")
        .arg(checkout.join("examples/quickstart"))
        .arg("--out")
        .arg(&out)
        .args(["--flow", "import_orders"])
        .status()
        .expect("aqueduct build runs");
    assert!(status.success());
    for expected in [
        "Cargo.lock",
        "aqueduct/crates/aqueduct-runtime/Cargo.toml",
        "aqueduct/crates/aqueduct-connectors/src/lib.rs",
    ] {
        assert!(out.join(expected).is_file(), "{expected} written");
    }
    assert!(
        !out.join("aqueduct/crates/aqueduct-syntax").exists(),
        "the compiler front end does not travel with a service"
    );

    // moved elsewhere; nothing in it points back at the checkout
    let moved = tempfile::tempdir().expect("tempdir");
    let copy = moved.path().join("service");
    copy_dir(&out, &copy);
    drop(work);
    let mut all = Vec::new();
    files(&copy, &mut all);
    let needle = checkout.display().to_string();
    for file in &all {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        assert!(
            !text.contains(&needle),
            "{} mentions the checkout {needle}",
            file.display()
        );
    }

    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("generated-build");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--offline", "--quiet"])
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo build of the moved copy failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // the lock file pins what aqueduct's own lock does
    let lock = std::fs::read_to_string(copy.join("Cargo.lock")).expect("lock");
    let ours = std::fs::read_to_string(checkout.join("Cargo.lock")).expect("our lock");
    for package in ["tokio", "axum", "rusqlite", "serde_json"] {
        let version = |text: &str| {
            text.split("[[package]]")
                .find(|p| p.contains(&format!("name = \"{package}\"\n")))
                .and_then(|p| p.lines().find(|l| l.starts_with("version = ")))
                .map(str::to_string)
        };
        assert_eq!(version(&lock), version(&ours), "{package}");
        assert!(version(&lock).is_some(), "{package} is locked");
    }
}
