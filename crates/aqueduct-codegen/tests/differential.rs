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
//!   through `executor::build` in-process, and compares every output file;
//! - three copies of the `work-queue` service share one RabbitMQ queue, one
//!   of them killed mid-stream ([`service_replicas`]).

mod common;
mod service_replicas;

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

/// One field of a generated order line: its JSON text, or `None` to leave it out.
type Field = (&'static str, Option<String>);

fn json_text(s: &str) -> String {
    serde_json::to_string(s).expect("a string")
}

/// Text values with everything JSON escaping and UTF-8 make awkward.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Zäö日 ]{0,6}".prop_map(|s| json_text(&s)),
        Just(json_text("quote \" back \\ tab \t nl \n cr \r")),
        Just(json_text("\u{1f389} \u{2028} \u{7f} \u{1} \u{0}")),
        // escapes as a writer other than serde_json writes them
        Just(r#""\u00e9t\u00E9 \/ \ud83d\ude00""#.to_string()),
        Just(json_text("skip")),
    ]
}

fn optional(s: impl Strategy<Value = String>) -> impl Strategy<Value = Option<String>> {
    prop_oneof![Just(None), Just(Some("null".to_string())), s.prop_map(Some)]
}

fn decimal_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i64..2_000_000, 0u32..4).prop_map(|(m, s)| rust_decimal::Decimal::new(m, s).to_string()),
        (0i64..2_000_000, 0u32..4)
            .prop_map(|(m, s)| json_text(&rust_decimal::Decimal::new(m, s).to_string())),
        Just("0.10".to_string()),
        Just("1e3".to_string()),
        Just("-12.500".to_string()),
        Just("\"12\\u002e5\"".to_string()),
        Just("true".to_string()),
    ]
}

/// One order line (`Order` of the fixture's `typed` flow), well-formed or not.
fn order_line() -> impl Strategy<Value = Vec<u8>> {
    let fields = (
        prop_oneof![
            (-5i64..1000).prop_map(|i| i.to_string()),
            Just("2.0".to_string()),
            Just("\"7\"".to_string()),
        ],
        prop_oneof![8 => text().prop_map(Some), 1 => Just(None)],
        optional(text()),
        prop_oneof![
            (-3i64..200).prop_map(|i| i.to_string()),
            Just("0".to_string()),
            Just("3".to_string()),
            Just((i64::MAX / 3).to_string()),
            Just("3.0".to_string()),
            Just("9223372036854775808".to_string()),
        ],
        decimal_text(),
        optional(decimal_text()),
        prop_oneof![
            (0.0f64..1.0).prop_map(|f| serde_json::to_string(&f).expect("float")),
            Just("1".to_string()),
            Just("-0.0".to_string()),
            Just("1e300".to_string()),
            Just("1.5e-7".to_string()),
        ],
        optional(prop_oneof![
            Just(json_text("2026-01-01T00:00:00Z")),
            Just(json_text("2026-03-01T12:00:00.5+02:00")),
            Just(json_text("2026-01-01 10:00:00")),
            Just(json_text("yesterday")),
        ]),
        optional(prop_oneof![
            Just(json_text("2026-02-28")),
            Just(json_text("2026-02-30"))
        ]),
        prop_oneof![
            8 => proptest::collection::vec(text(), 0..3).prop_map(|t| Some(format!("[{}]", t.join(",")))),
            1 => Just(None),
            1 => Just(Some("[1]".to_string())),
        ],
        optional(prop_oneof![
            Just("true".to_string()),
            Just("false".to_string())
        ]),
    );
    let shape = prop_oneof![
        40 => Just(0u8), // as generated
        3 => Just(1),    // an unknown field and a duplicate key
        2 => Just(2),    // CRLF line ending
        1 => Just(3),    // blank
        1 => Just(4),    // not JSON
        1 => Just(5),    // an array
        1 => Just(6),    // not UTF-8
    ];
    (fields, shape).prop_map(
        |((id, name, note, qty, price, discount, ratio, seen, day, tags, rush), shape)| {
            let fields: Vec<Field> = vec![
                ("id", Some(id)),
                ("name", name),
                ("note", note),
                ("qty", Some(qty)),
                ("price", Some(price)),
                ("discount", discount),
                ("ratio", Some(ratio)),
                ("seen_at", seen),
                ("day", day),
                ("tags", tags),
                ("rush", rush),
            ];
            let mut parts: Vec<String> = fields
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("\"{k}\":{v}")))
                .collect();
            if shape == 1 {
                parts.insert(0, "\"qty\":1".into());
                parts.push("\"extra\":{\"x\":[1,2]}".into());
            }
            let line = format!("{{{}}}", parts.join(","));
            match shape {
                2 => format!("{line}\r").into_bytes(),
                3 => b"   ".to_vec(),
                4 => b"not json".to_vec(),
                5 => b"[1,2]".to_vec(),
                6 => vec![b'{', 0xff, 0xfe, b'}'],
                _ => line.into_bytes(),
            }
        },
    )
}

/// The dead letter's lines without their `at` time (always the last
/// field), sorted: `run` dead-letters the records of a group step by step
/// (every `where` failure of the group before any `map` failure), and how
/// records are grouped depends on timing, so only the entries are its
/// behaviour, not their order.
fn without_at(text: &str) -> String {
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| match l.rfind(",\"at\":\"") {
            Some(i) => format!("{}}}\n", &l[..i]),
            None => format!("{l}\n"),
        })
        .collect();
    lines.sort();
    lines.concat()
}

