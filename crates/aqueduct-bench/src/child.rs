//! Running `aqueduct` as a child process: wall time and peak RSS (the
//! kernel's high-water mark `VmHWM`, polled from `/proc/<pid>/status`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one run of the child did.
pub struct Outcome {
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// Peak resident set size in KiB (0 when `/proc` is not available).
    pub peak_rss_kib: u64,
    /// CPU time (user + system), as last polled (10 ms resolution).
    pub cpu: Duration,
    /// Stderr (the run summary).
    pub stderr: String,
    /// Exit success.
    pub ok: bool,
}

/// `VmHWM` of a live process, in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system, all threads) of a live process, in clock ticks (1/100 s).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name (which may hold spaces) start at `) `
    let rest = stat.rsplit_once(") ")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// What the watcher saw: peak RSS (KiB) and CPU time (ticks).
pub struct Watch {
    /// Set to stop polling.
    pub stop: Arc<AtomicBool>,
    /// Peak RSS in KiB.
    pub peak: Arc<AtomicU64>,
    /// CPU time in clock ticks, as last seen.
    pub cpu: Arc<AtomicU64>,
}

impl Watch {
    /// Stops polling; (peak RSS KiB, CPU time).
    pub fn finish(&self) -> (u64, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        (
            self.peak.load(Ordering::Relaxed),
            Duration::from_millis(self.cpu.load(Ordering::Relaxed) * 10),
        )
    }
}

/// Polls the peak RSS and CPU time of `pid` every `every` until stopped.
pub fn watch(pid: u32, every: Duration) -> Watch {
    let w = Watch {
        stop: Arc::new(AtomicBool::new(false)),
        peak: Arc::new(AtomicU64::new(0)),
        cpu: Arc::new(AtomicU64::new(0)),
    };
    let (s, p, c) = (w.stop.clone(), w.peak.clone(), w.cpu.clone());
    std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            if let Some(kib) = vm_hwm_kib(pid) {
                p.fetch_max(kib, Ordering::Relaxed);
            }
            if let Some(t) = cpu_ticks(pid) {
                c.fetch_max(t, Ordering::Relaxed);
            }
            std::thread::sleep(every);
        }
    });
    w
}

/// Polls the peak RSS of `pid` every `every` until `stop` is set.
pub fn watch_rss(pid: u32, every: Duration) -> (Arc<AtomicBool>, Arc<AtomicU64>) {
    let w = watch(pid, every);
    (w.stop, w.peak)
}

/// `aqueduct run <dir>` with logs quiet.
pub fn run_command(aqueduct: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(aqueduct);
    cmd.arg("run")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `aqueduct run <dir>` to the end.
pub fn run_to_end(aqueduct: &Path, dir: &Path) -> std::io::Result<Outcome> {
    let started = Instant::now();
    let child: Child = run_command(aqueduct, dir).spawn()?;
    let w = watch(child.id(), Duration::from_millis(2));
    let output = child.wait_with_output()?;
    let wall = started.elapsed();
    let (peak_rss_kib, cpu) = w.finish();
    Ok(Outcome {
        wall,
        peak_rss_kib,
        cpu,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        ok: output.status.success(),
    })
}
