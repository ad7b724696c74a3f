//! The JSONL map/filter pipeline three ways, in one run:
//! - a hand-written serde_json program (the baseline),
//! - the interpreter: `aqueduct run` (the release CLI), and `executor::build`
//!   in this process,
//! - the generated service (`aqueduct build`, release binary): on the
//!   executor with its native steps (`AQUEDUCT_NATIVE=0`, what services
//!   did before the native batch path), and on its native batch path, its
//!   output checked byte-equal to `aqueduct run`'s.
//!
//! The pipeline, its input and its baseline are those of the runtime
//! benchmark (`crates/aqueduct-bench`), so the numbers line up.
//!
//! `cargo bench -p aqueduct-codegen --bench pipeline [-- RECORDS]`. Also
//! reports the generated crate's warm release build time and binary size.
//! Results go in docs/codegen.md and docs/performance.md.

use aqueduct_codegen::{GenerateOptions, RuntimeSource};
use aqueduct_diagnostics::SourceMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

fn relative(from: &Path, to: &Path) -> String {
    let from = std::fs::canonicalize(from).expect("from");
    let to = std::fs::canonicalize(to).expect("to");
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

fn graph() -> aqueduct_graph::Graph {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pipeline");
    let mut sources = SourceMap::default();
    let m = sources.add(
        "aqueduct.yaml",
        std::fs::read_to_string(dir.join("aqueduct.yaml")).expect("yaml"),
    );
    sources.add(
        "pipeline.aq",
        std::fs::read_to_string(dir.join("pipeline.aq")).expect("aq"),
    );
    aqueduct_check::check(&sources, Some(m))
        .graph
        .expect("the bench project checks")
}

/// The runtime benchmark's input (crates/aqueduct-bench): ~200-byte events
/// from a SplitMix64 generator.
fn input(path: &Path, n: usize) {
    let countries = ["de", "fr", "us", "gb", "it", "es", "nl", "se"];
    let words = [
        "express",
        "gift wrap",
        "fragile",
        "weekend",
        "pickup",
        "repeat",
        "priority",
        "standard",
    ];
    let mut state: u64 = 42;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("input"));
    for id in 0..n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let r = z ^ (z >> 31);
        let country = countries[(r % 8) as usize];
        let cents = 100 + (r >> 8) % 9_900;
        let quantity = (r >> 24) % 12;
        let status = if (r >> 32).is_multiple_of(10) {
            "inactive"
        } else {
            "active"
        };
        let word = words[((r >> 40) % 8) as usize];
        writeln!(
            w,
            r#"{{"id":{id},"user":"user_{id:07}","email":"User.{id:07}@Example.COM","country":"{country}","price":{}.{:02},"quantity":{quantity},"status":"{status}","note":"{word} delivery, leave the parcel at the door, ref {r:016x}"}}"#,
            cents / 100,
            cents % 100,
        )
        .expect("write");
    }
    w.flush().expect("flush");
}

#[derive(serde::Deserialize)]
struct Event {
    id: i64,
    user: String,
    email: String,
    country: String,
    price: f64,
    quantity: i64,
    status: String,
    #[allow(dead_code)]
    note: String,
}

#[derive(serde::Serialize)]
struct Out<'a> {
    id: i64,
    user_name: &'a str,
    email: String,
    country: String,
    total: f64,
    tier: &'static str,
}

/// The hand-written baseline (as crates/aqueduct-bench's): typed structs through serde_json.
fn baseline(inp: &Path, out: &Path) {
    let r = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(inp).expect("open"));
    let mut w = BufWriter::with_capacity(1 << 16, std::fs::File::create(out).expect("create"));
    for line in r.lines() {
        let line = line.expect("line");
        if line.trim().is_empty() {
            continue;
        }
        let e: Event = serde_json::from_str(&line).expect("event");
        if !(e.status == "active" && e.quantity > 0) {
            continue;
        }
        let total = e.price * e.quantity as f64;
        let o = Out {
            id: e.id,
            user_name: &e.user,
            email: e.email.to_lowercase(),
            country: e.country.to_uppercase(),
            total,
            tier: if total >= 100.0 { "big" } else { "small" },
        };
        serde_json::to_writer(&mut w, &o).expect("write");
        w.write_all(b"\n").expect("newline");
    }
    w.flush().expect("flush");
}

