//! Benchmark of `aqueduct check` on generated projects of about 25k, 50k and
//! 100k lines (`check/project.rs`), in two layouts: `files` (one 70–100-line
//! file per module, like a real project) and `single` (the whole project in
//! one file, which catches anything quadratic in the size of one file).
//!
//! Measured side by side in one run, per size:
//! - parsing with pest alone (the path every file took before the fast
//!   parser, still taken when it gives up): the baseline;
//! - parsing as `aqueduct check` does (the fast parser);
//! - the full check (`aqueduct_check::check`: parse, resolve, type-check,
//!   flow rules, graph, result dropped), asserting the project checks clean;
//! - reading the files from disk as the CLI does (sorted directory walk,
//!   size check, read, UTF-8 check) plus the full check;
//! - peak resident memory of one check, on top of the sources in memory.
//!
//! Times are CPU time of the measuring thread (`/proc/thread-self/schedstat`,
//! nanoseconds on a CPU), best of several runs of at least 250 ms each
//! (short operations are repeated): everything is single-threaded,
//! so this is "on one core", and it does not count the time the thread waits
//! for a core on a shared machine. The full check is also given in wall time.
//! The allocator is the `aqueduct` binary's (mimalloc).
//!
//! Each size runs in a child process (this binary re-executed with
//! `--size N`), so the peak memory of a size is its own.
//!
//! Run with `cargo bench -p aqueduct-tests --bench check`.
//! One size: `… -- --size 100000 [--single]`.
//! Profiling loop: `… -- --profile parse|pest|check --size 25000 [--iters 20] [--single]`
//! (`valgrind --tool=callgrind --toggle-collect=aqueduct_check::check` on
//! the bench binary gives instructions per line).

#[path = "check/project.rs"]
mod project;

use aqueduct_diagnostics::SourceMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

// The allocator of the `aqueduct` binary, so the numbers are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The goal: lines per second of a full check on one core.
const GOAL: f64 = 1_000_000.0;

/// CPU time of this thread so far.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Best (CPU, wall) time of one call of `f` over `runs` runs. Each run
/// repeats `f` for at least a quarter of a second: the kernel updates a
/// thread's CPU time at scheduler ticks, so shorter runs would be rounded.
fn best_of<F: FnMut()>(runs: usize, mut f: F) -> (Duration, Duration) {
    let w0 = Instant::now();
    f();
    let once = w0.elapsed().max(Duration::from_micros(1));
    let reps = (Duration::from_millis(250).as_nanos() / once.as_nanos()).clamp(1, 1000);
    let reps = u32::try_from(reps).unwrap_or(1);
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..runs {
        let (c0, w0) = (cpu_time(), Instant::now());
        for _ in 0..reps {
            f();
        }
        let wall = w0.elapsed();
        let cpu = match (c0, cpu_time()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => wall,
        };
        best = (best.0.min(cpu / reps), best.1.min(wall / reps));
    }
    best
}

/// A `Vm…:` line of `/proc/self/status`, in MiB.
fn status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the peak resident size (`VmHWM`) to the current one (Linux ≥ 4.0).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn check_clean(sources: &SourceMap) {
    let result = aqueduct_check::check(sources, None);
    assert!(
        !result.has_errors(),
        "generated project checks clean: {:#?}",
        result.diagnostics.first()
    );
    black_box(result);
}

/// Writes the project's files into a fresh directory.
fn write_project(sources: &SourceMap) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aqueduct-check-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the project directory");
    for (_, f) in sources.iter() {
        std::fs::write(dir.join(&f.name), &f.text).expect("write a project file");
    }
    dir
}

/// Reads a project directory the way `aqueduct check` does
/// (`crates/aqueduct-cli/src/project.rs`): entries sorted by name, size
/// checked, bytes read, UTF-8 checked.
fn read_project(dir: &Path) -> SourceMap {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read the project directory")
        .collect::<Result<_, _>>()
        .expect("read the project directory");
    entries.sort_by_key(|e| e.file_name());
    let mut sources = SourceMap::default();
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".aq") || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        assert!(size <= 16 * 1024 * 1024);
        let bytes = std::fs::read(&path).expect("read a project file");
        let text = String::from_utf8(bytes).expect("UTF-8");
        sources.add(name, text);
    }
    sources
}

