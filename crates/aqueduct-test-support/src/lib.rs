//! Helpers shared by tests that talk to real services (databases, brokers,
//! the Salesforce emulator): where a service is ([`service_url`], with a
//! visible skip when it is not configured), names no concurrent test shares
//! ([`unique_name`]), and a TCP proxy that cuts connections on demand
//! ([`FaultProxy`]) to test reconnection without restarting a shared server,
//! a private Mosquitto ([`Mosquitto`]) that keeps every message, and
//! private servers to restart ([`Daemon`]), and ports for a test's own
//! listeners that nothing else takes meanwhile ([`listen_port`]), and a
//! deterministic generator for tests that make their own inputs ([`Rng`]),
//! and a RabbitMQ node of a test's own ([`rabbitmq`]).
//!
//! Std only (threads, blocking sockets), so sync and async tests can use it.
#![warn(missing_docs)]

mod daemon;
mod mosquitto;
mod port;
mod proxy;
mod rabbitmq;
mod rng;

pub use daemon::Daemon;
pub use mosquitto::{KEEP_EVERYTHING, Mosquitto, PERSISTENT};
pub use port::listen_port;
pub use proxy::FaultProxy;
pub use rabbitmq::{amqp_url, rabbitmq};
pub use rng::Rng;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The address of a service from the environment variable `var`
/// (e.g. `AQUEDUCT_TEST_POSTGRES_URL`), or `None` after printing
/// `SKIP: {test} (set {var})`. With `AQUEDUCT_REQUIRE_SERVICES=1` (CI) an
/// unset variable fails the test instead: CI never skips silently.
pub fn service_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("AQUEDUCT_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "AQUEDUCT_REQUIRE_SERVICES=1 but {var} is not set (needed by {test})"
            );
            println!("SKIP: {test} (set {var})");
            None
        }
    }
}

/// A name no other test (in this process or a concurrent one) uses:
/// `{prefix}_{pid}_{time}_{counter}`, lower case, safe as an SQL identifier,
/// queue, stream, slot or topic name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{:x}_{n}",
        prefix.to_ascii_lowercase(),
        std::process::id(),
        nanos
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_are_identifiers() {
        let a = unique_name("Aq");
        let b = unique_name("Aq");
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }
}