fn interpreter(graph: &aqueduct_graph::Graph, inp: &Path, out: &Path) {
    let overrides = [
        ("BENCH_IN".to_string(), inp.display().to_string()),
        ("BENCH_OUT".to_string(), out.display().to_string()),
    ]
    .into_iter()
    .collect();
    let opts = aqueduct_runtime::executor::RunOptions {
        config: Arc::new(aqueduct_runtime::secrets::EnvConfig {
            overrides,
            secrets_dir: None,
        }),
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let report = rt.block_on(async {
        aqueduct_runtime::executor::build(graph, &aqueduct_connectors::embedded_registry(), opts)
            .expect("builds")
            .spawn()
            .wait()
            .await
    });
    assert!(report.ok(), "{report}");
}

/// `aqueduct run` (the release CLI binary) on a copy of the bench project,
/// from a fresh state store (a batch source resumes from its checkpoint).
fn run_cli(project: &Path, inp: &Path, out: &Path) {
    let _ = std::fs::remove_dir_all(project.join(".aqueduct"));
    let status = Command::new(target().join("release/aqueduct"))
        .args(["--quiet", "run"])
        .arg(project)
        .env("BENCH_IN", inp)
        .env("BENCH_OUT", out)
        .env("AQUEDUCT_STATE", "memory:")
        .env("RUST_LOG", "error")
        .status()
        .expect("aqueduct runs");
    assert!(status.success());
}

fn service(bin: &Path, inp: &Path, out: &Path, native: bool) {
    let status = Command::new(bin)
        .env("AQUEDUCT_NATIVE", if native { "1" } else { "0" })
        .env("BENCH_IN", inp)
        .env("BENCH_OUT", out)
        .env("AQUEDUCT_STATE", "memory:")
        .env("AQUEDUCT_ADMIN", "127.0.0.1:0")
        .env("RUST_LOG", "error")
        .status()
        .expect("service runs");
    assert!(status.success());
}

fn best(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300_000);
    let dir = target().join("tmp/bench-pipeline");
    let (inp, out, ws) = (dir.join("in"), dir.join("out"), dir.join("services"));
    let _ = std::fs::remove_dir_all(&ws);
    for d in [&inp, &out, &ws] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    input(&inp.join("events.jsonl"), n);
    let graph = graph();
    let options = GenerateOptions {
        runtime: RuntimeSource::Path(relative(&ws, &repo().join("crates"))),
        ..GenerateOptions::default()
    };
    let generated = aqueduct_codegen::generate(&graph, &options).expect("generates");
    for (p, t) in &generated.files {
        let path = ws.join(p);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        if std::fs::read_to_string(&path).ok().as_deref() != Some(t.as_str()) {
            std::fs::write(&path, t).expect("write");
        }
    }
    std::fs::copy(repo().join("Cargo.lock"), ws.join("Cargo.lock")).expect("lock");
    let t = Instant::now();
    let built = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--offline"])
        .current_dir(&ws)
        .env("CARGO_TARGET_DIR", target())
        .status()
        .expect("cargo");
    assert!(built.success());
    let build_time = t.elapsed();
    let cli = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--offline", "-p", "aqueduct-cli"])
        .current_dir(repo())
        .status()
        .expect("cargo");
    assert!(cli.success());
    let bin = target().join("release/bench-transform");
    let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
    let inp_file = inp.join("events.jsonl");
    let runs = 3;
    let fresh = |d: &Path| {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).expect("mkdir");
    };
    let lines = |p: &Path| {
        std::fs::read_to_string(p)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let b = best(runs, || {
        fresh(&out);
        baseline(&inp_file, &out.join("events.jsonl"))
    });
    let want = lines(&out.join("events.jsonl"));
    let project = dir.join("project");
    std::fs::create_dir_all(&project).expect("mkdir");
    for f in ["aqueduct.yaml", "pipeline.aq"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("benches/pipeline")
                .join(f),
            project.join(f),
        )
        .expect("copy");
    }
    let i = best(runs, || {
        fresh(&out);
        run_cli(&project, &inp, &out)
    });
    let got_cli = lines(&out.join("events.jsonl"));
    let run_bytes = std::fs::read(out.join("events.jsonl")).unwrap_or_default();
    let e = best(runs, || {
        fresh(&out);
        interpreter(&graph, &inp, &out)
    });
    let got_exec = lines(&out.join("events.jsonl"));
    let x = best(runs, || {
        fresh(&out);
        service(&bin, &inp, &out, false)
    });
    let got_exec_gen = lines(&out.join("events.jsonl"));
    let g = best(runs, || {
        fresh(&out);
        service(&bin, &inp, &out, true)
    });
    let got_gen = lines(&out.join("events.jsonl"));
    let same_bytes = std::fs::read(out.join("events.jsonl")).unwrap_or_default() == run_bytes;
    let rate = |d: Duration| n as f64 / d.as_secs_f64() / 1000.0;
    let row = |name: &str, d: Duration, got: usize| {
        let check = if got == want {
            String::new()
        } else {
            format!("  (wrote {got} records, expected {want}: not comparable)")
        };
        println!(
            "{name:<26}: {:>8.1} ms  {:>6.0} k rec/s  {:.2}x baseline{check}",
            d.as_secs_f64() * 1e3,
            rate(d),
            b.as_secs_f64() / d.as_secs_f64()
        );
    };
    println!("records: {n} in, {want} out (best of {runs})");
    row("hand-written serde_json", b, want);
    row("aqueduct run (release)", i, got_cli);
    row("executor in this process", e, got_exec);
    row("generated, executor path", x, got_exec_gen);
    row("generated service", g, got_gen);
    println!(
        "generated service output byte-equal to `aqueduct run`'s: {}",
        if same_bytes { "yes" } else { "NO" }
    );
    println!(
        "generated crate: release build {:.1} s (dependencies already built), binary {:.1} MiB",
        build_time.as_secs_f64(),
        size as f64 / 1048576.0
    );
}
