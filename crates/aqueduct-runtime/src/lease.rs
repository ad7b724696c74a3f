//! Batch flows run once across replicas. With a shared state store
//! (PostgreSQL), several processes of one project run the same flows; a
//! broker spreads a consumed flow's messages over them, but a batch flow
//! (run once, or on a schedule) would run in every one. So a process runs
//! a batch flow only while it holds the flow's lease in the state store:
//!
//! - a lease is a row with its holder and an expiry `ttl` ahead
//!   ([`StateStore::lease`]); the holder renews it every `ttl / 3`;
//! - the others try to take it every `ttl / 3` and get it once it is given
//!   up (at the end of a run once, or on shutdown) or expired: a holder
//!   killed with `kill -9` stops renewing, so another process takes over at
//!   most `ttl` (plus one try) later;
//! - a holder that cannot renew for `2/3 ttl` (the database is unreachable)
//!   stops its run before its lease can expire, so two processes never run
//!   the flow at once;
//! - a scheduled flow stays with its holder between runs; a batch flow run
//!   once is not run again by a process that waited while another ran it to
//!   completion (a holder that died leaves it incomplete: the next one runs
//!   it, resuming from the checkpoints).
//!
//! Stores of one process (SQLite, memory) need no lease ([`StateStore::shared`]).

use crate::connector::StateStore;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The default time a lease lasts without renewal.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15);

/// The lease time from `AQUEDUCT_LEASE_TTL` (seconds, e.g. `15` or
/// `2.5`), or [`DEFAULT_TTL`] when it is unset.
pub fn ttl_from_env() -> Result<Duration, String> {
    let Ok(text) = std::env::var("AQUEDUCT_LEASE_TTL") else {
        return Ok(DEFAULT_TTL);
    };
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.3 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            format!("AQUEDUCT_LEASE_TTL: `{text}` is not a number of seconds from 0.3 to 86400")
        })
}

/// The lease of one batch flow, for this process.
#[derive(Clone)]
pub struct FlowLease {
    store: Arc<dyn StateStore>,
    name: String,
    holder: String,
    ttl: Duration,
    flow: String,
}

/// How [`FlowLease::acquire`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// This process holds the lease; `after_complete_run` when it waited
    /// while another process ran the flow to completion.
    Held {
        /// Another holder gave it up after a complete run.
        after_complete_run: bool,
    },
    /// Shutdown came first.
    Stopped,
}

impl FlowLease {
    /// The lease of `flow` when `store` is shared; `None` otherwise.
    pub fn for_flow(store: &Arc<dyn StateStore>, flow: &str, ttl: Duration) -> Option<FlowLease> {
        store.shared().then(|| FlowLease {
            store: store.clone(),
            name: format!("flow/{flow}"),
            holder: holder_id(),
            ttl,
            flow: flow.to_string(),
        })
    }

    fn period(&self) -> Duration {
        (self.ttl / 3).max(Duration::from_millis(100))
    }

    /// Waits until this process holds the lease, trying every `ttl / 3`.
    pub async fn acquire(&self, shutdown: &mut watch::Receiver<bool>) -> Acquired {
        let mut waited = false;
        loop {
            match self.store.lease(&self.name, &self.holder, self.ttl).await {
                Ok(Some(grant)) => {
                    tracing::info!(flow = %self.flow, holder = %self.holder, "This process holds the flow's lease and runs it.");
                    return Acquired::Held {
                        after_complete_run: waited && grant.completed_by_other,
                    };
                }
                Ok(None) => {
                    if !waited {
                        tracing::info!(flow = %self.flow, "Another process holds the flow's lease; this one waits to take over.");
                    }
                    waited = true;
                }
                Err(error) => {
                    tracing::warn!(flow = %self.flow, %error, "Could not take the flow's lease; trying again.")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.period()) => {}
                _ = shutdown.wait_for(|stop| *stop) => return Acquired::Stopped,
            }
        }
    }

    /// Renews the held lease every `ttl / 3`; returns when it is lost:
    /// taken by another process, or not renewed for `2/3 ttl`.
    pub async fn keep(&self) {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(self.period()).await;
            match self.store.lease(&self.name, &self.holder, self.ttl).await {
                Ok(Some(_)) => renewed = Instant::now(),
                Ok(None) => {
                    tracing::error!(flow = %self.flow, "Another process took the flow's lease; this one stops running it.");
                    return;
                }
                Err(error) => {
                    if renewed.elapsed() >= self.ttl * 2 / 3 {
                        tracing::error!(flow = %self.flow, %error, "Could not renew the flow's lease in time; this process stops running it.");
                        return;
                    }
                    tracing::warn!(flow = %self.flow, %error, "Could not renew the flow's lease; trying again.");
                }
            }
        }
    }

    /// Keeps the held lease renewed in a task of its own until the
    /// returned [`Held`] is dropped.
    pub fn hold(&self) -> Held {
        let (lost, watch) = watch::channel(false);
        let lease = self.clone();
        let task = tokio::spawn(async move {
            lease.keep().await;
            let _ = lost.send(true);
        });
        Held { lost: watch, task }
    }

    /// Gives the lease up (`completed`: the run ended complete).
    pub async fn release(&self, completed: bool) {
        if let Err(error) = self
            .store
            .release_lease(&self.name, &self.holder, completed)
            .await
        {
            tracing::warn!(flow = %self.flow, %error, "Could not give the flow's lease up; it expires by itself.");
        }
    }
}

/// A lease this process holds, renewed in the background.
pub struct Held {
    lost: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Held {
    /// Resolves when the lease is lost.
    pub async fn lost(&mut self) {
        // an error means the renewing task is gone: lost as well
        let _ = self.lost.wait_for(|lost| *lost).await;
    }

    /// Whether the lease is lost.
    pub fn is_lost(&self) -> bool {
        *self.lost.borrow() || self.task.is_finished()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// This process: host name, process id and start time, unique across
/// restarts and hosts.
fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{host}/{}/{nanos:09}", std::process::id())
}
