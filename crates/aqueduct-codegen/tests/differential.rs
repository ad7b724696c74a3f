//! Generated crates compile (clippy `-D warnings` clean) and behave like
//! the interpreter:
//! - every example's services and the fixture are generated into one cargo
//!   workspace under the test's temp dir, linted and built with the
//!   workspace's target directory, so dependencies are shared;
//! - each service binary runs its project's flow tests on the native steps
//!   (`SERVICE test --capture`) and must capture exactly what
//!   `testing::capture_tests` captures with the interpreter;
//! - a property test feeds generated records to the fixture's batch flow
//!   (where, let, map, route, dead letter) through the generated binary and
//!   through `executor::build` in-process, and compares every output file.

mod common;

use aqueduct_codegen::{RuntimeSource, generate};
use aqueduct_runtime::secrets::EnvConfig;
use aqueduct_runtime::testing::{CapturedRun, TestOptions, capture_tests};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

/// The combined workspace: its root and every service (crate, dir).
struct Built {
    services: Vec<(String, PathBuf)>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("codegen-services")
}

/// Writes `text` to `path` unless it already holds it (keeps cargo's
/// fingerprints, so a second run rebuilds nothing).
fn put(path: &Path, text: &str) {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return;
    }
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// The built workspace; a failed build is remembered, not retried by every test.
fn built() -> &'static Built {
    static BUILT: OnceLock<Result<Built, String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        std::panic::catch_unwind(build_all).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    });
    match result {
        Ok(b) => b,
        Err(e) => panic!("the generated workspace does not build:\n{e}"),
    }
}

fn build_all() -> Built {
    {
        let root = root();
        std::fs::create_dir_all(&root).expect("mkdir");
        let runtime = common::relative(&root, &common::repo().join("crates"));
        let mut members = Vec::new();
        let mut services = Vec::new();
        let mut workspace = String::new();
        // dependency lines of every project's workspace manifest (the
        // connector crates differ from project to project)
        let mut dependencies: Vec<String> = Vec::new();
        for (name, dir) in common::projects() {
            let (graph, sources) = common::load(&dir);
            let mut options = common::options(sources);
            options.runtime = RuntimeSource::Path(runtime.clone());
            let ws = generate(&graph, &options).expect("generates");
            for (path, text) in &ws.files {
                if path.contains('/') {
                    put(&root.join(&name).join(path), text);
                } else if path == "Cargo.toml" {
                    workspace = text.clone();
                    let lines = text
                        .split("[workspace.dependencies]\n")
                        .nth(1)
                        .unwrap_or_default()
                        .lines()
                        .take_while(|l| !l.starts_with('['))
                        .filter(|l| l.contains(" = ") && !l.starts_with('#'));
                    for line in lines {
                        if !dependencies.iter().any(|d| d == line) {
                            dependencies.push(line.to_string());
                        }
                    }
                }
            }
            for s in &ws.services {
                members.push(format!("    \"{name}/{}\",\n", s.dir));
                services.push((s.name.clone(), root.join(&name).join(&s.dir)));
            }
        }
        // one workspace over every example's services
        let start = workspace.find("members = [").expect("members");
        let end = start + workspace[start..].find(']').expect("end of members");
        let workspace = format!(
            "{}members = [\n{}{}",
            &workspace[..start],
            members.concat(),
            &workspace[end..]
        );
        let (head, tail) = workspace
            .split_once("[workspace.dependencies]\n")
            .expect("a dependencies table");
        let rest: String = tail
            .lines()
            .skip_while(|l| !l.starts_with('['))
            .map(|l| format!("{l}\n"))
            .collect();
        let workspace = format!(
            "{head}[workspace.dependencies]\n{}\n\n{rest}",
            dependencies.join("\n")
        );
        put(&root.join("Cargo.toml"), &workspace);
        let lock = std::fs::read_to_string(common::repo().join("Cargo.lock")).expect("Cargo.lock");
        put(&root.join("Cargo.lock"), &lock);
        common::cargo(
            &root,
            &[
                "clippy",
                "--offline",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        );
        common::cargo(&root, &["build", "--offline", "--bins"]);
        Built { services }
    }
}

fn binary(krate: &str) -> PathBuf {
    common::target_dir().join("debug").join(krate)
}

#[test]
fn every_generated_crate_compiles_and_is_clippy_clean() {
    let b = built();
    assert!(b.services.len() >= 10, "{} services", b.services.len());
    for (krate, _) in &b.services {
        assert!(binary(krate).is_file(), "{krate} was built");
    }
}

#[test]
fn native_flow_tests_capture_what_the_interpreter_captures() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for (krate, dir) in &built().services {
        let graph = aqueduct_runtime::native::load_graph(
            &std::fs::read_to_string(dir.join("src/graph.json")).expect("graph.json"),
        )
        .expect("graph");
        let interpreted = rt.block_on(capture_tests(&graph, None, &TestOptions::default()));
        let out = Command::new(binary(krate))
            .args(["test", "--capture"])
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{krate} test --capture: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let native: Vec<CapturedRun> = serde_json::from_slice(&out.stdout).expect("captured runs");
        assert!(!native.is_empty() || graph.tests.is_empty());
        assert_eq!(
            native, interpreted,
            "{krate}: native and interpreted runs differ"
        );
        // and the tests pass natively
        let status = Command::new(binary(krate))
            .arg("test")
            .output()
            .expect("runs");
        assert!(
            status.status.success(),
            "{krate} test: {}",
            String::from_utf8_lossy(&status.stdout)
        );
    }
}

