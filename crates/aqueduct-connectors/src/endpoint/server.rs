//! The HTTP servers: one per `listen` address, shared by every flow (and
//! every `endpoint` system) using that address, with a route table that
//! operations add to and remove from while it runs.
//!
//! A request is matched by method and path (`:name` and `{name}` segments
//! capture), its headers are checked by the route's auth (401) before any
//! of the body is read, then its body is read up to the route's `max_body`
//! (413 beyond) within the server's `body_timeout` (408), then handed to the
//! route's handler. An `hmac` route needs the body to decide: such bodies
//! are read at most `max_unverified_bodies` at a time per server (503 with
//! `Retry-After` when none frees up within `body_timeout`). While the
//! process drains after SIGTERM, a request whose route is already gone gets
//! 503 with `Retry-After`, not 404. A server stops when the last operation
//! using it is dropped; its accept loop and connection limits are in
//! [`super::listener`].

use super::auth::{HeaderCheck, InboundAuth};
use super::listener::ServerLimits;
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{ConnectorError, Envelope};
use aqueduct_runtime::value::Schemas;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot, watch};

/// Seconds a client is told to wait (`Retry-After`) when the server cannot
/// take its request now (draining, a flow not running, too many unverified
/// bodies).
pub(crate) const RETRY_AFTER_SECS: u64 = 5;

/// A path pattern segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Literal(String),
    Param(String),
}

/// Parses `/orders/:id` (as the catalogue documents) or `/orders/{id}`
/// (axum's spelling): both capture the segment as the field `id`.
pub(crate) fn parse_pattern(path: &str) -> Result<Vec<Segment>, String> {
    if !path.starts_with('/') {
        return Err(format!("the route `{path}` must start with /"));
    }
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let name = s
                .strip_prefix(':')
                .or_else(|| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')));
            match name {
                Some(name) if !name.is_empty() => Ok(Segment::Param(name.to_string())),
                Some(_) => Err(format!("the route `{path}` has a segment without a name")),
                None => Ok(Segment::Literal(s.to_string())),
            }
        })
        .collect()
}

/// Decodes `%XX` escapes (and `+` as space when `plus`).
pub(crate) fn percent_decode(text: &str, plus: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if plus && bytes[i] == b'+' {
            b' '
        } else {
            bytes[i]
        });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a source route's requests go.
#[derive(Clone)]
pub(crate) enum Inlet {
    /// The flow has not started taking requests yet (it is being spawned,
    /// or, in a batch flow, waits for its lease).
    Starting,
    /// The flow takes requests on this channel.
    Open(mpsc::Sender<Envelope>),
    /// The flow stopped taking requests.
    Closed,
}

/// A source route's link to its flow.
pub(crate) struct SourceRoute {
    /// Where requests go, as the source starts and stops.
    pub inlet: watch::Sender<Inlet>,
    /// A sync flow answers with its reply; an async one with 202 once acked.
    pub sync: bool,
    /// The record type.
    pub ty: Type,
    /// Record layouts.
    pub schemas: Arc<Schemas>,
}

/// What a route does.
pub(crate) enum Handler {
    /// Requests become records of a flow.
    Source(Arc<SourceRoute>),
    /// Clients subscribe to server-sent events.
    Events(broadcast::Sender<Arc<str>>),
}

/// One route.
pub(crate) struct Route {
    pub method: Method,
    pub pattern: Vec<Segment>,
    pub handler: Handler,
    pub auth: InboundAuth,
    pub max_body: usize,
}

struct Shared {
    routes: RwLock<Vec<(u64, Arc<Route>)>>,
    shutdown: watch::Receiver<bool>,
    limits: ServerLimits,
    /// Permits to read a body before its `hmac` signature is checked.
    unverified: Semaphore,
}

/// A running server.
pub(crate) struct Server {
    shared: Arc<Shared>,
    addr: SocketAddr,
    limits: ServerLimits,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(mut stop) = self.stop.lock()
            && let Some(stop) = stop.take()
        {
            let _ = stop.send(());
        }
    }
}

/// Keeps a route registered; dropping it removes the route.
pub(crate) struct RouteGuard {
    server: Arc<Server>,
    id: u64,
}

impl RouteGuard {
    /// The address the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr
    }
}

