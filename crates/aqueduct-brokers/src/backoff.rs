//! Exponential backoff between reconnection attempts (1 s doubling to 30 s),
//! cut short by shutdown.

use aqueduct_connectors::support::stopped;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const FIRST: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(30);

/// The delay before the next attempt.
pub struct Backoff {
    next: Duration,
    last: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: FIRST,
            last: None,
        }
    }
}

impl Backoff {
    /// The delay the next [`Backoff::wait`] will take.
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// Starts over when the last failure is long past (the connection worked a while).
    pub fn reset_if_worked(&mut self) {
        if self.last.is_some_and(|t| t.elapsed() > MAX * 2) {
            self.next = FIRST;
        }
    }

    /// Sleeps the delay and doubles it; false when shutdown came first.
    pub async fn wait(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let delay = self.next;
        self.next = (self.next * 2).min(MAX);
        self.last = Some(Instant::now());
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stopped(shutdown) => false,
        }
    }
}
