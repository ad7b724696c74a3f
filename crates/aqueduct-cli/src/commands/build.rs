//! `aqueduct build [PATH] --out DIR`: check a project, then write one Rust
//! service crate per flow (or per group of flows joined by in-process
//! channels), a workspace over them, Dockerfiles and Kubernetes manifests.
//! By default the output is self-contained: the aqueduct library crates the
//! services use are written into it with a `Cargo.lock` ([`vendor`]).
//! The generated `.rs` files are formatted with `rustfmt`; `--compile` also
//! builds them with cargo, and reports any error against its flow and step
//! (a generated crate that does not compile is a bug in aqueduct).

use crate::exit::{CmdResult, Exit, Failure};
use crate::output::Output;
use crate::project;
use aqueduct_codegen::{GenerateOptions, GeneratedWorkspace, RuntimeSource};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// Arguments of `build`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project directory, or a single `.aq` file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Directory the generated crates are written to.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Build only this flow (repeatable); default: every flow.
    #[arg(long = "flow", value_name = "NAME")]
    pub flows: Vec<String>,
    /// Depend on the aqueduct runtime at this local path (the directory
    /// holding `aqueduct-runtime/`); written relative to --out.
    #[arg(long, value_name = "P", conflicts_with = "runtime_version")]
    pub runtime_path: Option<PathBuf>,
    /// Depend on this published version of the aqueduct runtime.
    #[arg(long, value_name = "V")]
    pub runtime_version: Option<String>,
    /// Also run `cargo build --release` on the generated crates.
    #[arg(long)]
    pub compile: bool,
}

mod vendor;

/// Marks a directory `build` wrote, so building again may replace it.
const MARKER: &str = ".aqueduct-build";

/// Checks the project and writes the services; exit 1 when it has errors.
pub fn run(args: &Args, out: &Output) -> CmdResult {
    let checked = project::load(&args.path)?.check();
    let Some(graph) = checked.graph_or_report(out, "build it")? else {
        return Ok(Exit::Findings);
    };
    check_out_dir(&args.out)?;
    let runtime = runtime_source(args)?;
    let sources = checked
        .sources
        .iter()
        .map(|(_, f)| (f.name.clone(), f.text.clone()))
        .collect();
    let options = GenerateOptions {
        flows: args.flows.clone(),
        runtime,
        sources,
    };
    let mut generated = aqueduct_codegen::generate(graph, &options).map_err(|errors| {
        let lines: Vec<String> = errors
            .iter()
            .map(|e| format!("{e} [{}]", e.code()))
            .collect();
        Failure::Usage(lines.join("\n"))
    })?;
    if args.runtime_path.is_none() && args.runtime_version.is_none() {
        vendor::add(&mut generated).map_err(Failure::Runtime)?;
    }
    write(&args.out, &generated)?;
    format_rust(&args.out, &generated, out);
    for s in &generated.services {
        out.note(&format!(
            "wrote service `{}` ({}) to {}",
            s.name,
            s.flows.join(", "),
            args.out.join(&s.dir).display()
        ));
    }
    if args.compile {
        compile(&args.out, &generated)?;
        out.note("every generated crate compiles");
    }
    Ok(Exit::Ok)
}

/// Refuses an output directory holding files `build` did not write.
fn check_out_dir(dir: &Path) -> Result<(), Failure> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(Failure::Usage(format!(
            "--out `{}` is a file, not a directory",
            dir.display()
        )));
    }
    let mut entries = std::fs::read_dir(dir).map_err(|e| Failure::io("read", dir, &e))?;
    if entries.next().is_none() || dir.join(MARKER).is_file() {
        return Ok(());
    }
    Err(Failure::Usage(format!(
        "--out `{}` already holds files aqueduct did not generate; choose an empty or new directory",
        dir.display()
    )))
}

