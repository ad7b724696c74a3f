//! `retry N backoff exponential(BASE, MAX) | fixed(D)`: how long to wait
//! before each attempt, with jitter, honouring `RetryAfter`.

use crate::connector::ConnectorError;
use aqueduct_graph::{Backoff, Retry};
use rand::RngExt;
use std::time::Duration;

/// A retry policy.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub attempts: u32,
    backoff: Backoff,
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            attempts: 0,
            backoff: Backoff::Fixed { delay_ms: 0 },
        }
    }

    /// From the flow's `retry` policy (absent: no retries).
    pub fn from_graph(retry: Option<&Retry>) -> RetryPolicy {
        match retry {
            Some(r) => RetryPolicy {
                attempts: r.attempts,
                backoff: r.backoff.clone(),
            },
            None => RetryPolicy::none(),
        }
    }

    /// The base delay before retry number `retry` (1-based), without jitter.
    pub fn base_delay(&self, retry: u32) -> Duration {
        match self.backoff {
            Backoff::Fixed { delay_ms } => Duration::from_millis(delay_ms),
            Backoff::Exponential { base_ms, max_ms } => {
                let factor = 1u64
                    .checked_shl(retry.saturating_sub(1).min(32))
                    .unwrap_or(u64::MAX);
                Duration::from_millis(base_ms.saturating_mul(factor).min(max_ms))
            }
        }
    }

    /// The wait before retry number `retry` after `error`: the remote's
    /// `Retry-After` when it gave one, else the backoff with ±20 % jitter.
    pub fn delay(&self, retry: u32, error: &ConnectorError) -> Duration {
        if let ConnectorError::RetryAfter { after, .. } = error {
            return *after;
        }
        let base = self.base_delay(retry);
        if base.is_zero() {
            return base;
        }
        let jitter = rand::rng().random_range(0.8..1.2);
        base.mul_f64(jitter)
    }

    /// True when `error` after `attempt` attempts (1-based) may be retried.
    pub fn should_retry(&self, attempt: u32, error: &ConnectorError) -> bool {
        attempt <= self.attempts && error.is_retryable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_up_to_the_cap() {
        let p = RetryPolicy::from_graph(Some(&Retry {
            attempts: 5,
            backoff: Backoff::Exponential {
                base_ms: 100,
                max_ms: 500,
            },
        }));
        let ms: Vec<u128> = (1..=5).map(|i| p.base_delay(i).as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 500, 500]);
        let d = p
            .delay(2, &ConnectorError::Transient("x".into()))
            .as_millis();
        assert!((160..=240).contains(&d), "{d}");
        let after = ConnectorError::RetryAfter {
            message: "slow down".into(),
            after: Duration::from_secs(3),
        };
        assert_eq!(p.delay(1, &after), Duration::from_secs(3));
        assert!(p.should_retry(5, &after));
        assert!(!p.should_retry(6, &after));
        assert!(!p.should_retry(1, &ConnectorError::Permanent("no".into())));
    }
}
