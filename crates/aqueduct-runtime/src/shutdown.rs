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

/// Waits for SIGINT (Ctrl-C) or SIGTERM.
pub async fn signals() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Triggers `handle` on the first SIGINT/SIGTERM (call inside a tokio runtime).
pub fn on_signals(handle: ShutdownHandle) {
    tokio::spawn(async move {
        signals().await;
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
}

impl Readiness {
    /// Readiness of a run with `sources` flows.
    pub fn new(sources: usize) -> Readiness {
        Readiness {
            running: AtomicBool::new(false),
            sources,
            started: AtomicUsize::new(0),
        }
    }

    /// A flow's source has started.
    pub fn source_started(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    /// True once running.
    pub fn is_live(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// True once every source has started.
    pub fn is_ready(&self) -> bool {
        self.is_live() && self.started.load(Ordering::SeqCst) >= self.sources
    }
}