/// `--runtime-version`, `--runtime-path`, or (the default) the library
/// sources written into the output ([`vendor`]).
fn runtime_source(args: &Args) -> Result<RuntimeSource, Failure> {
    if let Some(v) = &args.runtime_version {
        return Ok(RuntimeSource::Version(v.clone()));
    }
    let Some(target) = args.runtime_path.clone() else {
        return Ok(RuntimeSource::Path(vendor::crates_path()));
    };
    let target = std::fs::canonicalize(&target)
        .map_err(|e| Failure::io("find the runtime at", &target, &e))?;
    if !target.join("aqueduct-runtime").is_dir() {
        return Err(Failure::Usage(format!(
            "--runtime-path `{}` holds no `aqueduct-runtime/`",
            target.display()
        )));
    }
    let cwd = std::env::current_dir().map_err(|e| Failure::io("read", Path::new("."), &e))?;
    let out = normalize(&cwd.join(&args.out));
    Ok(RuntimeSource::Path(relative(&out, &target)))
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `to` relative to the directory `from` (both absolute), `/`-separated.
fn relative(from: &Path, to: &Path) -> String {
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

fn write(dir: &Path, generated: &GeneratedWorkspace) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::io("create", dir, &e))?;
    // files an earlier build wrote that this one does not (a removed flow)
    let earlier = std::fs::read_to_string(dir.join(MARKER)).unwrap_or_default();
    for stale in earlier
        .lines()
        .filter(|l| !l.is_empty() && !generated.files.contains_key(*l))
    {
        if !stale.split('/').any(|part| part == "..") {
            let _ = std::fs::remove_file(dir.join(stale));
        }
    }
    for (rel, text) in &generated.files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Failure::io("create", parent, &e))?;
        }
        std::fs::write(&path, text).map_err(|e| Failure::io("write", &path, &e))?;
    }
    let listing: String = generated.files.keys().map(|k| format!("{k}\n")).collect();
    let marker = dir.join(MARKER);
    std::fs::write(&marker, listing).map_err(|e| Failure::io("write", &marker, &e))
}

/// Formats the generated Rust with `rustfmt` (a note when it is missing).
fn format_rust(dir: &Path, generated: &GeneratedWorkspace, out: &Output) {
    let files: Vec<PathBuf> = generated
        .files
        .keys()
        .filter(|k| k.ends_with(".rs") && !k.starts_with(&format!("{}/", vendor::DIR)))
        .map(|k| dir.join(k))
        .collect();
    let ran = Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(&files)
        .status();
    if !ran.is_ok_and(|s| s.success()) {
        out.note(
            "rustfmt is not available or failed: the generated Rust is correct but not formatted",
        );
    }
}

/// `cargo build --release` over the workspace; errors are mapped to flows.
fn compile(dir: &Path, generated: &GeneratedWorkspace) -> Result<(), Failure> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--message-format", "short"])
        .current_dir(dir)
        .output()
        .map_err(|e| Failure::Runtime(format!("cannot run cargo: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut lines = Vec::new();
    for line in stderr.lines().filter(|l| l.contains(": error")) {
        lines.push(format!("  {}{}", line, step_of(dir, line, generated)));
    }
    if lines.is_empty() {
        lines.push(
            stderr
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    Err(Failure::Runtime(format!(
        "a generated crate does not compile; this is a bug in aqueduct, please report it:\n{}",
        lines.join("\n")
    )))
}

/// ` (flow `f`, step `s1` …)` for an error line `svc/src/f.rs:LINE:COL: error: …`.
fn step_of(dir: &Path, line: &str, generated: &GeneratedWorkspace) -> String {
    let mut parts = line.splitn(3, ':');
    let (Some(file), Some(lineno)) = (
        parts.next(),
        parts.next().and_then(|n| n.parse::<usize>().ok()),
    ) else {
        return String::new();
    };
    let Some(service) = generated
        .services
        .iter()
        .find(|s| file.starts_with(&format!("{}/src/", s.dir)))
    else {
        return String::new();
    };
    let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
    let step = text
        .lines()
        .take(lineno)
        .filter(|l| l.starts_with("/// Step `"))
        .last();
    let flow = service
        .flows
        .iter()
        .find(|f| file.ends_with(&format!("/{f}.rs")));
    match (flow, step) {
        (Some(f), Some(s)) => format!(
            " (flow `{f}`, {})",
            s.trim_start_matches("/// ").trim_end_matches('.')
        ),
        (Some(f), None) => format!(" (flow `{f}`)"),
        _ => format!(" (service `{}`)", service.name),
    }
}
