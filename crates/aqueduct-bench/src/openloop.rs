//! An open-loop HTTP/1.1 load generator: requests go out at a fixed rate
//! on a schedule that never waits for answers, and each latency is counted
//! from the moment its request was due, not from when it was sent. A
//! closed-loop generator (the `endpoint` benchmark) slows down when the
//! server does and so hides its stalls ("coordinated omission"); here a
//! stall shows in every request that was due during it, as `wrk2` counts.
//!
//! The schedule is spread over `connections` keep-alive connections, one
//! thread each: request `i` is due at `start + i / rate` and goes on
//! connection `i % connections`. A connection still busy with an earlier
//! answer sends late, and that wait is part of the latency.

use crate::load::{LoadResult, connected, post_request, request};
use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A request that went out more than this after it was due counts as a
/// late start: the connection (or the generator's thread) was not ready.
const LATE: Duration = Duration::from_millis(1);

/// What the load asks for.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Requests per second.
    pub rate: f64,
    /// Keep-alive connections the requests are spread over.
    pub connections: usize,
    /// Time before the measured part (requests sent, not counted).
    pub warmup: Duration,
    /// The measured part.
    pub duration: Duration,
}

/// What one open-loop run measured.
pub struct OpenResult {
    /// Latencies (from due time to the whole answer) and counts of the
    /// measured part.
    pub load: LoadResult,
    /// Measured requests sent more than [`LATE`] after they were due.
    pub late_starts: u64,
    /// Requests answered with 200, the warm-up's included (what the
    /// server did in the whole run).
    pub answered: u64,
    /// The body of one successful answer (for comparing servers).
    pub body: Vec<u8>,
}

/// Runs `schedule` against `POST path` with `payload`.
pub fn run(addr: SocketAddr, path: &str, payload: &str, schedule: Schedule) -> OpenResult {
    let req = post_request(addr, path, payload);
    let connections = schedule.connections.max(1);
    let period = Duration::from_secs_f64(1.0 / schedule.rate.max(1.0));
    // time for every thread to connect before the first request is due
    let t0 = Instant::now() + Duration::from_millis(200);
    let measured_from = t0 + schedule.warmup;
    let end = measured_from + schedule.duration;
    let handles: Vec<_> = (0..connections)
        .map(|k| {
            let req = req.clone();
            std::thread::spawn(move || {
                let mut ok = 0u64;
                let mut errors = 0u64;
                let mut late = 0u64;
                let mut answered = 0u64;
                let mut lat = Vec::with_capacity(1 << 14);
                let mut body = Vec::new();
                let mut kept = Vec::new();
                let mut conn: Option<BufReader<TcpStream>> = None;
                for i in (k..).step_by(connections) {
                    let due = t0 + period.mul_f64(i as f64);
                    if due >= end {
                        break;
                    }
                    let now = Instant::now();
                    if now < due {
                        std::thread::sleep(due - now);
                    }
                    let measured = due >= measured_from;
                    if measured && Instant::now().duration_since(due) > LATE {
                        late += 1;
                    }
                    let Some(stream) = connected(&mut conn, addr) else {
                        errors += u64::from(measured);
                        continue;
                    };
                    match request(stream, &req, &mut body) {
                        Ok(200) => {
                            answered += 1;
                            if measured {
                                ok += 1;
                                lat.push(due.elapsed());
                            }
                            if kept.is_empty() {
                                kept = body.clone();
                            }
                        }
                        Ok(_) => errors += u64::from(measured),
                        Err(_) => {
                            errors += u64::from(measured);
                            conn = None;
                        }
                    }
                }
                (ok, errors, late, answered, lat, kept)
            })
        })
        .collect();
    let mut result = OpenResult {
        load: LoadResult {
            ok: 0,
            errors: 0,
            elapsed: schedule.duration,
            latencies: Vec::new(),
        },
        late_starts: 0,
        answered: 0,
        body: Vec::new(),
    };
    for h in handles {
        if let Ok((ok, errors, late, answered, lat, body)) = h.join() {
            result.load.ok += ok;
            result.load.errors += errors;
            result.late_starts += late;
            result.answered += answered;
            result.load.latencies.extend(lat);
            if result.body.is_empty() {
                result.body = body;
            }
        }
    }
    result.load.latencies.sort_unstable();
    result
}