impl Route {
    /// A source route whose flow stopped taking requests on its own (it
    /// failed, or a scheduled run ended): it answers 503 `the flow is not
    /// running` until the flow registers it again, never 404.
    fn is_stopped_source(&self) -> bool {
        matches!(&self.handler, Handler::Source(s) if matches!(*s.inlet.borrow(), Inlet::Closed))
    }
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        // a stopped source route stays (see `Route::is_stopped_source`),
        // except while the process stops: then requests hear so
        let stopping = *self.server.shared.shutdown.borrow();
        if let Ok(mut routes) = self.server.shared.routes.write() {
            routes.retain(|(id, route)| *id != self.id || (!stopping && route.is_stopped_source()));
        }
    }
}

fn servers() -> &'static Mutex<HashMap<String, Weak<Server>>> {
    static SERVERS: OnceLock<Mutex<HashMap<String, Weak<Server>>>> = OnceLock::new();
    SERVERS.get_or_init(Default::default)
}

/// The address a server for `listen` is bound to, while one runs (useful with port 0).
pub fn bound_addr(listen: &str) -> Option<SocketAddr> {
    servers()
        .lock()
        .ok()?
        .get(listen)?
        .upgrade()
        .map(|s| s.addr)
}

fn start(
    listen: &str,
    limits: ServerLimits,
    shutdown: watch::Receiver<bool>,
    started: watch::Receiver<bool>,
) -> Result<Arc<Server>, ConnectorError> {
    let config = |m: String| ConnectorError::Config(format!("endpoint {listen}: {m}"));
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| config("must be started inside the tokio runtime".into()))?;
    let std_listener =
        std::net::TcpListener::bind(listen).map_err(|e| config(format!("cannot listen: {e}")))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| config(format!("cannot listen: {e}")))?;
    let addr = std_listener
        .local_addr()
        .map_err(|e| config(format!("cannot listen: {e}")))?;
    let listener = {
        let _enter = runtime.enter();
        tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| config(format!("cannot listen: {e}")))?
    };
    let shared = Arc::new(Shared {
        routes: RwLock::new(Vec::new()),
        shutdown,
        limits,
        unverified: Semaphore::new(limits.max_unverified_bodies.max(1)),
    });
    let router = axum::Router::new()
        .fallback(handle)
        .with_state(shared.clone());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    runtime.spawn(super::listener::serve(
        listener, router, limits, started, stop_rx,
    ));
    tracing::debug!(%addr, "endpoint listening");
    Ok(Arc::new(Server {
        shared,
        addr,
        limits,
        stop: Mutex::new(Some(stop_tx)),
    }))
}

/// Adds a route to the server for `listen` (starting it if needed; it
/// answers requests once `started` flips, see [`super::listener`]).
pub(crate) fn register(
    listen: &str,
    route: Route,
    limits: ServerLimits,
    shutdown: watch::Receiver<bool>,
    started: watch::Receiver<bool>,
) -> Result<RouteGuard, ConnectorError> {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let poisoned = || ConnectorError::Permanent("endpoint registry poisoned".to_string());
    let server = {
        let mut map = servers().lock().map_err(|_| poisoned())?;
        match map.get(listen).and_then(Weak::upgrade) {
            Some(server) if server.limits != limits => {
                return Err(ConnectorError::Config(format!(
                    "endpoint {listen}: systems sharing this address must agree on \
                     header_timeout, body_timeout, max_connections and max_unverified_bodies"
                )));
            }
            Some(server) => server,
            None => {
                let server = start(listen, limits, shutdown, started)?;
                map.retain(|_, w| w.strong_count() > 0);
                map.insert(listen.to_string(), Arc::downgrade(&server));
                server
            }
        }
    };
    let mut routes = server.shared.routes.write().map_err(|_| poisoned())?;
    let shape = |p: &[Segment]| {
        p.iter()
            .map(|s| matches!(s, Segment::Literal(_)).then(|| format!("{s:?}")))
            .collect::<Vec<_>>()
    };
    // the route of a stopped flow gives way to its next run
    routes.retain(|(_, r)| {
        !(r.is_stopped_source()
            && r.method == route.method
            && shape(&r.pattern) == shape(&route.pattern))
    });
    if routes
        .iter()
        .any(|(_, r)| r.method == route.method && shape(&r.pattern) == shape(&route.pattern))
    {
        return Err(ConnectorError::Config(format!(
            "endpoint {listen}: the route {} is already served by another flow",
            route.method
        )));
    }
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    routes.push((id, Arc::new(route)));
    drop(routes);
    Ok(RouteGuard { server, id })
}

/// A JSON error answer: `{"error": message}`.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    coded_error_response(status, default_code(status), message)
}

