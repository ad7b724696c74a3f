//! The Streaming API over CometD (Bayeux 1.0, long polling only) at
//! `POST /cometd/{version}`: handshake, subscribe with the replay
//! extension, connect (held until events arrive or `connect_timeout_ms`
//! passes), unsubscribe, disconnect.
//!
//! Sessions: a handshake sets the `BAYEUX_BROWSER` cookie, which later
//! requests must send back (`require_cookie`). A session that sees no
//! message for `session_timeout_seconds` of emulated time, or that the
//! admin API or a `drop_session` fault drops, is gone: its next message
//! gets `403::Unknown client` with `advice.reconnect = handshake`, and its
//! subscriptions are gone with it (clients must re-subscribe from their
//! stored replay ids). A revoked or expired token gets
//! `401::Authentication invalid` (`403::Handshake denied` on handshake).

use crate::events::channel_exists;
use crate::http::fault_response;
use crate::ids;
use crate::oauth;
use crate::org::{Org, State};
use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

const COOKIE: &str = "BAYEUX_BROWSER";

/// One CometD client session.
#[derive(Debug, Clone)]
pub struct Session {
    browser: String,
    subs: BTreeMap<String, i64>,
    last_seen_ms: i64,
    holding: bool,
    connected: bool,
}

/// Sessions by client id.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    map: HashMap<String, Session>,
}

impl Sessions {
    /// Drops every session; returns how many there were.
    pub fn drop_all(&mut self) -> usize {
        let n = self.map.len();
        self.map.clear();
        n
    }
}

/// `POST /cometd/{version}`
pub async fn handle(
    AxState(org): AxState<Arc<Org>>,
    Path(version): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let messages: Vec<Value> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(a)) => a,
        Ok(v @ Value::Object(_)) => vec![v],
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "the body must be a JSON array of Bayeux messages",
            )
                .into_response();
        }
    };
    let cookie = browser_cookie(&headers);
    let (mut replies, pending, set_cookie) = {
        let mut st = org.lock();
        if let Some(kind) = st.faults.take_request("POST", uri.path()) {
            return fault_response(kind).into_response();
        }
        let max = st.settings.max_version;
        match version.parse::<f64>() {
            Ok(v) if (37.0..=max).contains(&v) => {}
            _ => {
                let error = format!(
                    "400::Unsupported API version. Only API versions '37.0' and later are supported. URI format: '/cometd/{max:.1}'"
                );
                let replies: Vec<Value> = messages.iter().map(|m| json!({"channel": m.get("channel"), "id": m.get("id"), "successful": false, "error": error})).collect();
                return (StatusCode::BAD_REQUEST, axum::Json(Value::Array(replies)))
                    .into_response();
            }
        }
        let auth = auth_error(&mut st, &headers);
        let mut ctx = Batch {
            auth,
            cookie,
            set_cookie: None,
            path: uri.path().to_string(),
        };
        let mut replies = Vec::new();
        let mut pending = None;
        for m in &messages {
            match m.get("channel").and_then(Value::as_str).unwrap_or("") {
                "/meta/connect" if pending.is_none() => match connect_check(&mut st, m, &mut ctx) {
                    Ok(p) => pending = Some(p),
                    Err(reply) => replies.push(reply),
                },
                _ => replies.push(message(&mut st, m, &mut ctx)),
            }
        }
        (replies, pending, ctx.set_cookie)
    };
    if let Some(p) = pending {
        replies.extend(long_poll(&org, p).await);
    }
    org.wake();
    let mut response = (StatusCode::OK, axum::Json(Value::Array(replies))).into_response();
    if let Some(browser) = set_cookie
        && let Ok(v) = HeaderValue::from_str(&format!("{COOKIE}={browser}; Path=/; HttpOnly"))
    {
        response.headers_mut().append("set-cookie", v);
    }
    response
}

struct Batch {
    auth: Option<&'static str>,
    cookie: Option<String>,
    set_cookie: Option<String>,
    path: String,
}

struct Pending {
    client_id: String,
    id: Value,
    first: bool,
}

fn browser_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_string())
        })
}

/// `None` when the request's token is valid (and extends it).
fn auth_error(st: &mut State, headers: &HeaderMap) -> Option<&'static str> {
    let Some(token) = oauth::bearer(headers.get("authorization").and_then(|v| v.to_str().ok()))
    else {
        return Some("401::Request requires authentication");
    };
    let (now, ttl) = (st.clock.now_ms(), st.settings.token_ttl_ms);
    match st.tokens.check(token, now, ttl) {
        Some(_) => None,
        None => Some("401::Authentication invalid"),
    }
}

