//! `endpoint`: an inbound HTTP/1.1 server (options `listen`, `auth`,
//! `max_body` (default 1 MiB), and the server-wide limits `header_timeout`
//! (10s), `body_timeout` (30s), `max_connections` (512) and
//! `max_unverified_bodies` (16), see [`listener`]); routes of every flow
//! using the same `listen` address share one server ([`server`]).
//!
//! Sources `post/put/get(path)`: a request becomes a record: the JSON body
//! (an object) for POST and PUT, the query-string parameters for GET, plus
//! the path segments written `:name` or `{name}` (converted to the field's
//! type). A body that
//! is not JSON gets 400 (`{"error": "malformed JSON: … at line 1 column
//! 12"}`), a record that does not fit the type 422 naming the field, a body
//! over `max_body` 413, a failed auth check 401.
//!
//! In a `sync` flow the request waits for the flow's reply (200 with its
//! JSON, or the status and `{"error": …}` of a `ReplyMsg::Err`), at most
//! [`SYNC_WAIT`]. In an `async` flow the answer `202 {"accepted": true}` is
//! sent only after the record is acknowledged, that is once every target
//! accepted it (or the dead letter took it); if that takes more than
//! [`ASYNC_WAIT`] the caller gets 504, and if the record could not be
//! delivered 503, so it should send again (at-least-once). Nothing is
//! spooled locally: an accepted request is already delivered.
//!
//! The port is bound while the project is built (a taken port is a start-up
//! error), but requests are answered only once every flow was built and
//! spawned ([`OpContext::started`]): a client that comes earlier waits, and
//! a request whose flow is still starting waits for it (at most
//! [`START_WAIT`]), instead of getting 404 for a route not yet in place or
//! 503.
//!
//! Target `events(path)`: server-sent events ([`events`]).

mod auth;
mod events;
mod listener;
mod server;

pub use auth::hmac_sha256_hex;
pub use server::bound_addr;

use crate::support::args::{Options, req_str};
use crate::support::stopped;
use aqueduct_graph::ModeKind;
use aqueduct_runtime::connector::{
    Ack, ConnectorError, ConnectorFactory, Envelope, OpContext, ReplyMsg, Source, Target,
};
use aqueduct_runtime::value::Value;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use futures::future::BoxFuture;
use listener::ServerLimits;
use server::{
    Handler, Inlet, Route, RouteGuard, SourceRoute, error_response, json_response, unavailable,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Longest wait for a sync flow's reply (the flow's own `timeout` is usually shorter).
pub const SYNC_WAIT: Duration = Duration::from_secs(300);

/// Longest wait of a request for its flow to start taking requests (it
/// was built, and is being spawned) before answering 503.
pub const START_WAIT: Duration = Duration::from_secs(10);

/// Longest wait for an async record's acknowledgement before answering 504.
pub const ASYNC_WAIT: Duration = Duration::from_secs(30);

/// Default `max_body`.
pub const DEFAULT_MAX_BODY: u64 = 1 << 20;

/// The `endpoint` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct EndpointConnector;

/// The options every route of a system shares.
struct Common {
    listen: String,
    auth: auth::InboundAuth,
    max_body: usize,
    pattern: Vec<server::Segment>,
    limits: ServerLimits,
}

fn common(cx: &OpContext) -> Result<Common, ConnectorError> {
    let options = Options::of(cx);
    let path = req_str(cx, "path")?;
    let pattern = server::parse_pattern(&path).map_err(|e| {
        ConnectorError::Config(format!("`{}.{}`: {e}", cx.op.system, cx.op.operation))
    })?;
    let max_body = options.size("max_body")?.unwrap_or(DEFAULT_MAX_BODY);
    let defaults = ServerLimits::default();
    let count = |name: &str, default: usize| -> Result<usize, ConnectorError> {
        match options.string(name)? {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    ConnectorError::Config(format!(
                        "endpoint: `{name}` must be a whole number above 0, not `{text}`"
                    ))
                }),
        }
    };
    let limits = ServerLimits {
        header_timeout: options
            .duration("header_timeout")?
            .unwrap_or(defaults.header_timeout),
        body_timeout: options
            .duration("body_timeout")?
            .unwrap_or(defaults.body_timeout),
        max_connections: count("max_connections", defaults.max_connections)?,
        max_unverified_bodies: count("max_unverified_bodies", defaults.max_unverified_bodies)?,
    };
    Ok(Common {
        limits,
        listen: options.required("listen")?,
        auth: auth::InboundAuth::build(options.block("auth")?)?,
        max_body: usize::try_from(max_body).unwrap_or(usize::MAX),
        pattern,
    })
}

