//! `aqueduct-bench compare`: issue 10's side-by-side table, in one run.
//!
//! The same 1M events through the same `where` + `map` ([`FLOW`]) by:
//! - the typed hand-written serde program (the reference, 1.00×),
//! - the dynamic hand-written program (`serde_json::Value`),
//! - the typed program committing every 1,000 records as `aqueduct run`'s
//!   default `chunk` does (output synced, then a checkpoint written), so
//!   the guarantee's own cost is measured apart from aqueduct's,
//! - `aqueduct run` with `file.append`, with `file.write`, with CSV input,
//! - `aqueduct run` with the fused path off (`AQUEDUCT_FUSED=off`),
//! - the generated service (`aqueduct build`, then a release `cargo build`),
//! - `jq`, when it is installed (for context; it writes numbers its own way).
//!
//! Every program is a child process of this one, measured the same way:
//! wall time, CPU time (user + system, from this process's `cutime` and
//! `cstime`, which the kernel adds each reaped child to) and peak RSS
//! (`VmHWM`, polled). Runs alternate between the programs; the table has the
//! minimum and the median of each. Every output is checked byte-equal to
//! the typed program's after the first round; the bench stops when one of
//! aqueduct's differs.
//!
//! [`FLOW`]: crate::project::FLOW

use crate::{child, digest, machine, mib, min_median, project, secs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One program of the table.
struct Program {
    name: String,
    /// The command for one run (run in `dir`), and its output file.
    cmd: Box<dyn Fn() -> Command>,
    output: PathBuf,
    /// Removed before each run (state and output of the last one).
    reset: Vec<PathBuf>,
    /// Outputs other than byte-equal are expected (jq's numbers).
    context_only: bool,
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
    rss: u64,
    same: Option<bool>,
}

impl Program {
    fn new(name: &str, output: PathBuf, cmd: impl Fn() -> Command + 'static) -> Program {
        Program {
            name: name.to_string(),
            cmd: Box::new(cmd),
            output,
            reset: Vec::new(),
            context_only: false,
            wall: Vec::new(),
            cpu: Vec::new(),
            rss: 0,
            same: None,
        }
    }
}

/// CPU time of every reaped child of this process so far (`cutime` + `cstime`).
fn children_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let rest = stat.rsplit_once(") ")?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let cu: u64 = f.get(13)?.parse().ok()?;
            let cs: u64 = f.get(14)?.parse().ok()?;
            Some(cu + cs)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Runs `p` once; records its times.
fn run_once(p: &mut Program) -> Result<(), String> {
    for r in &p.reset {
        if r.is_dir() {
            std::fs::remove_dir_all(r).map_err(|e| format!("{}: {e}", r.display()))?;
        } else if r.exists() {
            std::fs::remove_file(r).map_err(|e| format!("{}: {e}", r.display()))?;
        }
    }
    let cpu_before = children_cpu();
    let started = Instant::now();
    let mut cmd = (p.cmd)();
    let child = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: cannot start: {e}", p.name))?;
    let w = child::watch(child.id(), Duration::from_millis(2));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{}: {e}", p.name))?;
    let wall = started.elapsed();
    let (peak, _) = w.finish();
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            p.name,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    p.wall.push(wall);
    p.cpu.push(children_cpu().saturating_sub(cpu_before));
    p.rss = p.rss.max(peak);
    Ok(())
}

/// Builds the generated service of `project` (release); its binary.
fn build_service(bin: &Path, project: &Path, work: &Path) -> Result<PathBuf, String> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no crates directory")?
        .to_path_buf();
    let ws = work.join("service");
    let status = Command::new(bin)
        .arg("build")
        .arg(project)
        .arg("--out")
        .arg(&ws)
        .arg("--runtime-path")
        .arg(&crates)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("aqueduct build: {e}"))?;
    if !status.success() {
        return Err("aqueduct build failed".into());
    }
    let lock = crates.join("../Cargo.lock");
    std::fs::copy(&lock, ws.join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    // the bench's own target directory: the runtime's dependencies are built there
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| bin.parent().and_then(Path::parent).map(Path::to_path_buf))
        .ok_or("no target directory")?;
    eprintln!(
        "building the generated service (release) in {} …",
        ws.display()
    );
    let t = Instant::now();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--offline"])
        .current_dir(&ws)
        .env("CARGO_TARGET_DIR", &target)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build of the generated service failed".into());
    }
    eprintln!("built in {:.0} s", t.elapsed().as_secs_f64());
    // the service crate: the member whose Cargo.toml names a package
    for entry in std::fs::read_dir(&ws).map_err(|e| e.to_string())? {
        let dir = entry.map_err(|e| e.to_string())?.path();
        let Ok(toml) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = toml
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'));
        if let Some(name) = name {
            let exe = target.join("release").join(name);
            if exe.is_file() {
                return Ok(exe);
            }
        }
    }
    Err("the generated service's binary was not found".into())
}

fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `compare` subcommand.
pub fn run(bin: &Path, records: u64, runs: usize, service: bool, jq: bool) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let dir = tmp.path().to_path_buf();
    let err = |e: std::io::Error| e.to_string();
    // one project per target kind, sharing the input files
    let input = dir.join("input");
    std::fs::create_dir_all(&input).map_err(err)?;
    let size = project::generate(&input.join("events.jsonl"), records).map_err(err)?;
    project::generate_csv(&input.join("events.csv"), records).map_err(err)?;
    let projects = [
        ("append", project::FLOW.to_string()),
        ("write", project::flow_with_target("write")),
        ("csv", project::csv_flow()),
    ];
    for (name, flow) in &projects {
        project::write_project(&dir.join(name), flow).map_err(err)?;
    }
    eprintln!(
        "{records} records, {:.1} MB JSONL ({} bytes per record) in {}",
        size as f64 / 1e6,
        size / records.max(1),
        dir.display()
    );
    let this = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut programs = Vec::new();
    let (exe, inp) = (this.clone(), input.join("events.jsonl"));
    let out = dir.join("typed.jsonl");
    let o = out.clone();
    programs.push(Program::new(
        "hand-written, typed serde structs",
        out,
        move || {
            let mut c = Command::new(&exe);
            c.arg("baseline").arg(&inp).arg(&o);
            c
        },
    ));
    let (exe, inp) = (this.clone(), input.join("events.jsonl"));
    let out = dir.join("dynamic.jsonl");
    let o = out.clone();
    programs.push(Program::new(
        "hand-written, `serde_json::Value`",
        out,
        move || {
            let mut c = Command::new(&exe);
            c.arg("baseline-dynamic").arg(&inp).arg(&o);
            c
        },
    ));
    let (exe, inp) = (this.clone(), input.join("events.jsonl"));
    let out = dir.join("committed.jsonl");
    let o = out.clone();
    programs.push(Program::new(COMMITTED, out, move || {
        let mut c = Command::new(&exe);
        c.arg("baseline-committed").arg(&inp).arg(&o);
        c
    }));
    let runs_of = |name: &str, label: &str, fused: bool| {
        let project = dir.join(name);
        let (bin, inp) = (bin.to_path_buf(), input.clone());
        let p = project.clone();
        let mut program = Program::new(label, project.join("out/events.jsonl"), move || {
            let mut c = child::run_command(&bin, &p);
            c.env("BENCH_IN", &inp);
            if !fused {
                c.env("AQUEDUCT_FUSED", "off");
            }
            c
        });
        program.reset = vec![project.join(".aqueduct"), project.join("out")];
        program
    };
    programs.push(runs_of("append", "`aqueduct run`, `file.append`", true));
    programs.push(runs_of("write", "`aqueduct run`, `file.write`", true));
    programs.push(runs_of(
        "csv",
        "`aqueduct run`, CSV input, `file.append`",
        true,
    ));
    programs.push(runs_of(
        "append",
        "`aqueduct run`, `file.append`, fused path off",
        false,
    ));
    if service {
        let exe = build_service(bin, &dir.join("append"), &dir)?;
        let home = dir.join("service-run");
        std::fs::create_dir_all(&home).map_err(err)?;
        let (h, inp) = (home.clone(), input.clone());
        let mut program = Program::new(
            "generated service (`aqueduct build`, release)",
            home.join("out/events.jsonl"),
            move || {
                let mut c = Command::new(&exe);
                c.current_dir(&h)
                    .env("BENCH_IN", &inp)
                    .env("BENCH_OUT", h.join("out"))
                    .env("AQUEDUCT_ADMIN", "127.0.0.1:0")
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null());
                c
            },
        );
        program.reset = vec![home.join(".aqueduct"), home.join("out")];
        programs.push(program);
    }
    if !jq {
        eprintln!("jq skipped (--no-jq)");
    } else if installed("jq") {
        let (inp, out) = (input.join("events.jsonl"), dir.join("jq.jsonl"));
        let o = out.clone();
        let mut program = Program::new("`jq -c` (for context)", out, move || {
            let mut c = Command::new("jq");
            c.arg("-c")
                .arg(crate::baseline::JQ)
                .arg(&inp)
                .stdout(std::fs::File::create(&o).map_or(Stdio::null(), Stdio::from));
            c
        });
        program.context_only = true;
        programs.push(program);
    } else {
        eprintln!("jq is not installed; skipped");
    }

    for round in 0..runs {
        for p in programs.iter_mut() {
            run_once(p)?;
            eprintln!(
                "round {}: {}: {} (cpu {})",
                round + 1,
                p.name,
                secs(p.wall.last().copied().unwrap_or_default()),
                secs(p.cpu.last().copied().unwrap_or_default())
            );
        }
        if round == 0 {
            let reference = digest(&programs[0].output).map_err(err)?;
            for p in programs.iter_mut().skip(1) {
                let same = digest(&p.output).map_err(err)? == reference;
                p.same = Some(same);
                if !same && !p.context_only {
                    return Err(format!(
                        "{}: output differs from the typed program's ({})",
                        p.name,
                        p.output.display()
                    ));
                }
            }
            programs[0].same = Some(true);
            eprintln!("outputs checked: {} lines", reference.0);
        }
    }

    let (base_wall, _) = min_median(programs[0].wall.clone());
    let (base_cpu, _) = min_median(programs[0].cpu.clone());
    println!(
        "### JSONL → where + map (spread, lower/upper, arithmetic, if, `in` a list) → JSONL, {records} records, side by side\n"
    );
    println!("Machine: {}\n", machine());
    println!(
        "| program | wall, min of {runs} | median | records/s (min) | CPU user+sys (min) | peak RSS | × typed (wall) | × typed (CPU) | output |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for p in &programs {
        let (wmin, wmed) = min_median(p.wall.clone());
        let (cmin, _) = min_median(p.cpu.clone());
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {:.2} | {:.2} | {} |",
            p.name,
            secs(wmin),
            secs(wmed),
            records as f64 / wmin.as_secs_f64(),
            secs(cmin),
            mib(p.rss),
            base_wall.as_secs_f64() / wmin.as_secs_f64(),
            base_cpu.as_secs_f64() / cmin.as_secs_f64().max(1e-9),
            match p.same {
                Some(true) => "byte-equal",
                Some(false) => "differs",
                None => "?",
            }
        );
    }
    committed_table(&programs);
    Ok(())
}