fn reply(m: &Value, extra: Value) -> Value {
    let mut r = json!({"channel": m.get("channel").cloned().unwrap_or(Value::Null)});
    if let Some(id) = m.get("id").filter(|v| !v.is_null()) {
        r["id"] = id.clone();
    }
    if let Some(c) = m.get("clientId") {
        r["clientId"] = c.clone();
    }
    if let (Value::Object(r), Value::Object(extra)) = (&mut r, extra) {
        r.extend(extra);
    }
    r
}

fn unknown_client(m: &Value) -> Value {
    reply(
        m,
        json!({"successful": false, "error": "403::Unknown client", "advice": {"reconnect": "handshake", "interval": 0}}),
    )
}

/// The live session of a message, or the error reply (unknown, expired, no cookie, bad token).
fn session_of<'a>(
    st: &'a mut State,
    m: &Value,
    ctx: &Batch,
) -> Result<(String, &'a mut Session), Value> {
    let client_id = m
        .get("clientId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let now = st.clock.now_ms();
    let timeout = st.settings.streaming.session_timeout_seconds * 1000;
    let require_cookie = st.settings.streaming.require_cookie;
    let expired = st
        .sessions
        .map
        .get(&client_id)
        .is_some_and(|s| !s.holding && now - s.last_seen_ms > timeout);
    if expired {
        st.sessions.map.remove(&client_id);
    }
    let Some(session) = st.sessions.map.get_mut(&client_id) else {
        return Err(unknown_client(m));
    };
    if require_cookie && ctx.cookie.as_deref() != Some(session.browser.as_str()) {
        return Err(reply(
            m,
            json!({"successful": false, "error": format!("400::Client {client_id} has established a session, but no {COOKIE} cookie present")}),
        ));
    }
    if let Some(e) = ctx.auth {
        return Err(reply(
            m,
            json!({"successful": false, "error": e, "advice": {"reconnect": "none", "interval": 0}}),
        ));
    }
    session.last_seen_ms = now;
    Ok((client_id, session))
}

fn message(st: &mut State, m: &Value, ctx: &mut Batch) -> Value {
    let channel = m.get("channel").and_then(Value::as_str).unwrap_or("");
    match channel {
        "/meta/handshake" => handshake(st, m, ctx),
        "/meta/subscribe" => subscribe(st, m, ctx),
        "/meta/unsubscribe" => {
            let sub = m
                .get("subscription")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            match session_of(st, m, ctx) {
                Err(r) => r,
                Ok((_, s)) => {
                    s.subs.remove(&sub);
                    reply(m, json!({"successful": true, "subscription": sub}))
                }
            }
        }
        "/meta/disconnect" => match session_of(st, m, ctx) {
            Err(r) => r,
            Ok((id, _)) => {
                st.sessions.map.remove(&id);
                reply(m, json!({"successful": true}))
            }
        },
        "/meta/connect" => reply(
            m,
            json!({"successful": false, "error": "400::Only one /meta/connect per request"}),
        ),
        _ => reply(
            m,
            json!({"successful": false, "error": "403::Publishing through CometD is not supported; publish platform events through REST"}),
        ),
    }
}

fn handshake(st: &mut State, m: &Value, ctx: &mut Batch) -> Value {
    if let Some(e) = ctx.auth {
        return reply(
            m,
            json!({"successful": false, "error": "403::Handshake denied", "ext": {"sfdc": {"failureReason": e}}, "advice": {"reconnect": "none"}}),
        );
    }
    let types_ok = m
        .get("supportedConnectionTypes")
        .and_then(Value::as_array)
        .is_none_or(|t| t.iter().any(|x| x == "long-polling"));
    if !types_ok {
        return reply(
            m,
            json!({"successful": false, "error": "400::Invalid connection type; only long-polling is supported"}),
        );
    }
    let serial = st.ids.serial();
    let client_id: String = ids::short_hash(&format!("client:{serial}"))
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(26)
        .collect();
    let browser = ctx.cookie.clone().unwrap_or_else(|| {
        ids::short_hash(&format!("browser:{serial}"))
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect()
    });
    if ctx.cookie.is_none() {
        ctx.set_cookie = Some(browser.clone());
        ctx.cookie = Some(browser.clone());
    }
    let now = st.clock.now_ms();
    st.sessions.map.insert(
        client_id.clone(),
        Session {
            browser,
            subs: BTreeMap::new(),
            last_seen_ms: now,
            holding: false,
            connected: false,
        },
    );
    let timeout = st.settings.streaming.connect_timeout_ms;
    reply(
        m,
        json!({
            "successful": true,
            "clientId": client_id,
            "version": "1.0",
            "minimumVersion": "1.0",
            "supportedConnectionTypes": ["long-polling"],
            "advice": {"interval": 0, "timeout": timeout, "reconnect": "retry"},
            "ext": {"replay": true, "payload.format": true},
        }),
    )
}

fn subscribe(st: &mut State, m: &Value, ctx: &mut Batch) -> Value {
    let sub = m
        .get("subscription")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let with_sub = |extra: Value| {
        let mut r = reply(m, extra);
        r["subscription"] = json!(sub);
        r
    };
    let schema = st.schema.clone();
    let now = st.clock.now_ms();
    if let Err(r) = session_of(st, m, ctx) {
        return r;
    }
    if sub.is_empty() {
        return with_sub(json!({"successful": false, "error": "400::Channel name not specified"}));
    }
    if !sub.starts_with('/') {
        return with_sub(
            json!({"successful": false, "error": "400::Channel subscriptions must start with a leading '/'"}),
        );
    }
    if !channel_exists(&schema, &sub) {
        return with_sub(
            json!({"successful": false, "error": format!("400::The channel you requested to subscribe to doesn't exist {sub}")}),
        );
    }
    let replay = m
        .get("ext")
        .and_then(|e| e.get("replay"))
        .and_then(|r| r.get(&sub))
        .map(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(Some(-1));
    let start = replay.and_then(|r| st.bus.start(&sub, r, now));
    let Some(cursor) = start else {
        let shown = m
            .get("ext")
            .and_then(|e| e.get("replay"))
            .and_then(|r| r.get(&sub))
            .map(|v| v.to_string().trim_matches('"').to_string())
            .unwrap_or_default();
        return with_sub(
            json!({"successful": false, "error": format!("400::The replayId {shown} you provided was invalid. Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.")}),
        );
    };
    let client_id = m
        .get("clientId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(s) = st.sessions.map.get_mut(&client_id) {
        s.subs.insert(sub.clone(), cursor);
    }
    with_sub(json!({"successful": true}))
}

fn connect_check(st: &mut State, m: &Value, ctx: &mut Batch) -> Result<Pending, Value> {
    if let Some(t) = m.get("connectionType").and_then(Value::as_str)
        && t != "long-polling"
    {
        return Err(reply(
            m,
            json!({"successful": false, "error": format!("400::Invalid connection type {t}")}),
        ));
    }
    let drop = st.faults.take_drop(&ctx.path);
    let (client_id, session) = session_of(st, m, ctx)?;
    if drop {
        st.sessions.map.remove(&client_id);
        return Err(unknown_client(m));
    }
    let first = !session.connected;
    session.connected = true;
    session.holding = true;
    Ok(Pending {
        client_id,
        id: m.get("id").cloned().unwrap_or(Value::Null),
        first,
    })
}

/// Events due to a session (cursors advanced), in replay order.
fn take_events(st: &mut State, client_id: &str) -> Vec<Value> {
    let max = st.settings.streaming.max_events_per_connect.max(1);
    let now = st.clock.now_ms();
    st.bus.prune(now);
    let Some(session) = st.sessions.map.get(client_id) else {
        return Vec::new();
    };
    let mut due: Vec<(i64, String, Value)> = Vec::new();
    for (sub, cursor) in &session.subs {
        for e in st.bus.after(sub, *cursor) {
            due.push((e.replay_id, sub.clone(), e.data.clone()));
        }
    }
    due.sort_by_key(|(r, _, _)| *r);
    due.truncate(max);
    if let Some(session) = st.sessions.map.get_mut(client_id) {
        for (replay, sub, _) in &due {
            if let Some(c) = session.subs.get_mut(sub) {
                *c = (*c).max(*replay);
            }
        }
    }
    due.into_iter()
        .map(|(_, channel, data)| json!({"channel": channel, "data": data}))
        .collect()
}

async fn long_poll(org: &Arc<Org>, p: Pending) -> Vec<Value> {
    let hold = Duration::from_millis(org.lock().settings.streaming.connect_timeout_ms);
    let deadline = Instant::now() + hold;
    let base = json!({"channel": "/meta/connect", "clientId": p.client_id, "id": p.id});
    loop {
        let notified = org.events.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut st = org.lock();
            if !st.sessions.map.contains_key(&p.client_id) {
                return vec![unknown_client(&base)];
            }
            let events = take_events(&mut st, &p.client_id);
            if !events.is_empty() || p.first || Instant::now() >= deadline {
                let now = st.clock.now_ms();
                let timeout = st.settings.streaming.connect_timeout_ms;
                if let Some(s) = st.sessions.map.get_mut(&p.client_id) {
                    s.holding = false;
                    s.last_seen_ms = now;
                }
                let mut out = events;
                out.push(reply(&base, json!({"successful": true, "advice": {"interval": 0, "timeout": timeout, "reconnect": "retry"}})));
                return out;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, notified).await;
    }
}
