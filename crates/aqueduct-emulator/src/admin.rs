//! The emulator's own API under `/_emulator/` (no token needed; the
//! emulator listens on loopback). It arms and clears faults, moves the
//! clock, expires tokens, drops CometD sessions, sets the API allocation,
//! injects gap events, mints refresh tokens and shows the outbound queue.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /_emulator` | | instance URL, token URL, org id, clients, users |
//! | `GET /_emulator/faults` | | armed rules with `id`, `fired`, `exhausted` |
//! | `POST /_emulator/faults` | a fault rule | 201 `{"id": n}` |
//! | `DELETE /_emulator/faults` | | 204, every rule cleared |
//! | `DELETE /_emulator/faults/{id}` | | 204, or 404 |
//! | `POST /_emulator/clock/advance` | `{"seconds": n}` | `{"now": "…"}` |
//! | `POST /_emulator/tokens/expire` | | `{"expired": n}` |
//! | `POST /_emulator/refresh-tokens` | `{"client_id": "…"}` (optional `username`) | `{"refresh_token": "…"}` |
//! | `POST /_emulator/cometd/drop` | | `{"dropped": n}` |
//! | `GET`/`PUT /_emulator/limits` | `{"daily_api_requests": n, "used": n}` | the limits |
//! | `POST /_emulator/events/gap` | `{"object", "change_type", "record_ids"}` | `{"replayId": n}` |
//! | `GET /_emulator/outbound` | | notifications with attempts and status |
//! | `POST /_emulator/outbound/{id}/redeliver` | | 204, or 404 |

use crate::clock::event_datetime;
use crate::events;
use crate::faults::FaultRule;
use crate::http::ApiResponse;
use crate::org::{Org, State};
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{Method, Uri};
use serde_json::{Value, json};
use std::sync::Arc;

/// `ANY /_emulator/…`
pub async fn handle(
    AxState(org): AxState<Arc<Org>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> ApiResponse {
    let path = uri.path().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).skip(1).collect();
    let response = {
        let mut st = org.lock();
        route(&mut st, method.as_str(), &segs, &body)
    };
    org.wake();
    response
}

fn bad(message: impl Into<String>) -> ApiResponse {
    ApiResponse::json(400, json!({"error": message.into()}))
}

fn body_json(body: &Bytes) -> Result<Value, ApiResponse> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))
}

