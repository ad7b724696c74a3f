//! Acknowledging broker messages in arrival order, in batches.
//!
//! A source hands each record out with an [`Ack`](aqueduct_runtime::connector::Ack)
//! and gives its receiver to [`Ordered::track`] with what the broker needs
//! to acknowledge the message (a delivery tag, an entry id, a message).
//! One task waits for the receivers in arrival order; once the first is
//! safe it takes along every following one that is safe already and hands
//! the whole run to the acknowledging function at once: one AMQP `multiple`
//! ack, one XACK naming every entry, one batch of JetStream acks. The
//! executor acks a group of records together (one target write), so runs
//! are as long as the groups the flow writes.
//!
//! A dropped ack means "not safe": that message is skipped and left
//! unacknowledged, so the broker delivers it again (after the connection
//! closes, or after its ack timeout), which keeps the source at least
//! once. From then on [`Run::contiguous`] is false: a cumulative ack would
//! cover the skipped message too.
//!
//! This replaced an acknowledgement task per message: it costs one channel
//! send per message and one broker round trip per run.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Longest wait for the broker to answer one batch of acknowledgements: on
/// a connection that was cut it may never be answered, and the broker
/// redelivers those messages anyway.
const ACK_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest wait for the acknowledgements still due when a source stops,
/// once every record is safe (or dropped), so that stopping stays inside
/// the executor's drain timeout. The wait for the records themselves is
/// not bounded here: the flow drains them within that timeout, and a
/// bound counted from the stop cut off the acks of records that landed
/// after it (a slow flow with a full queue takes seconds to drain).
const FINISH_TIMEOUT: Duration = Duration::from_secs(3);

/// Most messages acknowledged in one batch.
const MAX_RUN: usize = 4096;

/// Messages that are safe, in arrival order, to be acknowledged together.
pub struct Run<T> {
    /// What each message needs to be acknowledged, oldest first.
    pub items: Vec<T>,
    /// True when every message tracked before these was acknowledged (none
    /// was skipped), so a cumulative ack up to the last one is right.
    pub contiguous: bool,
}

/// The ordered acknowledgement task of one source (or one connection).
pub struct Ordered<T> {
    tx: Option<mpsc::UnboundedSender<(oneshot::Receiver<()>, T)>>,
    task: JoinHandle<()>,
    /// Messages tracked so far.
    tracked: AtomicUsize,
    /// Messages the task found safe or dropped so far.
    resolved: watch::Receiver<usize>,
}

