//! Ports for a test's own listeners, chosen below the kernel's ephemeral
//! range: a port picked by binding `127.0.0.1:0` and closed again can be
//! handed to the next `bind(…:0)` or outgoing connection of any process
//! (an emulator starting, a client connecting) before the test's listener
//! binds it, which made such tests fail now and then.

use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The lowest port the search starts from (above the well-known services).
const FLOOR: u16 = 10_000;

/// The first port of the kernel's ephemeral range (`ip_local_port_range`).
fn ephemeral_floor() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A port on 127.0.0.1 that is free now and that no ephemeral allocation
/// will take: for a listener the test starts a little later. Never the
/// same port twice in one process: the tests of a binary run in parallel,
/// and two of them handed one port would each talk to the other's server.
///
/// # Panics
/// When no port below the ephemeral range is free (a test set-up failure).
pub fn listen_port() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let top = ephemeral_floor().max(FLOOR + 1_000);
    let span = u64::from(top - FLOOR);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    let seed = nanos
        ^ (u64::from(std::process::id()) << 20)
        ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(7_919);
    (0..2_000u64)
        .map(|i| FLOOR + (seed.wrapping_add(i.wrapping_mul(7_919)) % span) as u16)
        .find(|port| !given.contains(port) && TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .inspect(|port| given.push(*port))
        .unwrap_or_else(|| panic!("no free port between {FLOOR} and {top}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_distinct_and_below_the_ephemeral_range() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let port = listen_port();
            assert!(seen.insert(port), "{port} given twice");
            assert!((FLOOR..ephemeral_floor().max(FLOOR + 1_000)).contains(&port));
            assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
        }
    }
}