impl ConnectorFactory for EndpointConnector {
    fn kind(&self) -> &'static str {
        "endpoint"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        let method = match cx.op.operation.as_str() {
            "post" => Method::POST,
            "put" => Method::PUT,
            "get" => Method::GET,
            other => {
                return Err(ConnectorError::Config(format!(
                    "`endpoint.{other}` cannot be used as a source"
                )));
            }
        };
        let c = common(cx)?;
        let path = req_str(cx, "path")?;
        let listen = c.listen.clone();
        let method_name = method.to_string();
        let route = Arc::new(SourceRoute {
            inlet: watch::channel(Inlet::Starting).0,
            sync: cx.mode == ModeKind::Sync,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
        });
        let guard = server::register(
            &c.listen,
            Route {
                method,
                pattern: c.pattern,
                handler: Handler::Source(route.clone()),
                auth: c.auth,
                max_body: c.max_body,
            },
            c.limits,
            cx.shutdown.clone(),
            cx.started.clone(),
        )?;
        // the address really bound (`listen` may say port 0)
        let addr = server::bound_addr(&listen).map_or(listen, |a| a.to_string());
        Ok(Box::new(EndpointSource {
            route,
            guard,
            shutdown: cx.shutdown.clone(),
            flow: cx.flow.clone(),
            method: method_name,
            url: format!("http://{addr}{path}"),
        }))
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        if cx.op.operation != "events" {
            return Err(ConnectorError::Config(format!(
                "`endpoint.{}` cannot be used as a target",
                cx.op.operation
            )));
        }
        let c = common(cx)?;
        Ok(Arc::new(events::EventsTarget::build(
            &c.listen,
            c.pattern,
            c.auth,
            c.max_body,
            c.limits,
            cx.shutdown.clone(),
            cx.started.clone(),
        )?))
    }
}

/// Requests on one route, while it runs.
struct EndpointSource {
    route: Arc<SourceRoute>,
    guard: RouteGuard,
    shutdown: watch::Receiver<bool>,
    /// For the log line saying where the flow listens, once it runs.
    flow: String,
    method: String,
    url: String,
}

impl Source for EndpointSource {
    fn run(
        mut self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            self.route.inlet.send_replace(Inlet::Open(out.clone()));
            tracing::debug!(addr = %self.guard.addr(), "endpoint route open");
            tracing::info!(
                flow = %self.flow,
                method = %self.method,
                url = %self.url,
                "Endpoint listening."
            );
            let why = tokio::select! {
                _ = stopped(&mut self.shutdown) => "the run is stopping",
                _ = out.closed() => "the flow stopped taking requests",
            };
            self.route.inlet.send_replace(Inlet::Closed);
            tracing::debug!(addr = %self.guard.addr(), url = %self.url, why, "endpoint route closed");
            Ok(())
        })
    }
}

/// Builds the record of a request: 400 for malformed JSON, 422 when it does not fit.
fn request_record(
    route: &SourceRoute,
    method: &Method,
    params: Vec<(String, String)>,
    query: Option<&str>,
    body: &[u8],
) -> Result<Value, (StatusCode, String)> {
    let mut object = serde_json::Map::new();
    let mut params = params;
    if *method == Method::GET {
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(
                0,
                (
                    server::percent_decode(k, true),
                    server::percent_decode(v, true),
                ),
            );
        }
    } else if !body.iter().all(u8::is_ascii_whitespace) {
        // no path fields: the body is the record, decoded straight into its
        // type (decimals exact); the slow path below words the errors
        if params.is_empty()
            && let Ok(text) = std::str::from_utf8(body)
            && let Some(value) =
                aqueduct_runtime::value::json::from_json_str(text, &route.ty, &route.schemas)
        {
            return Ok(value);
        }
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => object = map,
            Ok(other) if params.is_empty() => {
                return Value::from_json(&other, &route.ty, &route.schemas)
                    .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e));
            }
            Ok(_) => {
                return Err((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "the body must be a JSON object".to_string(),
                ));
            }
            Err(e) => return Err((StatusCode::BAD_REQUEST, format!("malformed JSON: {e}"))),
        }
    }
    let layout = crate::formats::layout(&route.ty, &route.schemas);
    for (name, text) in params {
        let field = layout
            .as_ref()
            .and_then(|l| l.fields.iter().find(|f| f.name == name));
        let value = match field {
            Some(f) if f.ty.required() != &aqueduct_graph::Type::String => {
                crate::formats::parse_cell(&text, f, &route.schemas)
                    .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e))?
                    .to_json()
            }
            _ => serde_json::Value::String(text),
        };
        object.insert(name, value);
    }
    Value::from_json(
        &serde_json::Value::Object(object),
        &route.ty,
        &route.schemas,
    )
    .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e))
}