impl<T: Send + 'static> Ordered<T> {
    /// Starts the task; `ack` acknowledges one run of safe messages.
    pub fn start<F, Fut>(what: &'static str, mut ack: F) -> Ordered<T>
    where
        F: FnMut(Run<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<(oneshot::Receiver<()>, T)>();
        let (resolve, resolved) = watch::channel(0usize);
        let task = tokio::spawn(async move {
            let mut contiguous = true;
            let mut next = rx.recv().await;
            while let Some((safe, item)) = next.take() {
                let safe = safe.await;
                resolve.send_modify(|n| *n += 1);
                if safe.is_err() {
                    skipped(what);
                    contiguous = false;
                    next = rx.recv().await;
                    continue;
                }
                let mut items = vec![item];
                // take along every following message already safe
                while items.len() < MAX_RUN {
                    let Ok((mut safe, item)) = rx.try_recv() else {
                        break;
                    };
                    let state = safe.try_recv();
                    if !matches!(state, Err(oneshot::error::TryRecvError::Empty)) {
                        resolve.send_modify(|n| *n += 1);
                    }
                    match state {
                        Ok(()) => items.push(item),
                        Err(oneshot::error::TryRecvError::Empty) => {
                            next = Some((safe, item));
                            break;
                        }
                        Err(oneshot::error::TryRecvError::Closed) => {
                            // acknowledge what came before it, then go on without it
                            skipped(what);
                            if !items.is_empty() {
                                let run = Run {
                                    items: std::mem::take(&mut items),
                                    contiguous,
                                };
                                send(what, &mut ack, run).await;
                            }
                            contiguous = false;
                        }
                    }
                }
                if !items.is_empty() {
                    send(what, &mut ack, Run { items, contiguous }).await;
                }
                if next.is_none() {
                    next = rx.recv().await;
                }
            }
        });
        Ordered {
            tx: Some(tx),
            task,
            tracked: AtomicUsize::new(0),
            resolved,
        }
    }

    /// Acknowledges `item` once `safe` resolves; never when the record's
    /// ack is dropped.
    pub fn track(&self, safe: oneshot::Receiver<()>, item: T) {
        if let Some(tx) = &self.tx
            && tx.send((safe, item)).is_ok()
        {
            self.tracked.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every tracked record is acked (or dropped) and its
    /// acknowledgement sent; once every record is, gives up on the broker's
    /// answers after [`FINISH_TIMEOUT`] (the broker redelivers those
    /// messages).
    pub async fn finish(mut self) {
        self.tx = None;
        let tracked = self.tracked.load(Ordering::Relaxed);
        // ends early when the task does (its sender is dropped with it)
        let _ = self.resolved.wait_for(|n| *n >= tracked).await;
        if tokio::time::timeout(FINISH_TIMEOUT, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!(
                "Stopping without the broker's answer to some acknowledgements; those messages are delivered again."
            );
            self.task.abort();
        }
    }

    /// Stops acknowledging at once (the connection the messages came on is
    /// gone, so their acknowledgements could not be sent anyway).
    pub fn abort(self) {
        self.task.abort();
    }
}

fn skipped(what: &str) {
    tracing::warn!(
        "a {what} message was not acknowledged by the flow; the broker will deliver it again"
    );
}

async fn send<T, F, Fut>(what: &str, ack: &mut F, run: Run<T>)
where
    F: FnMut(Run<T>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let n = run.items.len();
    match tokio::time::timeout(ACK_TIMEOUT, ack(run)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(
            "acknowledging {n} {what} message(s) failed (they will be delivered again): {e}"
        ),
        Err(_) => tracing::warn!(
            "acknowledging {n} {what} message(s) got no answer in {ACK_TIMEOUT:?} (they will be delivered again)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqueduct_runtime::connector::Ack;
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Vec<(Vec<u32>, bool)>>>;

    fn acker(seen: &Seen) -> Ordered<u32> {
        let seen = seen.clone();
        Ordered::start("test", move |run: Run<u32>| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .map_err(|e| e.to_string())?
                    .push((run.items, run.contiguous));
                Ok(())
            }
        })
    }

    #[tokio::test]
    async fn safe_messages_are_acknowledged_together_in_arrival_order() {
        let seen = Seen::default();
        let ordered = acker(&seen);
        let mut acks = Vec::new();
        for i in 0..5 {
            let (ack, safe) = Ack::new();
            ordered.track(safe, i);
            acks.push(ack);
        }
        // acked out of order: nothing goes out before the first is safe
        let mut acks = acks.into_iter();
        let first = acks.next();
        acks.rev().for_each(Ack::done);
        tokio::task::yield_now().await;
        assert!(seen.lock().map(|s| s.is_empty()).unwrap_or(false));
        first.into_iter().for_each(Ack::done);
        ordered.finish().await;
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let all: Vec<u32> = seen.iter().flat_map(|(i, _)| i.clone()).collect();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
        assert!(
            seen.len() <= 2,
            "one or two runs, not one per message: {seen:?}"
        );
        assert!(seen.iter().all(|(_, contiguous)| *contiguous));
    }

    #[tokio::test]
    async fn a_dropped_ack_is_skipped_and_later_runs_are_not_contiguous() {
        let seen = Seen::default();
        let ordered = acker(&seen);
        let mut acks = Vec::new();
        for i in 0..4 {
            let (ack, safe) = Ack::new();
            ordered.track(safe, i);
            acks.push(ack);
        }
        let mut acks = acks.into_iter();
        acks.next().into_iter().for_each(Ack::done);
        drop(acks.next()); // message 1 was not made safe
        acks.for_each(Ack::done);
        ordered.finish().await;
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let all: Vec<u32> = seen.iter().flat_map(|(i, _)| i.clone()).collect();
        assert_eq!(all, vec![0, 2, 3]);
        assert!(seen.first().is_some_and(|(i, c)| i == &vec![0] && *c));
        assert!(seen.iter().skip(1).all(|(_, c)| !*c));
    }

    #[tokio::test]
    async fn finishing_waits_for_records_made_safe_after_the_finish_timeout() {
        let seen = Seen::default();
        let ordered = acker(&seen);
        let (ack, safe) = Ack::new();
        ordered.track(safe, 7);
        // a slow flow drains its queue for longer than the broker's answers may take
        tokio::spawn(async move {
            tokio::time::sleep(FINISH_TIMEOUT + Duration::from_millis(500)).await;
            ack.done();
        });
        ordered.finish().await;
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen, vec![(vec![7], true)]);
    }
}
