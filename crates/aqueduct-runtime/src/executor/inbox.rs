//! What a flow's processing loop reads: the records of one input, or of a
//! scheduled source's successive runs, each run on a channel of its own so
//! that the end of a run is seen as such (a batch flow then commits what is
//! left of its chunk) instead of being guessed from a pause in the input.

use crate::connector::Envelope;
use tokio::sync::mpsc;

/// One event of a flow's input.
pub(crate) enum Inbound {
    /// A record.
    Record(Envelope),
    /// A scheduled run's source finished sending; more runs may follow.
    RunEnded,
    /// The input is closed for good.
    Closed,
}

/// A flow's input: one channel, or a channel per scheduled run.
pub(crate) struct Inbox {
    current: Option<mpsc::Receiver<Envelope>>,
    runs: Option<mpsc::Receiver<mpsc::Receiver<Envelope>>>,
}

impl Inbox {
    /// An input that is one channel for its whole life.
    pub(crate) fn single(rx: mpsc::Receiver<Envelope>) -> Inbox {
        Inbox {
            current: Some(rx),
            runs: None,
        }
    }

    /// An input made of runs, each arriving as its own channel.
    pub(crate) fn runs(runs: mpsc::Receiver<mpsc::Receiver<Envelope>>) -> Inbox {
        Inbox {
            current: None,
            runs: Some(runs),
        }
    }

    /// The next event. Cancel-safe (every await is a cancel-safe `recv`, and
    /// the state it changes lives in `self`), so it can sit in `select!`.
    pub(crate) async fn recv(&mut self) -> Inbound {
        loop {
            if let Some(rx) = &mut self.current {
                match rx.recv().await {
                    Some(env) => return Inbound::Record(env),
                    None => {
                        self.current = None;
                        if self.runs.is_some() {
                            return Inbound::RunEnded;
                        }
                        return Inbound::Closed;
                    }
                }
            }
            match &mut self.runs {
                Some(runs) => match runs.recv().await {
                    Some(rx) => self.current = Some(rx),
                    None => return Inbound::Closed,
                },
                None => return Inbound::Closed,
            }
        }
    }

    /// A record already queued in the current run, without waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Envelope> {
        self.current.as_mut()?.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::Ack;
    use crate::value::Value;

    fn env() -> Envelope {
        Envelope::new(Ok(Value::Null), Ack::none())
    }

    #[tokio::test]
    async fn runs_end_one_by_one_then_the_input_closes() {
        let (runs_tx, runs_rx) = mpsc::channel(1);
        let mut inbox = Inbox::runs(runs_rx);
        for n in [2, 0, 1] {
            let (tx, rx) = mpsc::channel(4);
            for _ in 0..n {
                tx.send(env()).await.expect("send");
            }
            drop(tx);
            runs_tx.send(rx).await.expect("send run");
            for _ in 0..n {
                assert!(matches!(inbox.recv().await, Inbound::Record(_)));
            }
            assert!(matches!(inbox.recv().await, Inbound::RunEnded));
        }
        drop(runs_tx);
        assert!(matches!(inbox.recv().await, Inbound::Closed));
    }

    #[tokio::test]
    async fn a_single_channel_just_closes() {
        let (tx, rx) = mpsc::channel(1);
        let mut inbox = Inbox::single(rx);
        tx.send(env()).await.expect("send");
        drop(tx);
        assert!(matches!(inbox.recv().await, Inbound::Record(_)));
        assert!(matches!(inbox.recv().await, Inbound::Closed));
    }
}