/// `{"error": message, "code": code}` with `status`: the code is stable,
/// for callers to branch on; the message is for people.
pub(crate) fn coded_error_response(status: StatusCode, code: &str, message: &str) -> Response {
    // written out, not through a map: `error` comes first in every body
    let body = format!(
        r#"{{"error":{},"code":{}}}"#,
        serde_json::Value::from(message),
        serde_json::Value::from(code)
    );
    json_response(status, body)
}

/// The code of an error the endpoint answers itself (before the flow).
fn default_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "invalid_request",
        503 => "unavailable",
        504 => "timeout",
        _ => "internal",
    }
}

/// 503 with `Retry-After`: the client should send again shortly.
pub(crate) fn unavailable(message: &str) -> Response {
    let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

enum Found {
    Route(Arc<Route>, Vec<(String, String)>),
    WrongMethod,
    Nothing,
}

impl Shared {
    fn find(&self, method: &Method, path: &str) -> Found {
        let Ok(routes) = self.routes.read() else {
            return Found::Nothing;
        };
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut wrong_method = false;
        for (_, route) in routes.iter() {
            if route.pattern.len() != segments.len() {
                continue;
            }
            let mut params = Vec::new();
            let matched = route.pattern.iter().zip(&segments).all(|(p, s)| match p {
                Segment::Literal(l) => l == s,
                Segment::Param(name) => {
                    params.push((name.clone(), percent_decode(s, false)));
                    true
                }
            });
            if !matched {
                continue;
            }
            if route.method == *method || (*method == Method::HEAD && route.method == Method::GET) {
                return Found::Route(route.clone(), params);
            }
            wrong_method = true;
        }
        if wrong_method {
            Found::WrongMethod
        } else {
            Found::Nothing
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let (route, params) = match shared.find(&method, &path) {
        Found::Route(route, params) => (route, params),
        Found::WrongMethod => {
            return error_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        // draining after SIGTERM: the route may be gone while the listener
        // still takes requests; the client should try again (elsewhere)
        Found::Nothing if *shared.shutdown.borrow() => {
            return unavailable("the service is shutting down; try again");
        }
        Found::Nothing => return error_response(StatusCode::NOT_FOUND, "not found"),
    };
    let headers = request.headers().clone();
    let unauthorized = || {
        let mut response = error_response(StatusCode::UNAUTHORIZED, "unauthorized");
        if let Some(challenge) = route.auth.challenge() {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    };
    // Authentication on the headers first: no body of a client without
    // credentials is ever read.
    let check = route.auth.check_headers(&headers);
    if check == HeaderCheck::Denied {
        return unauthorized();
    }
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is larger than {} bytes", route.max_body),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > route.max_body as u64) {
        return too_large();
    }
    let limits = shared.limits;
    let deadline = tokio::time::Instant::now() + limits.body_timeout;
    // An hmac body is read before it is verified: a bounded number at once.
    let permit = if check == HeaderCheck::NeedsBody {
        match tokio::time::timeout_at(deadline, shared.unverified.acquire()).await {
            Ok(Ok(permit)) => Some(permit),
            _ => return unavailable("too many requests are being verified; try again"),
        }
    } else {
        None
    };
    let body = match tokio::time::timeout_at(
        deadline,
        axum::body::to_bytes(request.into_body(), route.max_body),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return too_large(),
        Err(_) => {
            return error_response(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the body did not arrive within {}s",
                    limits.body_timeout.as_secs()
                ),
            );
        }
    };
    if check == HeaderCheck::NeedsBody && !route.auth.check(&headers, &body) {
        return unauthorized();
    }
    drop(permit);
    match &route.handler {
        Handler::Source(source) => {
            super::source_request(source, &method, params, query.as_deref(), &body).await
        }
        Handler::Events(tx) => super::events::stream(tx.subscribe(), shared.shutdown.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_patterns_and_decodes() {
        assert_eq!(
            parse_pattern("/orders/{id}"),
            Ok(vec![
                Segment::Literal("orders".into()),
                Segment::Param("id".into())
            ])
        );
        assert_eq!(parse_pattern("/orders/:id"), parse_pattern("/orders/{id}"));
        assert!(parse_pattern("/orders/:").is_err());
        assert!(parse_pattern("/orders/{}").is_err());
        assert!(parse_pattern("orders").is_err());
        assert_eq!(percent_decode("a%2Fb+c%", true), "a/b c%");
        assert_eq!(percent_decode("a+b", false), "a+b");
    }
}
