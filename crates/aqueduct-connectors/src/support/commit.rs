//! Committing source positions only once the records before them are acked.
//!
//! A source hands every record's ack receiver to a [`Committer`], in order,
//! optionally with the position to store once that record (and every record
//! before it) is safe. A background task awaits the acks in order and writes
//! the latest safe position to the state store, coalescing bursts (at most
//! one write per [`COALESCE`] while acks keep coming). A dropped ack means
//! "not safe": nothing past it is ever committed in this run, so a restart
//! re-reads from the last safe position (at-least-once).

use aqueduct_runtime::connector::{ConnectorError, StateStore};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Longest time a safe position waits before it is written while acks keep arriving.
pub(crate) const COALESCE: Duration = Duration::from_millis(500);

type Item = (oneshot::Receiver<()>, Option<String>);

/// Commits positions after acks, in order.
pub(crate) struct Committer {
    tx: mpsc::UnboundedSender<Item>,
    task: JoinHandle<Result<(), ConnectorError>>,
}

impl Committer {
    /// Starts committing to `key` in `state`.
    pub fn start(state: Arc<dyn StateStore>, key: String) -> Committer {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(state, key, rx));
        Committer { tx, task }
    }

    /// Registers the next record's ack, and the position to store once it is safe.
    pub fn push(&self, ack: oneshot::Receiver<()>, position: Option<String>) {
        // The task only ends early after a failed write; the error surfaces in `finish`.
        let _ = self.tx.send((ack, position));
    }

    /// Waits until every registered ack resolved (acked or dropped) and the
    /// last safe position is written.
    pub async fn finish(self) -> Result<(), ConnectorError> {
        drop(self.tx);
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(ConnectorError::Transient(format!(
                "position committer stopped: {e}"
            ))),
        }
    }
}

async fn run(
    state: Arc<dyn StateStore>,
    key: String,
    mut rx: mpsc::UnboundedReceiver<Item>,
) -> Result<(), ConnectorError> {
    let mut queue: VecDeque<Item> = VecDeque::new();
    let mut pending: Option<String> = None;
    let mut last_write = Instant::now();
    loop {
        while let Ok(item) = rx.try_recv() {
            queue.push_back(item);
        }
        let Some((ack, position)) = queue.pop_front() else {
            if let Some(p) = pending.take() {
                state.put(&key, &p).await?;
                last_write = Instant::now();
            }
            match rx.recv().await {
                Some(item) => {
                    queue.push_back(item);
                    continue;
                }
                None => return Ok(()),
            }
        };
        if ack.await.is_err() {
            // Not safe: commit what was safe before it, then nothing more.
            if let Some(p) = pending.take() {
                state.put(&key, &p).await?;
            }
            tracing::warn!(key = %key, "a record was not acknowledged; its position is not committed and it will be read again on restart");
            while rx.recv().await.is_some() {}
            return Ok(());
        }
        if position.is_some() {
            pending = position;
        }
        if pending.is_some()
            && (queue.is_empty() && rx.is_empty() || last_write.elapsed() >= COALESCE)
            && let Some(p) = pending.take()
        {
            state.put(&key, &p).await?;
            last_write = Instant::now();
        }
    }
}
