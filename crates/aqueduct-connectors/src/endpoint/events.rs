//! `endpoint.events(path)`: a target pushing each record as a server-sent
//! event (`text/event-stream`, `data: {json}`) to every client connected to
//! the path (a broadcast; a client too slow to keep up skips what it
//! missed). A keep-alive comment goes out every [`KEEP_ALIVE`]. With no
//! client connected, records are accepted and dropped.

use super::server::{Handler, Route, RouteGuard, register};
use aqueduct_runtime::connector::{ConnectorError, Target};
use aqueduct_runtime::value::Value;
use axum::http::Method;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Time between keep-alive comments.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Events buffered per client before a slow one starts skipping.
const BUFFER: usize = 1024;

/// Broadcasts records to connected clients.
pub(crate) struct EventsTarget {
    tx: broadcast::Sender<Arc<str>>,
    _guard: RouteGuard,
}

impl EventsTarget {
    pub(crate) fn build(
        listen: &str,
        pattern: Vec<super::server::Segment>,
        auth: super::auth::InboundAuth,
        max_body: usize,
        limits: super::listener::ServerLimits,
        shutdown: watch::Receiver<bool>,
        started: watch::Receiver<bool>,
    ) -> Result<EventsTarget, ConnectorError> {
        let (tx, _) = broadcast::channel(BUFFER);
        let route = Route {
            method: Method::GET,
            pattern,
            handler: Handler::Events(tx.clone()),
            auth,
            max_body,
        };
        let guard = register(listen, route, limits, shutdown, started)?;
        Ok(EventsTarget { tx, _guard: guard })
    }
}

impl Target for EventsTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            for record in records {
                // No subscriber is not an error: the event is simply not seen.
                let _ = self.tx.send(Arc::from(record.to_json_string()));
            }
            Ok(())
        })
    }
}

/// The event stream of one client; ends when the target goes away or at shutdown.
pub(crate) fn stream(
    rx: broadcast::Receiver<Arc<str>>,
    shutdown: watch::Receiver<bool>,
) -> Response {
    let events = futures::stream::unfold((rx, shutdown), |(mut rx, mut shutdown)| async move {
        loop {
            tokio::select! {
                message = rx.recv() => match message {
                    Ok(data) => return Some((Ok::<Event, Infallible>(Event::default().data(data.as_ref())), (rx, shutdown))),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = crate::support::stopped(&mut shutdown) => return None,
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}