/// Runs the `typed` service with `state` on `input` into `output`; its stderr.
fn run_typed(input: &Path, output: &Path, state: &str, log: &str) -> String {
    let out = Command::new(binary("differential-typed"))
        .env("DIFF_IN", input)
        .env("DIFF_OUT", output)
        .env("AQUEDUCT_STATE", state)
        .env("AQUEDUCT_ADMIN", "127.0.0.1:0")
        .env("RUST_LOG", log)
        .output()
        .expect("service runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "service failed: {stderr}");
    stderr
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The native batch path writes the very bytes `run` writes: targets
    /// byte for byte, dead-letter entries byte for byte but for their time
    /// (see [`without_at`] for their order).
    #[test]
    fn the_native_path_writes_the_bytes_run_writes(lines in proptest::collection::vec(order_line(), 1..40)) {
        let _ = built();
        let (graph, _) = common::load(&common::fixture());
        let tmp = tempfile::tempdir().expect("temp dir");
        let (input, native_out, interp_out) = (tmp.path().join("in"), tmp.path().join("native"), tmp.path().join("interp"));
        for d in [&input, &native_out, &interp_out] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let mut file = lines.join(&b"\n"[..]);
        file.push(b'\n');
        std::fs::write(input.join("orders.jsonl"), file).expect("input");
        run_typed(&input, &native_out, "memory:", "error");
        interpret(&graph, &input, &interp_out);
        let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).ok();
        prop_assert_eq!(read(&native_out, "typed.jsonl"), read(&interp_out, "typed.jsonl"));
        prop_assert_eq!(
            read(&native_out, "typed-dead.jsonl").map(|t| without_at(&t)),
            read(&interp_out, "typed-dead.jsonl").map(|t| without_at(&t))
        );
    }
}

/// The `typed` flow takes the native path (and `lines`, with `let` and
/// `route`, the executor); a run resumes from the position `run` stored,
/// and stores the position `run` stores.
#[test]
fn the_native_path_resumes_where_run_stopped() {
    let _ = built();
    let (graph, _) = common::load(&common::fixture());
    let tmp = tempfile::tempdir().expect("temp dir");
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    let lines: Vec<String> = (0..30)
        .map(|i| {
            format!(
                r#"{{"id":{i},"name":"n{i}","qty":{},"price":"1.{i:02}","ratio":0.5,"tags":[]}}"#,
                i % 5
            )
        })
        .collect();
    std::fs::write(input.join("orders.jsonl"), lines.join("\n") + "\n").expect("input");
    // a run stopped after the record on line 11 (the offset after it)
    let offset: usize = lines.iter().take(11).map(|l| l.len() + 1).sum();
    let position = format!(r#"{{"done":{{}},"current":{{"path":"orders.jsonl","pos":{offset}}}}}"#);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let key = "file:typed:orders.jsonl";
    let mut results = Vec::new();
    for native in [true, false] {
        let out = tmp.path().join(if native { "native" } else { "interp" });
        std::fs::create_dir_all(&out).expect("mkdir");
        let url = format!("sqlite://{}/state.db", out.display());
        let state = rt
            .block_on(aqueduct_runtime::state::open(&url))
            .expect("state");
        rt.block_on(state.put(key, &position)).expect("put");
        drop(state);
        if native {
            let log = run_typed(&input, &out, &url, "info");
            assert!(log.contains("Running natively"), "{log}");
        } else {
            interpret_with_state(&graph, &input, &out, &url);
        }
        let state = rt
            .block_on(aqueduct_runtime::state::open(&url))
            .expect("state");
        let stored = rt.block_on(state.get(key)).expect("get");
        let text = std::fs::read_to_string(out.join("typed.jsonl")).expect("output");
        results.push((
            text,
            without_at(&std::fs::read_to_string(out.join("typed-dead.jsonl")).unwrap_or_default()),
            stored,
        ));
    }
    assert_eq!(results[0], results[1]);
    assert!(results[0].0.starts_with(r#"{"id":11,"#), "{}", results[0].0);
    // the lines flow (let, route) is not on the native path
    let out = Command::new(binary("differential-lines"))
        .env("DIFF_IN", &input)
        .env("DIFF_OUT", tmp.path().join("lines"))
        .env("AQUEDUCT_STATE", "memory:")
        .env("AQUEDUCT_ADMIN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .output()
        .expect("service runs");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Running natively"));
}

fn interpret_with_state(graph: &aqueduct_graph::Graph, input: &Path, output: &Path, url: &str) {
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
    let report = rt.block_on(async {
        let opts = aqueduct_runtime::executor::RunOptions {
            config: Arc::new(EnvConfig {
                overrides,
                secrets_dir: None,
            }),
            state: aqueduct_runtime::state::open(url).await.expect("state"),
            ..Default::default()
        };
        aqueduct_runtime::executor::build(graph, &aqueduct_connectors::embedded_registry(), opts)
            .expect("builds")
            .spawn()
            .wait()
            .await
    });
    assert!(report.ok(), "{report}");
}
