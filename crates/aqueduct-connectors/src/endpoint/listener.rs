//! The accept loop of an endpoint server (HTTP/1.1 through hyper), with the
//! limits that keep slow or idle clients from taking it over:
//! - at most `max_connections` connections are open at once; past that the
//!   server stops accepting (new clients wait in the kernel's backlog)
//!   until one closes, so it never runs out of file descriptors;
//! - a client must send a request's headers within `header_timeout` of the
//!   connection opening or of its previous request (an idle keep-alive
//!   connection is closed then too);
//! - the body must arrive within `body_timeout` (checked by the handler,
//!   which answers 408).
//!
//! Nothing is accepted before the run has started (every flow built, so
//! every route in place): connections made earlier wait in the backlog
//! and are served then, never answered 404 for a route that is about to
//! exist. On stop the listener closes at once and open connections finish
//! the request they are serving.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};

/// Server-wide limits (options of the `endpoint` system).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerLimits {
    /// Longest wait for a request's headers.
    pub header_timeout: Duration,
    /// Longest wait for a request's body.
    pub body_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most bodies read at once before their `hmac` signature is checked.
    pub max_unverified_bodies: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_unverified_bodies: 16,
        }
    }
}

/// Serves `router` on `listener` until `stop` fires.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    mut started: watch::Receiver<bool>,
    mut stop: oneshot::Receiver<()>,
) {
    tokio::select! {
        biased;
        _ = &mut stop => return,
        // `Err`: the flows were dropped without starting
        opened = started.wait_for(|s| *s) => if opened.is_err() {
            return;
        },
    }
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let permit = tokio::select! {
            biased;
            _ = &mut stop => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            biased;
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // e.g. out of file descriptors: back off instead of spinning
                    tracing::warn!(error = %e, "Endpoint could not accept a connection.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = async { closing.wait_for(|c| *c).await.is_ok() } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
}
