//! `aqueduct-bench`: the runtime benchmarks of issues 3 and 10.
//!
//! - `compare`: issue 10's table in one run: the typed and the dynamic
//!   hand-written serde programs, `aqueduct run` with `append`, `write` and
//!   CSV input (and with the fused path off), the generated service, and
//!   `jq`; records/s, CPU time, peak RSS, outputs checked byte-equal.
//! - `throughput`: a JSONL → `where` + `map` → JSONL flow over 1M records
//!   through `aqueduct run`, side by side with a hand-written serde_json
//!   program doing the same (run as a child process of this binary, so both
//!   pay process start-up and both are measured the same way).
//! - `memory`: peak RSS of `aqueduct run` streaming a 5M-record file.
//! - `endpoint`: requests per second and latency quantiles of a sync
//!   endpoint under load from this process (a closed-loop keep-alive load
//!   generator; `wrk` too when it is installed).
//! - `latency`: the sync endpoint's added p99 at a fixed rate (5,000
//!   requests/s, open loop) against a hand-written axum server giving the
//!   same answers, side by side in one run.
//!
//! - `pg-load`: 1M rows JSONL → `postgres.insert` / `postgres.upsert`
//!   side by side with `psql \copy` of the same rows.
//! - `my-load`: the same rows → `mysql.insert` / `mysql.upsert` side by
//!   side with the `mariadb` client's `LOAD DATA LOCAL INFILE`.
//!
//! Every subcommand prints a markdown table. Build first:
//! `cargo build --release -p aqueduct-cli -p aqueduct-bench`.

mod baseline;
mod baseline_endpoint;
mod child;
mod compare;
mod contender;
mod latency;
mod load;
mod myload;
mod openloop;
mod pgload;
mod project;

use clap::{Args, Parser, Subcommand};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "aqueduct-bench", about = "Runtime benchmarks of aqueduct")]
struct Cli {
    /// The `aqueduct` binary (default: next to this one, i.e. target/release/aqueduct).
    #[arg(long, global = true, value_name = "PATH")]
    aqueduct: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

/// How long a load runs: a warm-up, then the measured part.
#[derive(Args, Clone, Copy)]
struct Window {
    /// Measured seconds per run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Warm-up seconds before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
}

impl Window {
    fn warmup(self) -> Duration {
        Duration::from_secs(self.warmup)
    }

