//! Running one contender (`aqueduct run` or a hand-written consumer) as a
//! child process and timing it: from spawn until its output file holds
//! every message of the backlog, polled every 5 ms; peak RSS (`VmHWM`)
//! and CPU time from `/proc`. The child is then stopped with SIGTERM, so
//! it sends its last acknowledgements and leaves cleanly, and what the
//! broker still holds is checked by the caller.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one timed run did.
pub struct Outcome {
    /// Spawn to the last message in the output file.
    pub wall: Duration,
    /// Peak resident set size, KiB.
    pub peak_rss_kib: u64,
    /// CPU time (user + system) when the last message landed.
    pub cpu: Duration,
}

/// Counts the lines of a growing file, reading only what was added.
struct Lines {
    file: Option<File>,
    seen: u64,
    count: u64,
    buf: Vec<u8>,
}

impl Lines {
    fn count(&mut self, path: &Path) -> u64 {
        if self.file.is_none() {
            self.file = File::open(path).ok();
        }
        let Some(file) = self.file.as_mut() else {
            return 0;
        };
        if file.seek(SeekFrom::Start(self.seen)).is_err() {
            return self.count;
        }
        loop {
            match file.read(&mut self.buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    self.seen += n as u64;
                    self.count += self.buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
                }
            }
        }
        self.count
    }
}

fn proc_field(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(name))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system, all threads) of a live process, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(") ")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Kills a child on every way out.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `signal` to `pid` (through kill(1): the crate forbids `unsafe`).
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// Runs `cmd` until `out` has `n` lines (or `limit` passed, or the child
/// exited: errors), then stops it with SIGTERM and waits for it to leave.
pub fn measure(
    mut cmd: Command,
    out: &Path,
    n: u64,
    limit: Duration,
    log: &Path,
) -> Result<Outcome, String> {
    let stderr = File::create(log).map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let start = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let mut child = Guard(child);
    let pid = child.0.id();
    let mut lines = Lines {
        file: None,
        seen: 0,
        count: 0,
        buf: vec![0; 1 << 20],
    };
    let mut peak = 0;
    let mut polls = 0u32;
    let wall = loop {
        if lines.count(out) >= n {
            break start.elapsed();
        }
        polls += 1;
        if polls.is_multiple_of(20) {
            peak = peak.max(proc_field(pid, "VmHWM:").unwrap_or(0));
            if let Ok(Some(status)) = child.0.try_wait() {
                return Err(format!(
                    "the consumer exited ({status}) after {} of {n} messages; log: {}",
                    lines.count,
                    log.display()
                ));
            }
        }
        if start.elapsed() > limit {
            return Err(format!(
                "only {} of {n} messages after {limit:?}; log: {}",
                lines.count,
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let cpu = Duration::from_millis(cpu_ticks(pid).unwrap_or(0) * 10);
    peak = peak.max(proc_field(pid, "VmHWM:").unwrap_or(0));
    signal(pid, "TERM");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.0.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Outcome {
        wall,
        peak_rss_kib: peak,
        cpu,
    })
}

/// Checks that `out` holds every id from 0 to `n` - 1; how many lines it has.
pub fn verify(out: &Path, n: u64) -> Result<u64, String> {
    let text = std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut ids = HashSet::new();
    let mut lines = 0u64;
    for line in text.lines() {
        lines += 1;
        let item: crate::sink::Item =
            serde_json::from_str(line).map_err(|e| format!("`{line}` in the output: {e}"))?;
        ids.insert(item.id);
    }
    if (0..n as i64).all(|i| ids.contains(&i)) {
        Ok(lines)
    } else {
        Err(format!(
            "{} distinct ids of {n} in {} lines",
            ids.len(),
            lines
        ))
    }
}