/// Child mode: measures one size and prints one tab-separated line.
fn measure(target: usize, single: bool) {
    let (sources, lines, bytes) = project::project(target, single);
    let files = sources.iter().count();
    let rss_sources = status_mib("VmRSS:").unwrap_or(f64::NAN);
    // Peak of one check on top of the sources already in memory.
    let peak_check = if reset_peak() {
        check_clean(&sources);
        status_mib("VmHWM:").unwrap_or(f64::NAN)
    } else {
        f64::NAN
    };
    let runs = 3;
    let (pest, _) = best_of(runs, || {
        for (id, f) in sources.iter() {
            black_box(aqueduct_syntax::differential::parse_pest(id, &f.text));
        }
    });
    let (parse, _) = best_of(runs, || {
        for (id, f) in sources.iter() {
            black_box(aqueduct_syntax::parse(id, &f.text));
        }
    });
    let (check, check_wall) = best_of(runs, || check_clean(&sources));
    let dir = write_project(&sources);
    let (read_check, _) = best_of(runs, || check_clean(&read_project(&dir)));
    let _ = std::fs::remove_dir_all(&dir);
    let ns = |d: Duration| d.as_nanos();
    println!(
        "{lines}\t{bytes}\t{files}\t{}\t{}\t{}\t{}\t{}\t{rss_sources}\t{peak_check}",
        ns(pest),
        ns(parse),
        ns(check),
        ns(check_wall),
        ns(read_check),
    );
}

/// Profiling mode: runs one stage `iters` times on one size.
fn profile(what: &str, target: usize, single: bool, iters: usize) {
    let (sources, lines, _) = project::project(target, single);
    let start = Instant::now();
    for _ in 0..iters {
        match what {
            "parse" => {
                for (id, f) in sources.iter() {
                    black_box(aqueduct_syntax::parse(id, &f.text));
                }
            }
            "pest" => {
                for (id, f) in sources.iter() {
                    black_box(aqueduct_syntax::differential::parse_pest(id, &f.text));
                }
            }
            _ => check_clean(&sources),
        }
    }
    let each = start.elapsed() / u32::try_from(iters.max(1)).unwrap_or(1);
    println!(
        "{what} of {lines} lines: {:?} each, {:.0} lines/s",
        each,
        lines as f64 / each.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let single = args.iter().any(|a| a == "--single");
    let size = arg_value(&args, "--size").and_then(|s| s.parse().ok());
    if let Some(what) = arg_value(&args, "--profile") {
        let iters = arg_value(&args, "--iters")
            .and_then(|s| s.parse().ok())
            .unwrap_or(10);
        profile(&what, size.unwrap_or(25_000), single, iters);
        return;
    }
    if let Some(size) = size {
        measure(size, single);
        return;
    }
    let exe = std::env::current_exe().expect("path of the benchmark binary");
    println!("CPU time of one thread, best of 3 runs; goal: a full check at 1M lines/s, ≤ 200 MiB");
    for single in [false, true] {
        println!(
            "\nlayout: {}\n",
            if single {
                "single (the whole project in one file)"
            } else {
                "files (one file per module)"
            }
        );
        println!(
            "| lines | bytes | files | parse, pest (baseline) | parse, fast path | fast / pest | full check | ns/line | of goal | full check, wall | read files + check | peak RSS (check) |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for target in [25_000usize, 50_000, 100_000] {
            let mut cmd = Command::new(&exe);
            cmd.args(["--size", &target.to_string()]);
            if single {
                cmd.arg("--single");
            }
            let out = cmd.output().expect("run the benchmark child");
            assert!(
                out.status.success(),
                "child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let f: Vec<f64> = text
                .trim()
                .split('\t')
                .map(|x| x.parse().unwrap_or(f64::NAN))
                .collect();
            let &[
                lines,
                bytes,
                files,
                pest,
                parse,
                check,
                check_wall,
                read_check,
                _rss_sources,
                peak_check,
            ] = f.as_slice()
            else {
                panic!("unexpected child output: {text}");
            };
            let per_s = |ns: f64| lines / (ns / 1e9);
            println!(
                "| {lines:.0} | {bytes:.0} | {files:.0} | {:.0} lines/s | {:.0} lines/s | {:.1}× | **{:.0} lines/s** | {:.0} | {:.2}× | {:.0} lines/s | {:.0} lines/s | {peak_check:.1} MiB |",
                per_s(pest),
                per_s(parse),
                pest / parse,
                per_s(check),
                check / lines,
                per_s(check) / GOAL,
                per_s(check_wall),
                per_s(read_check),
            );
        }
    }
}
