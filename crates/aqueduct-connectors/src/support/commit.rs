//! Committing source positions only once the records before them are acked.
//!
//! A source hands every record's ack receiver to a [`Committer`], in order,
//! optionally with the position to store once that record (and every record
//! before it) is safe. A background task awaits the acks in order; after
//! each ack it also takes every following ack that has already resolved (a
//! target acknowledges a whole chunk at once when it commits it), then
//! writes the latest safe position before it waits again. So a position is
//! written as soon as the chunk holding it is durable: after a `kill -9`
//! the saved position trails the target by at most the chunks that became
//! durable while the previous position write was in flight (normally none,
//! at most one under load). A dropped ack means "not safe": nothing past it
//! is ever committed in this run, so a restart re-reads from the last safe
//! position (at-least-once).

use aqueduct_runtime::connector::{ConnectorError, StateStore};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::oneshot::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

type Item = (oneshot::Receiver<()>, Option<String>);

/// Commits positions after acks, in order.
pub struct Committer {
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
    loop {
        let Some((ack, position)) = queue.pop_front() else {
            match rx.recv().await {
                Some(item) => {
                    queue.push_back(item);
                    continue;
                }
                None => return Ok(()),
            }
        };
        let mut safe = ack.await.is_ok();
        if safe && position.is_some() {
            pending = position;
        }
        // Every following record already acknowledged is safe too.
        while safe {
            while let Ok(item) = rx.try_recv() {
                queue.push_back(item);
            }
            let Some((next, _)) = queue.front_mut() else {
                break;
            };
            match next.try_recv() {
                Ok(()) => {
                    if let Some((_, Some(p))) = queue.pop_front() {
                        pending = Some(p);
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => safe = false,
            }
        }
        // About to wait (or stop): what is safe is written now.
        if let Some(p) = pending.take() {
            state.put(&key, &p).await?;
        }
        if !safe {
            // Not safe: nothing after it is committed in this run.
            tracing::warn!(key = %key, "a record was not acknowledged; its position is not committed and it will be read again on restart");
            while rx.recv().await.is_some() {}
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqueduct_runtime::state::MemoryStore;
    use std::time::Duration;

    async fn saved(state: &MemoryStore, key: &str) -> Option<String> {
        StateStore::get(state, key).await.expect("get")
    }

    async fn wait_for(state: &MemoryStore, key: &str, want: &str) -> bool {
        for _ in 0..500 {
            if saved(state, key).await.as_deref() == Some(want) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// A chunk acknowledged while later records are still in flight: its
    /// position is written at once, not when the next ack arrives.
    #[tokio::test]
    async fn a_durable_chunk_is_committed_while_later_records_are_pending() {
        let state = Arc::new(MemoryStore::default());
        let committer = Committer::start(state.clone(), "k".into());
        let mut senders = Vec::new();
        for i in 1..=3000u32 {
            let (tx, rx) = oneshot::channel();
            committer.push(rx, Some(i.to_string()));
            senders.push(Some(tx));
        }
        // the target commits the first chunk of 1000
        for tx in senders.iter_mut().take(1000) {
            let _ = tx.take().expect("sender").send(());
        }
        assert!(wait_for(&state, "k", "1000").await, "chunk 1 committed");
        // and the second
        for tx in senders.iter_mut().skip(1000).take(1000) {
            let _ = tx.take().expect("sender").send(());
        }
        assert!(wait_for(&state, "k", "2000").await, "chunk 2 committed");
        // a record of the third chunk fails: nothing past it is committed
        senders[2000].take();
        for tx in senders.iter_mut().skip(2001) {
            let _ = tx.take().expect("sender").send(());
        }
        committer.finish().await.expect("finish");
        assert_eq!(saved(&state, "k").await.as_deref(), Some("2000"));
    }
}
