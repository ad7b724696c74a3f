//! `latency`: issue 10's latency goal, the sync endpoint's *added* p99 at a
//! fixed rate (5,000 requests/s by default) from a second process on
//! loopback. Two servers run side by side: the hand-written baseline
//! ([`crate::baseline_endpoint`], the same quote on the same HTTP stack)
//! and `aqueduct run` of [`crate::project::endpoint_flow`]. The open-loop
//! generator ([`crate::openloop`]) loads each in turn, alternating which
//! goes first in each round; the added p99 of a round is aqueduct's p99
//! minus the baseline's. Their answers are checked byte-equal first.

use crate::openloop::{self, OpenResult, Schedule};
use crate::{child, free_port, machine, ms, project, wait_ready};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The goal: added p99 at most this.
const GOAL: Duration = Duration::from_millis(1);

/// A server under test.
struct Server {
    name: &'static str,
    addr: SocketAddr,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One measured run of one server.
struct Run {
    server: &'static str,
    round: usize,
    result: OpenResult,
    /// Server CPU time per answered request (the warm-up's included).
    cpu_per_request: Duration,
}

fn start_baseline() -> Result<Server, String> {
    let addr = free_port()?;
    let exe = std::env::current_exe().map_err(|e| format!("no own binary: {e}"))?;
    let child = Command::new(exe)
        .arg("baseline-endpoint")
        .arg("--listen")
        .arg(addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the baseline server: {e}"))?;
    Ok(Server {
        name: "hand-written (axum)",
        addr,
        child,
    })
}

fn start_aqueduct(bin: &Path, dir: &Path) -> Result<Server, String> {
    let addr = free_port()?;
    project::write_project(dir, &project::endpoint_flow(&addr.to_string()))
        .map_err(|e| e.to_string())?;
    let child = child::run_command(bin, dir)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start aqueduct: {e}"))?;
    Ok(Server {
        name: "`aqueduct run`",
        addr,
        child,
    })
}

fn measure(server: &Server, round: usize, schedule: Schedule) -> Run {
    let pid = server.child.id();
    let before = child::cpu_ticks(pid).unwrap_or(0);
    let result = openloop::run(server.addr, "/quote", project::QUOTE_BODY, schedule);
    let after = child::cpu_ticks(pid).unwrap_or(before);
    // the warm-up's requests are served too: CPU over every answer
    let served = result.answered.max(1) as f64;
    let cpu = Duration::from_millis((after - before) * 10);
    eprintln!(
        "round {round}, {}: {:.0} req/s, p50 {}, p99 {}, p99.9 {}, {} late starts, {} errors",
        server.name,
        result.load.rps(),
        ms(result.load.quantile(0.5)),
        ms(result.load.quantile(0.99)),
        ms(result.load.quantile(0.999)),
        result.late_starts,
        result.load.errors
    );
    Run {
        server: server.name,
        round,
        cpu_per_request: cpu.div_f64(served),
        result,
    }
}

/// The median of sorted values (the mean of the middle two for an even
/// count; NaN for none).
fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// Runs the benchmark and prints its table.
pub fn run(bin: &Path, schedule: Schedule, rounds: usize) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let mut baseline = start_baseline()?;
    let mut aqueduct = start_aqueduct(bin, tmp.path())?;
    wait_ready(baseline.addr, &mut baseline.child)?;
    wait_ready(aqueduct.addr, &mut aqueduct.child)?;
    let (watch_stop, peak) = child::watch_rss(aqueduct.child.id(), Duration::from_millis(50));
    // the same answer from both, or the comparison means nothing
    let probe = Schedule {
        rate: 100.0,
        connections: 1,
        warmup: Duration::ZERO,
        duration: Duration::from_millis(100),
    };
    let (a, b) = (
        openloop::run(baseline.addr, "/quote", project::QUOTE_BODY, probe).body,
        openloop::run(aqueduct.addr, "/quote", project::QUOTE_BODY, probe).body,
    );
    if a.is_empty() || a != b {
        return Err(format!(
            "the servers answer differently: baseline {:?}, aqueduct {:?}",
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        ));
    }
    let mut runs = Vec::new();
    for round in 1..=rounds {
        let order = if round % 2 == 1 {
            [&baseline, &aqueduct]
        } else {
            [&aqueduct, &baseline]
        };
        for server in order {
            runs.push(measure(server, round, schedule));
        }
    }
    watch_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);

    println!(
        "### Sync endpoint at a fixed rate: POST /quote, {:.0} requests/s, open loop, loopback\n",
        schedule.rate
    );
    println!("Machine: {}\n", machine());
    println!(
        "{} keep-alive connections from a second process (this one), {} s warm-up and {} s measured per run; \
         latency from the moment each request was due to its whole answer. Answers byte-equal: {}. \
         aqueduct's peak RSS: {:.1} MiB.\n",
        schedule.connections,
        schedule.warmup.as_secs(),
        schedule.duration.as_secs(),
        String::from_utf8_lossy(&a),
        peak as f64 / 1024.0
    );
    println!(
        "| server | round | requests/s | p50 | p90 | p99 | p99.9 | max | late starts | errors | server CPU per request |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        let l = &r.result.load;
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.server,
            r.round,
            l.rps(),
            ms(l.quantile(0.5)),
            ms(l.quantile(0.9)),
            ms(l.quantile(0.99)),
            ms(l.quantile(0.999)),
            ms(l.quantile(1.0)),
            r.result.late_starts,
            l.errors,
            us(r.cpu_per_request)
        );
    }
    let mut added: Vec<f64> = (1..=rounds)
        .filter_map(|round| {
            let p99 = |name: &str| {
                runs.iter()
                    .find(|r| r.round == round && r.server == name)
                    .map(|r| r.result.load.quantile(0.99).as_secs_f64())
            };
            Some(p99(aqueduct.name)? - p99(baseline.name)?)
        })
        .collect();
    added.sort_by(f64::total_cmp);
    let median = median(&added);
    let errors: u64 = runs.iter().map(|r| r.result.load.errors).sum();
    println!();
    println!(
        "Added p99 (aqueduct − hand-written, per round): {}; median {:.2} ms; goal ≤ {} ms: **{}**{}",
        added
            .iter()
            .map(|s| format!("{:.2} ms", s * 1e3))
            .collect::<Vec<_>>()
            .join(", "),
        median * 1e3,
        GOAL.as_millis(),
        if median <= GOAL.as_secs_f64() {
            "met"
        } else {
            "not met"
        },
        if errors > 0 {
            format!(" ({errors} errors: read the table)")
        } else {
            String::new()
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[-0.5, 1.5]), 0.5);
    }
}
