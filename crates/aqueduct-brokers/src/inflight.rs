//! Acknowledging broker messages only once the executor acked their records.
//!
//! A source hands each record out with an [`Ack`](aqueduct_runtime::connector::Ack)
//! and gives the receiver to [`InFlight::track`] together with the broker
//! acknowledgement to perform. The acknowledgement runs only when the
//! executor says the record is safe (every target committed it or the dead
//! letter took it). A dropped ack means "not safe": the message is left
//! unacknowledged, so the broker redelivers it (after the connection closes,
//! or after the broker's ack timeout), which is what makes these sources
//! at-least-once.

use std::future::Future;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// Longest wait for one broker acknowledgement: on a connection that was cut
/// it may never be answered, and the broker redelivers the message anyway.
const ACK_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest wait for the acknowledgements still running when a source stops,
/// so that stopping stays inside the executor's drain timeout.
const FINISH_TIMEOUT: Duration = Duration::from_secs(3);

/// Broker acknowledgements waiting for their records to be safe.
#[derive(Default)]
pub struct InFlight {
    tasks: JoinSet<()>,
}

impl InFlight {
    /// Runs `ack` once `safe` resolves with the record acked; never when
    /// the record's ack is dropped.
    pub fn track<F>(&mut self, what: &'static str, safe: oneshot::Receiver<()>, ack: F)
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.tasks.spawn(async move {
            if safe.await.is_err() {
                tracing::warn!(
                    "a {what} message was not acknowledged by the flow; the broker will deliver it again"
                );
                return;
            }
            match tokio::time::timeout(ACK_TIMEOUT, ack).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(
                    "acknowledging a {what} message failed (it will be delivered again): {e}"
                ),
                Err(_) => tracing::warn!(
                    "acknowledging a {what} message got no answer in {ACK_TIMEOUT:?} (it will be delivered again)"
                ),
            }
        });
        while self.tasks.try_join_next().is_some() {}
    }

    /// How many acknowledgements are still waiting.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when none is waiting.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits for every tracked record to be acked (or dropped) and its
    /// broker acknowledgement sent.
    /// Bounded by [`FINISH_TIMEOUT`] once every record is safe: the
    /// acknowledgements still unanswered then are given up (the broker
    /// redelivers those messages).
    pub async fn finish(&mut self) {
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(FINISH_TIMEOUT, all).await.is_err() {
            tracing::warn!(
                left = self.tasks.len(),
                "Stopping without the broker's answer to some acknowledgements; those messages are delivered again."
            );
            self.tasks.abort_all();
        }
    }
}
