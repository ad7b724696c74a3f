//! Driving a flow's source: once, or on a schedule (`schedule "CRON"`,
//! `every D`) until shutdown. A scheduled batch flow builds a fresh source
//! for each run; a failed run is logged and the next run happens on time.
//! With a shared state store only the holder of the flow's lease runs it.

use crate::connector::{Envelope, Source};
use crate::executor::SourceMaker;
use crate::lease::{Acquired, FlowLease, Held};
use aqueduct_graph::Schedule;
use chrono::Utc;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Parses a cron expression (5 or 6 fields).
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::Cron::from_str(expr).map_err(|e| format!("invalid schedule \"{expr}\": {e}"))
}

/// How long until the next run. `every` runs at once, then every interval
/// (counted from the start of the previous run).
pub fn next_wait(schedule: &Schedule, last_start: Option<Instant>) -> Result<Duration, String> {
    match schedule {
        Schedule::Every(ms) => Ok(match last_start {
            None => Duration::ZERO,
            Some(at) => Duration::from_millis(*ms).saturating_sub(at.elapsed()),
        }),
        Schedule::Cron(expr) => {
            let now = Utc::now();
            let next = parse_cron(expr)?
                .find_next_occurrence(&now, false)
                .map_err(|e| format!("schedule \"{expr}\": {e}"))?;
            Ok((next - now).to_std().unwrap_or(Duration::ZERO))
        }
    }
}

/// Where a driven source sends its records.
pub enum Feed {
    /// One channel for the source's whole life (never rescheduled).
    Once(mpsc::Sender<Envelope>),
    /// A channel per run, each handed over on `runs` before the run starts.
    Runs {
        /// Receives each run's channel.
        runs: mpsc::Sender<mpsc::Receiver<Envelope>>,
        /// Capacity of each run's channel.
        capacity: usize,
    },
}

/// Runs the source once, or on its schedule until shutdown. A scheduled
/// flow with a `lease` (a shared state store) runs only while this process
/// holds it: it waits to take it, keeps it between runs, and stops a run
/// when it loses it ([`crate::lease`]).
#[allow(clippy::too_many_arguments)] // one call site, each argument a different piece
pub async fn drive(
    flow: String,
    first: Box<dyn Source>,
    remake: SourceMaker,
    schedule: Option<Schedule>,
    feed: Feed,
    mut shutdown: watch::Receiver<bool>,
    stats: std::sync::Arc<crate::executor::FlowStats>,
    lease: Option<FlowLease>,
) -> Result<(), String> {
    let (schedule, runs, capacity) = match (schedule, feed) {
        (Some(schedule), Feed::Runs { runs, capacity }) => (schedule, runs, capacity),
        (_, Feed::Runs { runs, capacity }) => {
            let (tx, rx) = mpsc::channel(capacity.max(1));
            if runs.send(rx).await.is_err() {
                return Ok(());
            }
            return first.run(tx).await.map_err(|e| {
                format!(
                    "the source failed: {}",
                    crate::secrets::redact(&e.to_string())
                )
            });
        }
        (_, Feed::Once(tx)) => {
            return first.run(tx).await.map_err(|e| {
                format!(
                    "the source failed: {}",
                    crate::secrets::redact(&e.to_string())
                )
            });
        }
    };
    let mut first = Some(first);
    let mut last_start = None;
    let mut held: Option<Held> = None;
    let result = loop {
        if let Some(lease) = &lease
            && held.as_ref().is_none_or(Held::is_lost)
        {
            held = None;
            match lease.acquire(&mut shutdown).await {
                Acquired::Stopped => break Ok(()),
                Acquired::Held { .. } => held = Some(lease.hold()),
            }
        }
        let wait = next_wait(&schedule, last_start)?;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stop| *stop) => break Ok(()),
            _ = lost(&mut held) => continue,
        }
        if *shutdown.borrow() {
            break Ok(());
        }
        let start = Instant::now();
        last_start = Some(start);
        let before = stats.snapshot();
        let source = match first.take() {
            Some(s) => s,
            None => match remake() {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(flow = %flow, error = %crate::secrets::redact(&e.to_string()), "Could not start a scheduled run.");
                    continue;
                }
            },
        };
        // Each run on a channel of its own: the flow sees where a run ends
        // (a batch flow commits the rest of its chunk there).
        let (tx, rx) = mpsc::channel(capacity.max(1));
        if runs.send(rx).await.is_err() {
            break Ok(());
        }
        let ran = tokio::select! {
            ran = source.run(tx) => ran,
            _ = lost(&mut held) => {
                tracing::error!(flow = %flow, "Scheduled run stopped: this process no longer holds the flow's lease.");
                continue;
            }
        };
        match ran {
            Ok(()) => {
                // The one-line summary of this run (counts of records the
                // flow took in while it ran; the last ones may still drain).
                let now = stats.snapshot();
                tracing::info!(
                    flow = %flow,
                    took_ms = start.elapsed().as_millis() as u64,
                    received = now[0] - before[0],
                    delivered = now[1] - before[1],
                    filtered = now[2] - before[2],
                    failed = now[3] - before[3],
                    dead_lettered = now[4] - before[4],
                    "Scheduled run finished."
                )
            }
            Err(e) => {
                tracing::error!(flow = %flow, error = %crate::secrets::redact(&e.to_string()), "Scheduled run failed.")
            }
        }
        if runs.is_closed() {
            break Ok(());
        }
    };
    if let (Some(lease), Some(_)) = (&lease, held.take()) {
        // on shutdown another process takes the schedule over at once
        lease.release(false).await;
    }
    result
}

/// Resolves when the held lease is lost; never without a lease.
async fn lost(held: &mut Option<Held>) {
    match held {
        Some(held) => held.lost().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits() {
        assert_eq!(next_wait(&Schedule::Every(1000), None), Ok(Duration::ZERO));
        assert!(
            next_wait(&Schedule::Every(1000), Some(Instant::now())).expect("wait")
                > Duration::from_millis(900)
        );
        let w = next_wait(&Schedule::Cron("* * * * *".into()), None).expect("cron");
        assert!(w <= Duration::from_secs(60));
        assert!(parse_cron("not a cron").is_err());
    }
}
