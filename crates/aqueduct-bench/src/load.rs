//! A small closed-loop HTTP/1.1 load generator: `connections` keep-alive
//! connections, each on its own thread, posting the same JSON body back to
//! back for a fixed time and recording every request's latency.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What a load run measured.
pub struct LoadResult {
    /// Completed requests with a 200 answer.
    pub ok: u64,
    /// Requests answered with another status, or failed.
    pub errors: u64,
    /// Measured time.
    pub elapsed: Duration,
    /// Latencies of successful requests, sorted.
    pub latencies: Vec<Duration>,
}

impl LoadResult {
    /// Requests per second.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (0..=1) of the latencies.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies[i.min(self.latencies.len() - 1)]
    }
}

/// One request on a kept-alive connection; the status code.
pub fn request(
    stream: &mut BufReader<TcpStream>,
    req: &[u8],
    body: &mut Vec<u8>,
) -> std::io::Result<u16> {
    stream.get_mut().write_all(req)?;
    let mut line = String::new();
    stream.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut len = 0usize;
    loop {
        line.clear();
        if stream.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    body.resize(len, 0);
    stream.read_exact(body)?;
    Ok(status)
}

/// The bytes of `POST path` with a JSON `payload`, kept alive.
pub fn post_request(addr: SocketAddr, path: &str, payload: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    )
    .into_bytes()
}

/// The kept-alive connection, opened (Nagle off) when there is none;
/// `None` when connecting failed.
pub fn connected(
    conn: &mut Option<BufReader<TcpStream>>,
    addr: SocketAddr,
) -> Option<&mut BufReader<TcpStream>> {
    if conn.is_none() {
        let stream = TcpStream::connect(addr).ok()?;
        let _ = stream.set_nodelay(true);
        *conn = Some(BufReader::new(stream));
    }
    conn.as_mut()
}

/// Runs the load: `warmup`, then `duration` measured.
pub fn run(
    addr: SocketAddr,
    path: &str,
    payload: &str,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> LoadResult {
    let req = post_request(addr, path, payload);
    let start = Instant::now() + warmup;
    let end = start + duration;
    let handles: Vec<_> = (0..connections)
        .map(|_| {
            let req = req.clone();
            std::thread::spawn(move || {
                let mut ok = 0u64;
                let mut errors = 0u64;
                let mut lat = Vec::with_capacity(1 << 16);
                let mut body = Vec::new();
                let mut conn: Option<BufReader<TcpStream>> = None;
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    let Some(stream) = connected(&mut conn, addr) else {
                        errors += 1;
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let t0 = Instant::now();
                    let res = request(stream, &req, &mut body);
                    let dt = t0.elapsed();
                    let measured = t0 >= start;
                    match res {
                        Ok(200) => {
                            if measured {
                                ok += 1;
                                lat.push(dt);
                            }
                        }
                        Ok(_) => errors += u64::from(measured),
                        Err(_) => {
                            errors += u64::from(measured);
                            conn = None;
                        }
                    }
                }
                (ok, errors, lat)
            })
        })
        .collect();
    let mut result = LoadResult {
        ok: 0,
        errors: 0,
        elapsed: duration,
        latencies: Vec::new(),
    };
    for h in handles {
        if let Ok((ok, errors, lat)) = h.join() {
            result.ok += ok;
            result.errors += errors;
            result.latencies.extend(lat);
        }
    }
    result.latencies.sort_unstable();
    result
}