/// The answer to `reply STATUS VALUE`: the value as JSON with that status;
/// a 201 whose record has a string field `location` also sends it as the
/// `Location` header (REST: where the created resource lives).
fn status_response(status: u16, value: &Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = json_response(code, value.to_json_string());
    if status == 201
        && let Some(location) = value.field("location").as_str()
        && let Ok(header) = axum::http::HeaderValue::from_str(location)
    {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, header);
    }
    response
}

/// A sync request the endpoint cannot turn into a record (a bad path
/// parameter, a missing field): the flow is told, as a record that could
/// not be decoded, so its summary and metrics count the request as received
/// and failed; the caller gets the endpoint's own status and message.
async fn rejected_sync(
    sender: &tokio::sync::mpsc::Sender<Envelope>,
    status: StatusCode,
    message: &str,
    body: &[u8],
) -> Response {
    let (reply_tx, reply_rx) = oneshot::channel();
    let raw = String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned();
    let envelope = Envelope {
        record: Err(aqueduct_runtime::connector::DecodeError::text(raw, message)),
        ack: Ack::none(),
        reply: Some(reply_tx),
    };
    // the answer does not wait for a busy flow: counting is best-effort
    if sender.try_send(envelope).is_ok() {
        let _ = tokio::time::timeout(SYNC_WAIT, reply_rx).await;
    }
    error_response(status, message)
}

/// The channel of the route's flow; a request that comes while the flow is
/// still starting waits for it, at most [`START_WAIT`]. `None`: the flow
/// does not take requests (it stopped, or did not start in time).
async fn inlet(route: &SourceRoute) -> Option<mpsc::Sender<Envelope>> {
    let mut inlet = route.inlet.subscribe();
    let ready = tokio::time::timeout(
        START_WAIT,
        inlet.wait_for(|i| !matches!(i, Inlet::Starting)),
    )
    .await;
    match ready {
        Ok(Ok(state)) => match &*state {
            Inlet::Open(sender) => Some(sender.clone()),
            Inlet::Starting | Inlet::Closed => None,
        },
        _ => None,
    }
}

/// Hands a request to the flow and answers it.
async fn source_request(
    route: &SourceRoute,
    method: &Method,
    params: Vec<(String, String)>,
    query: Option<&str>,
    body: &[u8],
) -> Response {
    let Some(sender) = inlet(route).await else {
        return unavailable("the flow is not running");
    };
    let record = match request_record(route, method, params, query, body) {
        Ok(record) => record,
        Err((status, message)) if route.sync => {
            return rejected_sync(&sender, status, &message, body).await;
        }
        Err((status, message)) => return error_response(status, &message),
    };
    let (ack, ack_rx) = Ack::new();
    let (reply_tx, reply_rx) = oneshot::channel();
    let reply = route.sync.then_some(reply_tx);
    let wait = if route.sync { SYNC_WAIT } else { ASYNC_WAIT };
    let deadline = tokio::time::Instant::now() + wait;
    match tokio::time::timeout_at(
        deadline,
        sender.send(Envelope {
            record: Ok(record),
            ack,
            reply,
        }),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            tracing::debug!("a request found its flow's input closed");
            return unavailable("the flow is not running");
        }
        Err(_) => {
            return unavailable("the flow is busy; try again");
        }
    }
    if route.sync {
        match tokio::time::timeout_at(deadline, reply_rx).await {
            Ok(Ok(ReplyMsg::Ok(value))) => json_response(StatusCode::OK, value.to_json_string()),
            Ok(Ok(ReplyMsg::Status { status, value })) => status_response(status, &value),
            Ok(Ok(ReplyMsg::Err {
                status,
                code,
                message,
                ..
            })) => server::coded_error_response(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                code,
                &message,
            ),
            Ok(Err(_)) => error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the flow ended without a reply",
            ),
            Err(_) => error_response(
                StatusCode::GATEWAY_TIMEOUT,
                "timed out waiting for the reply",
            ),
        }
    } else {
        match tokio::time::timeout_at(deadline, ack_rx).await {
            Ok(Ok(())) => json_response(StatusCode::ACCEPTED, r#"{"accepted":true}"#.to_string()),
            Ok(Err(_)) => unavailable("the record could not be delivered; try again"),
            Err(_) => error_response(
                StatusCode::GATEWAY_TIMEOUT,
                "timed out waiting for the record to be accepted",
            ),
        }
    }
}
