//! `rate_limit N per D`: a token bucket holding at most N tokens, refilled
//! continuously at N per D; each record takes one token, waiting when empty.

use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A token bucket.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    per_token: Duration,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// At most `count` per `per` (a full bucket at start).
    pub fn new(count: u64, per: Duration) -> RateLimiter {
        let count = count.max(1);
        RateLimiter {
            capacity: count as f64,
            per_token: per.div_f64(count as f64),
            state: Mutex::new((count as f64, Instant::now())),
        }
    }

    /// Takes one token, waiting until one is available.
    pub async fn acquire(&self) {
        let mut state = self.state.lock().await;
        loop {
            let now = Instant::now();
            let refill = if self.per_token.is_zero() {
                self.capacity
            } else {
                now.duration_since(state.1).as_secs_f64() / self.per_token.as_secs_f64()
            };
            state.0 = (state.0 + refill).min(self.capacity);
            state.1 = now;
            if state.0 >= 1.0 {
                state.0 -= 1.0;
                return;
            }
            let wait = self.per_token.mul_f64(1.0 - state.0);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spaces_records_after_the_burst() {
        let limiter = RateLimiter::new(5, Duration::from_millis(100));
        let start = std::time::Instant::now();
        for _ in 0..10 {
            limiter.acquire().await;
        }
        // 5 at once, then 5 more at 20 ms each: about 100 ms
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(80), "{took:?}");
        assert!(took < Duration::from_millis(600), "{took:?}");
    }
}