/// The name of the typed program that commits as aqueduct's default chunk does.
const COMMITTED: &str = "hand-written, typed, committed every 1,000 records";

/// aqueduct's programs against the typed program paying the same commits:
/// what aqueduct costs beyond the guarantee both give.
fn committed_table(programs: &[Program]) {
    let Some(base) = programs.iter().find(|p| p.name == COMMITTED) else {
        return;
    };
    let (base_wall, _) = min_median(base.wall.clone());
    let (base_cpu, _) = min_median(base.cpu.clone());
    println!(
        "\nAgainst the typed program with the same commits (output synced and a checkpoint written every 1,000 records, as `aqueduct run` with the default `chunk` and the generated service do):\n"
    );
    println!("| program | × committed (wall) | × committed (CPU) |");
    println!("|---|---|---|");
    let aqueduct =
        |p: &&Program| p.name.starts_with("`aqueduct run`") || p.name.starts_with("generated");
    for p in programs.iter().filter(aqueduct) {
        let (wmin, _) = min_median(p.wall.clone());
        let (cmin, _) = min_median(p.cpu.clone());
        println!(
            "| {} | {:.2} | {:.2} |",
            p.name,
            base_wall.as_secs_f64() / wmin.as_secs_f64(),
            base_cpu.as_secs_f64() / cmin.as_secs_f64().max(1e-9),
        );
    }
}
