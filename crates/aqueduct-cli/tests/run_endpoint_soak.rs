//! Soak test of an endpoint under hostile clients, through `aqueduct run`:
//! for several seconds, 100 clients without credentials push 9.9 MB bodies
//! and 150 clients dribble their headers a byte at a time, while a real
//! client keeps sending requests. The real requests must all be answered
//! (generous bound: the machine is loaded), and the process's peak memory
//! must stay far below what holding the unauthenticated bodies would take
//! (100 × 9.9 MB ≈ 1 GB).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{Project, free_port, try_http};

const ATTACK: Duration = Duration::from_secs(8);

/// Peak resident memory of process `pid` (VmHWM), in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn unauthenticated_uploader(addr: SocketAddr, stop: Arc<AtomicBool>, refused: Arc<AtomicUsize>) {
    let chunk = vec![b'x'; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let head = "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9900000\r\n\r\n";
        if s.write_all(head.as_bytes()).is_err() {
            continue;
        }
        let mut sent = 0;
        while sent < 9_900_000 && !stop.load(Ordering::Relaxed) {
            if s.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        let mut answer = [0u8; 64];
        if let Ok(n) = s.read(&mut answer)
            && String::from_utf8_lossy(&answer[..n]).contains(" 401 ")
        {
            refused.fetch_add(1, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn slow_headers(addr: SocketAddr, stop: Arc<AtomicBool>) {
    let head = b"POST /orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer soak-token\r\n";
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        for byte in head.iter().cycle() {
            if stop.load(Ordering::Relaxed) || s.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn an_endpoint_stays_responsive_and_small_under_slow_and_unauthenticated_clients() {
    let port = free_port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
type Order {{ id: string }}

system api: endpoint {{
  listen = "127.0.0.1:{port}"
  auth = bearer {{ token = secret("SOAK_TOKEN") }}
  max_body = 10MiB
  header_timeout = 2s
  body_timeout = 5s
}}

flow orders {{
  mode async
  from api.post("/orders") as Order
  to file("out").append("orders.jsonl")
}}
"#
        ),
    );
    let mut running = p.spawn_with_env(&[], &[("SOAK_TOKEN", "soak-token")]);
    running.wait_listening(port);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let auth = [("Authorization", "Bearer soak-token")];
    let ok = support::wait_until(Duration::from_secs(20), || {
        try_http(port, "POST", "/orders", r#"{"id":"warm"}"#, &auth).is_ok_and(|r| r.status == 202)
    });
    assert!(ok, "the endpoint serves; stderr:\n{}", running.stderr());
    let before = peak_rss(running.pid()).unwrap_or(0);

    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for _ in 0..100 {
        let (stop, refused) = (stop.clone(), refused.clone());
        attackers.push(std::thread::spawn(move || {
            unauthenticated_uploader(addr, stop, refused)
        }));
    }
    for _ in 0..150 {
        let stop = stop.clone();
        attackers.push(std::thread::spawn(move || slow_headers(addr, stop)));
    }
    // the real client, all through the attack
    let started = Instant::now();
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    while started.elapsed() < ATTACK {
        let sent = Instant::now();
        let r = try_http(
            port,
            "POST",
            "/orders",
            &format!(r#"{{"id":"real-{answered}"}}"#),
            &auth,
        )
        .unwrap_or_else(|e| panic!("a real request failed during the attack: {e}"));
        assert_eq!(r.status, 202, "{}", r.body);
        slowest = slowest.max(sent.elapsed());
        answered += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = a.join();
    }
    let peak = peak_rss(running.pid()).unwrap_or(0);
    eprintln!(
        "soak: {answered} real requests answered (slowest {slowest:?}), {} unauthenticated uploads refused, peak RSS {} MB (before {} MB)",
        refused.load(Ordering::Relaxed),
        peak >> 20,
        before >> 20
    );
    assert!(answered >= 3, "only {answered} real requests in {ATTACK:?}");
    assert!(
        slowest < Duration::from_secs(20),
        "a real request waited {slowest:?}"
    );
    assert!(
        refused.load(Ordering::Relaxed) >= 100,
        "unauthenticated uploads are refused"
    );
    assert!(
        peak < before + (300 << 20),
        "peak RSS {} MB (before the attack {} MB)",
        peak >> 20,
        before >> 20
    );
    // still serving afterwards
    let r = try_http(port, "POST", "/orders", r#"{"id":"after"}"#, &auth).expect("after");
    assert_eq!(r.status, 202);
    running.terminate(Duration::from_secs(30));
}