fn route(st: &mut State, method: &str, segs: &[&str], body: &Bytes) -> ApiResponse {
    let parsed = match body_json(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match (method, segs) {
        ("GET", []) => info(st),
        ("GET", ["faults"]) => ApiResponse::json(200, st.faults.to_json()),
        ("POST", ["faults"]) => match serde_json::from_value::<FaultRule>(parsed) {
            Ok(rule) => ApiResponse::json(201, json!({"id": st.faults.add(rule)})),
            Err(e) => bad(format!("not a fault rule: {e}")),
        },
        ("DELETE", ["faults"]) => {
            st.faults.clear();
            ApiResponse::empty(204)
        }
        ("DELETE", ["faults", id]) => {
            match id.parse::<u64>().ok().filter(|id| st.faults.remove(*id)) {
                Some(_) => ApiResponse::empty(204),
                None => ApiResponse::json(404, json!({"error": format!("no fault rule {id}")})),
            }
        }
        ("POST", ["clock", "advance"]) => match parsed.get("seconds").and_then(Value::as_i64) {
            Some(s) if s >= 0 => {
                st.clock.advance(chrono::Duration::seconds(s));
                ApiResponse::json(200, json!({"now": event_datetime(st.clock.now())}))
            }
            _ => bad("give {\"seconds\": n} with n >= 0"),
        },
        ("POST", ["tokens", "expire"]) => {
            ApiResponse::json(200, json!({"expired": st.tokens.expire_all()}))
        }
        ("POST", ["refresh-tokens"]) => refresh_token(st, &parsed),
        ("POST", ["cometd", "drop"]) => {
            ApiResponse::json(200, json!({"dropped": st.sessions.drop_all()}))
        }
        ("GET", ["limits"]) => {
            let now = st.clock.now_ms();
            ApiResponse::json(200, st.limits.report(now))
        }
        ("PUT", ["limits"]) => {
            let now = st.clock.now_ms();
            let max = parsed.get("daily_api_requests").and_then(Value::as_u64);
            let used = parsed.get("used").and_then(Value::as_u64);
            if max.is_none() && used.is_none() {
                return bad("give daily_api_requests and/or used");
            }
            st.limits.set(now, max, used);
            ApiResponse::json(200, st.limits.report(now))
        }
        ("POST", ["events", "gap"]) => gap(st, &parsed),
        ("GET", ["outbound"]) => ApiResponse::json(200, st.outbound.to_json()),
        ("POST", ["outbound", id, "redeliver"]) => {
            if st.outbound.redeliver(id) {
                ApiResponse::empty(204)
            } else {
                ApiResponse::json(404, json!({"error": format!("no notification {id}")}))
            }
        }
        _ => ApiResponse::json(
            404,
            json!({"error": "no such emulator resource; see docs/emulator.md"}),
        ),
    }
}

fn info(st: &State) -> ApiResponse {
    let clients: Vec<Value> = st
        .clients
        .iter()
        .map(|c| json!({"client_id": c.client_id, "client_secret": c.secret, "username": c.username, "user_id": c.user_id, "jwt": c.key.is_some()}))
        .collect();
    let users: Vec<Value> = st
        .users
        .iter()
        .map(|u| json!({"id": u.id, "username": u.username}))
        .collect();
    ApiResponse::json(
        200,
        json!({
            "instance_url": st.instance_url,
            "token_url": format!("{}/services/oauth2/token", st.instance_url),
            "org_id": st.org_id,
            "api_version": format!("{:.1}", st.settings.max_version),
            "clients": clients,
            "users": users,
            "now": event_datetime(st.clock.now()),
        }),
    )
}

fn refresh_token(st: &mut State, v: &Value) -> ApiResponse {
    let client_id = v.get("client_id").and_then(Value::as_str);
    let Some(client) = st
        .clients
        .iter()
        .find(|c| Some(c.client_id.as_str()) == client_id)
        .cloned()
    else {
        return bad("client_id names no client of the seed");
    };
    let user_id = match v.get("username").and_then(Value::as_str) {
        Some(name) => match st.users.iter().find(|u| u.username == name) {
            Some(u) => u.id.clone(),
            None => return bad(format!("no user {name}")),
        },
        None => client.user_id.clone(),
    };
    let serial = st.ids.serial();
    let token = format!(
        "5Aep861{}",
        crate::ids::short_hash(&format!("refresh:{serial}"))
    );
    st.tokens.add_refresh(&token, &client.client_id, &user_id);
    ApiResponse::json(200, json!({"refresh_token": token}))
}

fn gap(st: &mut State, v: &Value) -> ApiResponse {
    let object = v.get("object").and_then(Value::as_str).unwrap_or("");
    let Some(obj) = st
        .schema
        .index(object)
        .filter(|&i| st.schema.objects[i].change_events)
    else {
        return bad(format!("`{object}` is not an object with change events"));
    };
    let change_type = v
        .get("change_type")
        .and_then(Value::as_str)
        .unwrap_or("GAP_UPDATE");
    let allowed = [
        "GAP_CREATE",
        "GAP_UPDATE",
        "GAP_DELETE",
        "GAP_UNDELETE",
        "GAP_OVERFLOW",
    ];
    if !allowed.contains(&change_type) {
        return bad(format!("change_type is one of {}", allowed.join(", ")));
    }
    let ids: Vec<String> = v
        .get("record_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    events::publish_gap(st, obj, change_type, &ids);
    ApiResponse::json(200, json!({"replayId": st.bus.latest()}))
}