    fn duration(self) -> Duration {
        Duration::from_secs(self.duration.max(1))
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Every way of running the flow side by side in one run (issue 10).
    Compare {
        /// Records in the input.
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        /// Rounds (each program runs once per round; the table shows the minimum and the median).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Skip the generated service (its release build takes minutes).
        #[arg(long)]
        no_service: bool,
        /// Skip `jq` even when it is installed (it takes ~70× the typed
        /// program's time, which dominates a run on a loaded machine).
        #[arg(long)]
        no_jq: bool,
    },
    /// JSONL → where + map → JSONL: aqueduct against the hand-written baseline.
    Throughput {
        /// Records in the input.
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        /// Runs of each program (the table shows the minimum and the median).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Keep the temporary directory (prints its path).
        #[arg(long)]
        keep: bool,
        /// The file operation of the flow's target: `append` or `write`
        /// (`write` builds a hidden file and replaces the target at the run's end).
        #[arg(long, default_value = "append")]
        target: String,
    },
    /// Peak RSS of `aqueduct run` streaming a large file.
    Memory {
        /// Records in the input.
        #[arg(long, default_value_t = 5_000_000)]
        records: u64,
        /// Runs (the table shows the largest peak).
        #[arg(long, default_value_t = 1)]
        runs: usize,
    },
    /// A sync endpoint under load from this process.
    Endpoint {
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[command(flatten)]
        window: Window,
        /// Runs (the table shows each).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Also load the endpoint with `wrk` (when installed).
        #[arg(long)]
        wrk: bool,
    },
    /// The sync endpoint's added p99 latency at a fixed rate, against a
    /// hand-written server (issue 10).
    Latency {
        /// Requests per second (open loop: sent on schedule, answered or not).
        #[arg(long, default_value_t = 5000.0)]
        rate: f64,
        /// Keep-alive connections the requests are spread over.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        #[command(flatten)]
        window: Window,
        /// Rounds (each server runs once per round, alternating which goes first).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// JSONL → postgres insert/upsert against `psql \copy` of the same rows.
    PgLoad {
        /// Connection URL (default: $AQUEDUCT_TEST_POSTGRES_URL).
        #[arg(long, env = "AQUEDUCT_TEST_POSTGRES_URL")]
        url: String,
        /// Rows to load.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Runs of each load.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// JSONL → mysql insert/upsert against `LOAD DATA LOCAL INFILE` of the same rows.
    MyLoad {
        /// Connection URL (default: $AQUEDUCT_TEST_MYSQL_URL).
        #[arg(long, env = "AQUEDUCT_TEST_MYSQL_URL")]
        url: String,
        /// Rows to load.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Runs of each load.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// The hand-written baseline alone (what `throughput` runs as a child).
    #[command(hide = true)]
    Baseline { input: PathBuf, output: PathBuf },
    /// The dynamic (`serde_json::Value`) baseline alone.
    #[command(hide = true)]
    BaselineDynamic { input: PathBuf, output: PathBuf },
    /// The typed baseline committing like `aqueduct run`'s default chunk.
    #[command(hide = true)]
    BaselineCommitted { input: PathBuf, output: PathBuf },
    /// The hand-written sync endpoint alone (what `latency` runs as a child).
    #[command(hide = true)]
    BaselineEndpoint {
        #[arg(long)]
        listen: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Baseline { input, output } => match baseline::run(&input, &output) {
            Ok((i, o)) => {
                eprintln!("baseline: {i} in, {o} out");
                Ok(())
            }
            Err(e) => Err(format!("baseline failed: {e}")),
        },
        Cmd::BaselineDynamic { input, output } => match baseline::run_dynamic(&input, &output) {
            Ok((i, o)) => {
                eprintln!("dynamic baseline: {i} in, {o} out");
                Ok(())
            }
            Err(e) => Err(format!("dynamic baseline failed: {e}")),
        },
        Cmd::BaselineCommitted { input, output } => {
            match baseline::run_committed(&input, &output) {
                Ok((i, o)) => {
                    eprintln!("committed baseline: {i} in, {o} out");
                    Ok(())
                }
                Err(e) => Err(format!("committed baseline failed: {e}")),
            }
        }
        Cmd::BaselineEndpoint { listen } => baseline_endpoint::serve(&listen),
        cmd => aqueduct_binary(cli.aqueduct).and_then(|bin| match cmd {
            Cmd::Compare {
                records,
                runs,
                no_service,
                no_jq,
            } => compare::run(&bin, records, runs.max(1), !no_service, !no_jq),
            Cmd::Throughput {
                records,
                runs,
                keep,
                target,
            } => throughput(&bin, records, runs.max(1), keep, &target),
            Cmd::Memory { records, runs } => memory(&bin, records, runs.max(1)),
            Cmd::Endpoint {
                connections,
                window,
                runs,
                wrk,
            } => endpoint(
                &bin,
                connections.max(1),
                window.duration(),
                window.warmup(),
                runs.max(1),
                wrk,
            ),
            Cmd::Latency {
                rate,
                connections,
                window,
                rounds,
            } => latency::run(
                &bin,
                openloop::Schedule {
                    rate,
                    connections: connections.max(1),
                    warmup: window.warmup(),
                    duration: window.duration(),
                },
                rounds.max(1),
            ),
            Cmd::PgLoad { url, rows, runs } => pgload::run(&bin, &url, rows, runs.max(1)),
            Cmd::MyLoad { url, rows, runs } => myload::run(&bin, &url, rows, runs.max(1)),
            Cmd::Baseline { .. }
            | Cmd::BaselineDynamic { .. }
            | Cmd::BaselineCommitted { .. }
            | Cmd::BaselineEndpoint { .. } => Ok(()),
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn aqueduct_binary(given: Option<PathBuf>) -> Result<PathBuf, String> {
    let path = match given {
        Some(p) => p,
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this binary: {e}"))?
            .with_file_name("aqueduct"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "`{}` does not exist; build it with `cargo build --release -p aqueduct-cli` or pass --aqueduct",
            path.display()
        ))
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!("{cpu}, {cores} cores available, load average {load}")
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn min_median(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort_unstable();
    (v[0], v[v.len() / 2])
}

/// Lines and bytes of a file, and a cheap content hash (FNV-1a).
fn digest(path: &Path) -> std::io::Result<(u64, u64, u64)> {
    let data = std::fs::read(path)?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let lines = data.iter().filter(|b| **b == b'\n').count() as u64;
    Ok((lines, data.len() as u64, h))
}

fn throughput(
    bin: &Path,
    records: u64,
    runs: usize,
    keep: bool,
    target: &str,
) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let dir = tmp.path().to_path_buf();
    project::write_project(&dir, &project::flow_with_target(target)).map_err(|e| e.to_string())?;
    let input = dir.join("input/events.jsonl");
    let size = project::generate(&input, records).map_err(|e| e.to_string())?;
    let base_out = dir.join("baseline.jsonl");
    let this = std::env::current_exe().map_err(|e| e.to_string())?;
    eprintln!(
        "{records} records, {:.1} MB ({} bytes per record) in {}",
        size as f64 / 1e6,
        size / records.max(1),
        dir.display()
    );
    let mut base_t = Vec::new();
    let mut base_cpu = Vec::new();
    let mut base_rss = 0;
    let mut aq_t = Vec::new();
    let mut aq_cpu = Vec::new();
    let mut aq_rss = 0;
    for run in 0..runs {
        // the baseline, as a child process like aqueduct
        let started = Instant::now();
        let child = std::process::Command::new(&this)
            .arg("baseline")
            .arg(&input)
            .arg(&base_out)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let w = child::watch(child.id(), Duration::from_millis(2));
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let t = started.elapsed();
        let (peak, cpu) = w.finish();
        if !out.status.success() {
            return Err(format!(
                "the baseline failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        base_rss = base_rss.max(peak);
        base_t.push(t);
        base_cpu.push(cpu);

        project::reset(&dir).map_err(|e| e.to_string())?;
        let o = child::run_to_end(bin, &dir).map_err(|e| e.to_string())?;
        if !o.ok {
            return Err(format!("aqueduct run failed:\n{}", o.stderr));
        }
        aq_rss = aq_rss.max(o.peak_rss_kib);
        aq_t.push(o.wall);
        aq_cpu.push(o.cpu);
        eprintln!(
            "run {}: baseline {} (cpu {}), aqueduct {} (cpu {}) ({})",
            run + 1,
            secs(t),
            secs(cpu),
            secs(o.wall),
            secs(o.cpu),
            o.stderr.lines().last().unwrap_or("").trim()
        );
        if run == 0 {
            let a = digest(&dir.join("out/events.jsonl")).map_err(|e| e.to_string())?;
            let b = digest(&base_out).map_err(|e| e.to_string())?;
            if a != b {
                return Err(format!(
                    "outputs differ: aqueduct {} lines/{} bytes, baseline {} lines/{} bytes",
                    a.0, a.1, b.0, b.1
                ));
            }
            eprintln!("outputs identical: {} records, {} bytes", a.0, a.1);
        }
    }
    let (bmin, bmed) = min_median(base_t);
    let (amin, amed) = min_median(aq_t);
    let (bcpu, _) = min_median(base_cpu);
    let (acpu, _) = min_median(aq_cpu);
    let rate = |d: Duration| records as f64 / d.as_secs_f64();
    let mbs = |d: Duration| size as f64 / 1e6 / d.as_secs_f64();
    println!("### Throughput: JSONL → where + map → JSONL (`out.{target}`), {records} records\n");
    println!("Machine: {}\n", machine());
    println!(
        "| program | wall, min of {runs} | median | records/s (min) | MB/s in | CPU user+sys (min) | peak RSS | × baseline (wall) | × baseline (CPU) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| hand-written (serde_json, typed structs) | {} | {} | {:.0} | {:.0} | {} | {} | 1.00 | 1.00 |",
        secs(bmin),
        secs(bmed),
        rate(bmin),
        mbs(bmin),
        secs(bcpu),
        mib(base_rss)
    );
    println!(
        "| `aqueduct run` | {} | {} | {:.0} | {:.0} | {} | {} | {:.2} | {:.2} |",
        secs(amin),
        secs(amed),
        rate(amin),
        mbs(amin),
        secs(acpu),
        mib(aq_rss),
        bmin.as_secs_f64() / amin.as_secs_f64(),
        bcpu.as_secs_f64() / acpu.as_secs_f64().max(1e-9)
    );
    if keep {
        let kept = tmp.keep();
        eprintln!("kept {}", kept.display());
    }
    Ok(())
}

fn memory(bin: &Path, records: u64, runs: usize) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let dir = tmp.path();
    project::write_project(dir, project::FLOW).map_err(|e| e.to_string())?;
    let size =
        project::generate(&dir.join("input/events.jsonl"), records).map_err(|e| e.to_string())?;
    let mut peak = 0;
    let mut times = Vec::new();
    for run in 0..runs {
        project::reset(dir).map_err(|e| e.to_string())?;
        let o = child::run_to_end(bin, dir).map_err(|e| e.to_string())?;
        if !o.ok {
            return Err(format!("aqueduct run failed:\n{}", o.stderr));
        }
        eprintln!(
            "run {}: {} peak RSS {} ({})",
            run + 1,
            secs(o.wall),
            mib(o.peak_rss_kib),
            o.stderr.lines().last().unwrap_or("").trim()
        );
        peak = peak.max(o.peak_rss_kib);
        times.push(o.wall);
    }
    let (tmin, _) = min_median(times);
    println!(
        "### Memory: streaming {records} records ({:.0} MB)\n",
        size as f64 / 1e6
    );
    println!("Machine: {}\n", machine());
    println!("| input | time (min of {runs}) | peak RSS (max of {runs}) | target |");
    println!("|---|---|---|---|");
    println!(
        "| {records} records, {:.0} MB | {} | {} | < 100 MiB: {} |",
        size as f64 / 1e6,
        secs(tmin),
        mib(peak),
        if peak < 100 * 1024 { "met" } else { "MISSED" }
    );
    Ok(())
}

fn free_port() -> Result<SocketAddr, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map_err(|e| e.to_string())
}

fn wait_ready(addr: SocketAddr, child: &mut std::process::Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("aqueduct exited early: {status}"));
        }
        if TcpStream::connect(addr).is_ok() {
            let probe = load::run(
                addr,
                "/quote",
                project::QUOTE_BODY,
                1,
                Duration::ZERO,
                Duration::from_millis(50),
            );
            if probe.ok > 0 {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("the endpoint did not answer within 30 s".into())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Runs wrk against the endpoint; (requests/s, p50, p99) as printed by wrk.
fn wrk(addr: SocketAddr, dir: &Path, connections: usize, duration: Duration) -> Option<String> {
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = '{}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
            project::QUOTE_BODY
        ),
    )
    .ok()?;
    let out = std::process::Command::new("wrk")
        .arg("-t2")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs()))
        .arg("--latency")
        .arg("-s")
        .arg(&script)
        .arg(format!("http://{addr}/quote"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let find = |key: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
            .unwrap_or_else(|| "?".into())
    };
    let non2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .map(|l| format!(", {}", l.trim()))
        .unwrap_or_default();
    Some(format!(
        "| wrk -t2 -c{connections} | {} | {} | {} | {} |{non2xx}",
        find("Requests/sec:"),
        find("50%"),
        find("99%"),
        "–"
    ))
}

fn endpoint(
    bin: &Path,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    runs: usize,
    use_wrk: bool,
) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let dir = tmp.path();
    let addr = free_port()?;
    project::write_project(dir, &project::endpoint_flow(&addr.to_string()))
        .map_err(|e| e.to_string())?;
    let mut server = child::run_command(bin, dir)
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let (stop, peak) = child::watch_rss(server.id(), Duration::from_millis(20));
    let result = (|| {
        wait_ready(addr, &mut server)?;
        let mut rows = Vec::new();
        for run in 0..runs {
            let r = load::run(
                addr,
                "/quote",
                project::QUOTE_BODY,
                connections,
                warmup,
                duration,
            );
            eprintln!(
                "run {}: {:.0} req/s, p50 {}, p99 {}, {} errors",
                run + 1,
                r.rps(),
                ms(r.quantile(0.5)),
                ms(r.quantile(0.99)),
                r.errors
            );
            rows.push(format!(
                "| built-in, {connections} connections, run {} | {:.0} | {} | {} | {} | {} |",
                run + 1,
                r.rps(),
                ms(r.quantile(0.5)),
                ms(r.quantile(0.99)),
                ms(r.quantile(0.999)),
                r.errors
            ));
        }
        if use_wrk {
            match wrk(addr, dir, connections, duration) {
                Some(row) => rows.push(row),
                None => eprintln!("wrk is not installed; skipped"),
            }
        }
        Ok::<_, String>(rows)
    })();
    let _ = server.kill();
    let _ = server.wait();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rows = result?;
    println!("### Sync endpoint: POST /quote (where, two lets, reply), loopback\n");
    println!("Machine: {}\n", machine());
    println!(
        "Load generator and server share the machine's cores. Server peak RSS: {}.\n",
        mib(peak.load(std::sync::atomic::Ordering::Relaxed))
    );
    println!("| load | requests/s | p50 | p99 | p99.9 | errors |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    Ok(())
}