/// One generated input line of the fixture (`Item`), as JSON text.
fn item() -> impl Strategy<Value = String> {
    let decimal =
        (0i64..2_000_000, 0u32..4).prop_map(|(m, s)| rust_decimal::Decimal::new(m, s).to_string());
    (
        (-5i64..1000),
        "[a-zA-Zäö ]{0,6}",
        proptest::option::of("[a-z ]{0,15}"),
        prop_oneof![
            -3i64..200,
            Just(0i64),
            Just(7),
            Just(14),
            Just(10_000_000),
            Just(i64::MAX / 3)
        ],
        decimal.clone(),
        proptest::option::of(decimal),
        0.0f64..1.0,
        proptest::option::of(0i64..2_000_000_000),
    )
        .prop_map(|(id, name, note, qty, price, discount, ratio, seen)| {
            let mut m = serde_json::Map::new();
            m.insert("id".into(), id.into());
            m.insert("name".into(), name.into());
            if let Some(n) = note {
                m.insert("note".into(), n.into());
            }
            m.insert("qty".into(), qty.into());
            m.insert("price".into(), serde_json::Value::String(price));
            if let Some(d) = discount {
                m.insert("discount".into(), serde_json::Value::String(d));
            }
            m.insert("ratio".into(), ratio.into());
            if let Some(s) = seen.and_then(|s| chrono::DateTime::from_timestamp(s, 0)) {
                m.insert("seen_at".into(), s.to_rfc3339().into());
            }
            serde_json::Value::Object(m).to_string()
        })
}

/// The output files of a run, dead letters without their `at` time.
fn outputs(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for name in ["big.jsonl", "flagged.jsonl", "rest.jsonl", "dead.jsonl"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let lines = text
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).expect("json line");
                if let Some(o) = v.as_object_mut() {
                    o.remove("at");
                }
                v.to_string()
            })
            .collect();
        out.insert(name.to_string(), lines);
    }
    out
}

fn interpret(graph: &aqueduct_graph::Graph, input: &Path, output: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let overrides = [
        ("DIFF_IN".to_string(), input.display().to_string()),
        ("DIFF_OUT".to_string(), output.display().to_string()),
    ]
    .into_iter()
    .collect();
    let opts = aqueduct_runtime::executor::RunOptions {
        config: Arc::new(EnvConfig {
            overrides,
            secrets_dir: None,
        }),
        ..Default::default()
    };
    let report = rt.block_on(async {
        aqueduct_runtime::executor::build(graph, &aqueduct_connectors::embedded_registry(), opts)
            .expect("builds")
            .spawn()
            .wait()
            .await
    });
    assert!(report.ok(), "{report}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn generated_records_give_the_same_output(lines in proptest::collection::vec(item(), 1..40)) {
        let krate = "differential-lines";
        let _ = built();
        let (graph, _) = common::load(&common::fixture());
        let tmp = tempfile::tempdir().expect("temp dir");
        let (input, native_out, interp_out) = (tmp.path().join("in"), tmp.path().join("native"), tmp.path().join("interp"));
        for d in [&input, &native_out, &interp_out] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(input.join("items.jsonl"), lines.join("\n") + "\n").expect("input");
        let out = Command::new(binary(krate))
            .env("DIFF_IN", &input)
            .env("DIFF_OUT", &native_out)
            .env("AQUEDUCT_STATE", "memory:")
            .env("AQUEDUCT_ADMIN", "127.0.0.1:0")
            .env("RUST_LOG", "error")
            .output()
            .expect("service runs");
        prop_assert!(out.status.success(), "service failed: {}", String::from_utf8_lossy(&out.stderr));
        interpret(&graph, &input, &interp_out);
        let (native, interpreted) = (outputs(&native_out), outputs(&interp_out));
        prop_assert_eq!(native, interpreted);
    }
}

/// Issue 12: a generated service writing its logs to a pipe (or a file)
/// writes no ANSI colour codes.
#[test]
fn logs_to_a_pipe_carry_no_ansi_codes() {
    let _ = built();
    let tmp = tempfile::tempdir().expect("temp dir");
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    for d in [&input, &output] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(input.join("items.jsonl"), "{\"id\": 1}\n").expect("input");
    let out = Command::new(binary("differential-lines"))
        .env("DIFF_IN", &input)
        .env("DIFF_OUT", &output)
        .env("AQUEDUCT_STATE", "memory:")
        .env("AQUEDUCT_ADMIN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .output()
        .expect("service runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INFO"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI codes in a pipe:\n{stderr}"
    );
}
