//! Graceful shutdown and health: SIGINT/SIGTERM flip a watch that every
//! source sees ([`crate::connector::OpContext::shutdown`]); sources stop
//! taking input, in-flight records drain and positions are committed, bounded
//! by the drain timeout of [`crate::executor::RunOptions`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::watch;

/// Asks a run to stop.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for ShutdownHandle {
    fn default() -> Self {
        ShutdownHandle::new()
    }
}

impl ShutdownHandle {
    /// A handle nobody has triggered yet.
    pub fn new() -> ShutdownHandle {
        ShutdownHandle {
            tx: Arc::new(watch::channel(false).0),
        }
    }

    /// Asks every source to stop.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// True once triggered.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// A receiver for sources (`OpContext::shutdown`).
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when
/// this is called (inside a tokio runtime), not when the future is first
/// polled: call it before serving, await it after.
pub fn signals() -> impl std::future::Future<Output = ()> + Send {
    Signals::listen().recv()
}

/// SIGINT and SIGTERM caught from the moment this is made (inside a tokio
/// runtime): from then on neither ends the process by itself.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The first signal.
    async fn recv(mut self) {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = next(&mut self.interrupt) => {}
                _ = next(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Triggers `handle` on the first SIGINT/SIGTERM (call inside a tokio
/// runtime, before the flows start). The handlers are installed here, not
/// when the waiting task first runs: on a busy machine a flow could be
/// serving before that task was polled, and a SIGTERM then ended the
/// process at once, without the drain (seen in a loaded test run).
pub fn on_signals(handle: ShutdownHandle) {
    let caught = signals();
    tokio::spawn(async move {
        caught.await;
        tracing::info!("Shutdown requested; draining in-flight records.");
        handle.trigger();
    });
}

/// Liveness and readiness for `/healthz` and `/readyz`.
#[derive(Debug, Default)]
pub struct Readiness {
    /// True once the flows were spawned.
    pub running: AtomicBool,
    sources: usize,
    started: AtomicUsize,
    /// Flows that ended with an error while the process went on (the
    /// others still running): the process is no longer healthy.
    failed: std::sync::Mutex<Vec<String>>,
}

impl Readiness {
    /// Readiness of a run with `sources` flows.
    pub fn new(sources: usize) -> Readiness {
        Readiness {
            running: AtomicBool::new(false),
            sources,
            started: AtomicUsize::new(0),
            failed: std::sync::Mutex::default(),
        }
    }

    /// `flow` ended with an error.
    pub fn flow_failed(&self, flow: &str) {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(flow.to_string());
    }

    /// The flows that ended with an error, in the order they failed.
    pub fn failed_flows(&self) -> Vec<String> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A flow's source has started.
    pub fn source_started(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    /// True once running.
    pub fn is_live(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// True once every source has started, while no flow has failed.
    pub fn is_ready(&self) -> bool {
        self.is_live()
            && self.started.load(Ordering::SeqCst) >= self.sources
            && self.failed_flows().is_empty()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A SIGTERM that comes before the waiting task ever ran (a flow
    /// already serving on a busy machine) asks for the drain; before the
    /// handlers were installed by `on_signals` itself, it ended the process
    /// (this test binary with it).
    #[tokio::test]
    async fn a_sigterm_before_the_waiting_task_ran_is_caught() {
        let handle = ShutdownHandle::new();
        let mut asked = handle.receiver();
        on_signals(handle.clone());
        // on this single-threaded runtime the spawned task has not run yet
        let sent = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(std::process::id().to_string())
            .status()
            .expect("runs kill");
        assert!(sent.success());
        let triggered = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            asked.wait_for(|stop| *stop),
        )
        .await;
        assert!(matches!(triggered, Ok(Ok(_))), "the shutdown was not asked");
        assert!(handle.is_triggered());
    }
}
