//! `circuit_breaker { failures = N, reset = D }`: after N consecutive
//! failures calls fail fast for D (open); then one trial call is let
//! through (half-open): success closes the breaker, failure opens it again.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// The breaker's state, as exposed in metrics (0 closed, 1 half-open, 2 open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed = 0,
    /// One trial call goes through.
    HalfOpen = 1,
    /// Calls fail fast.
    Open = 2,
}

#[derive(Debug)]
struct Inner {
    failures: u32,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
}

/// A circuit breaker for one system of one flow.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    reset: Duration,
    inner: Mutex<Inner>,
    gauge: Arc<AtomicU8>,
}

impl Breaker {
    /// A closed breaker reporting its state into `gauge`.
    pub fn new(threshold: u32, reset: Duration, gauge: Arc<AtomicU8>) -> Breaker {
        gauge.store(BreakerState::Closed as u8, Ordering::Relaxed);
        Breaker {
            threshold: threshold.max(1),
            reset,
            inner: Mutex::new(Inner {
                failures: 0,
                opened_at: None,
                trial_in_flight: false,
            }),
            gauge,
        }
    }

    fn set(&self, s: BreakerState) {
        self.gauge.store(s as u8, Ordering::Relaxed);
    }

    /// May a call go through now? `false` means fail fast.
    pub fn allow(&self) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return true;
        };
        match inner.opened_at {
            None => true,
            Some(at) if at.elapsed() >= self.reset && !inner.trial_in_flight => {
                inner.trial_in_flight = true;
                self.set(BreakerState::HalfOpen);
                true
            }
            Some(_) => false,
        }
    }

    /// Records a successful call.
    pub fn success(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            *inner = Inner {
                failures: 0,
                opened_at: None,
                trial_in_flight: false,
            };
            self.set(BreakerState::Closed);
        }
    }

    /// Records a failed call.
    pub fn failure(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.failures += 1;
            if inner.trial_in_flight || inner.failures >= self.threshold {
                inner.opened_at = Some(Instant::now());
                inner.trial_in_flight = false;
                self.set(BreakerState::Open);
            }
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        match self.gauge.load(Ordering::Relaxed) {
            0 => BreakerState::Closed,
            1 => BreakerState::HalfOpen,
            _ => BreakerState::Open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_then_half_opens_then_closes() {
        let b = Breaker::new(2, Duration::from_millis(30), Arc::default());
        assert!(b.allow());
        b.failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow(), "only one trial call");
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
