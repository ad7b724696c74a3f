//! Driving a flow's source: once, or on a schedule (`schedule "CRON"`,
//! `every D`) until shutdown. A scheduled batch flow builds a fresh source
//! for each run; a failed run is logged and the next run happens on time.

use crate::connector::{Envelope, Source};
use crate::executor::SourceMaker;
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

/// Runs the source once, or on its schedule until shutdown.
pub async fn drive(
    flow: String,
    first: Box<dyn Source>,
    remake: SourceMaker,
    schedule: Option<Schedule>,
    tx: mpsc::Sender<Envelope>,
    mut shutdown: watch::Receiver<bool>,
    stats: std::sync::Arc<crate::executor::FlowStats>,
) -> Result<(), String> {
    let Some(schedule) = schedule else {
        return first.run(tx).await.map_err(|e| {
            format!(
                "the source failed: {}",
                crate::secrets::redact(&e.to_string())
            )
        });
    };
    let mut first = Some(first);
    let mut last_start = None;
    loop {
        let wait = next_wait(&schedule, last_start)?;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
        if *shutdown.borrow() {
            return Ok(());
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
        match source.run(tx.clone()).await {
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
        if tx.is_closed() {
            return Ok(());
        }
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
