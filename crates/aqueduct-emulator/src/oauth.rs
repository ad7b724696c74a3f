//! The OAuth 2.0 token endpoint (`POST /services/oauth2/token`), token
//! revocation (`POST /services/oauth2/revoke`) and the tokens they issue.
//!
//! Grants: `client_credentials`, JWT bearer (`urn:ietf:params:oauth:grant-
//! type:jwt-bearer`, RS256 verified against the app's certificate),
//! `refresh_token`, and `password` when the seed allows it (off by default,
//! as in orgs created since Summer '23). Client id and secret are read from
//! the form or from `Authorization: Basic`. Errors are Salesforce's flat
//! `{"error", "error_description"}` with HTTP 400.
//!
//! An access token stays valid while it is used: each use pushes its expiry
//! to now + `token_ttl_seconds` (Salesforce's session timeout is an
//! inactivity timeout). Tokens can be revoked, expired by the admin API, or
//! expired by the `session_expired` fault.

use crate::ids::short_hash;
use crate::jwt;
use crate::org::{Client, State};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;

/// The JWT bearer grant type.
pub const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An issued access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The user it acts as.
    pub user_id: String,
    /// Emulated epoch ms after which it is invalid (unless used before).
    pub expires_ms: i64,
    /// The refresh token it came from.
    pub refresh: Option<String>,
}

#[derive(Debug, Clone)]
struct RefreshToken {
    client_id: String,
    user_id: String,
}

/// Every live token.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
}

impl Tokens {
    /// Registers a refresh token (seed, admin API).
    pub fn add_refresh(&mut self, token: &str, client_id: &str, user_id: &str) {
        self.refresh.insert(
            token.to_string(),
            RefreshToken {
                client_id: client_id.to_string(),
                user_id: user_id.to_string(),
            },
        );
    }

    /// The token's grant when it is valid now; a valid use extends it.
    pub fn check(&mut self, token: &str, now_ms: i64, ttl_ms: i64) -> Option<AccessToken> {
        let t = self.access.get_mut(token)?;
        if now_ms >= t.expires_ms {
            self.access.remove(token);
            return None;
        }
        t.expires_ms = now_ms + ttl_ms;
        Some(t.clone())
    }

    /// Expires one access token now.
    pub fn expire(&mut self, token: &str) {
        self.access.remove(token);
    }

    /// Expires every access token; returns how many there were.
    pub fn expire_all(&mut self) -> usize {
        let n = self.access.len();
        self.access.clear();
        n
    }

    /// Revokes an access or refresh token (and the access tokens a refresh
    /// token issued); false when unknown.
    pub fn revoke(&mut self, token: &str) -> bool {
        if self.access.remove(token).is_some() {
            return true;
        }
        if self.refresh.remove(token).is_some() {
            self.access
                .retain(|_, t| t.refresh.as_deref() != Some(token));
            return true;
        }
        false
    }
}

/// An OAuth error answer.
fn error(code: &str, description: &str) -> (u16, Value) {
    (
        400,
        json!({"error": code, "error_description": description}),
    )
}

/// Handles a token request: form fields, and `Authorization: Basic` credentials if sent.
pub fn token(
    st: &mut State,
    form: &HashMap<String, String>,
    basic: Option<(String, String)>,
) -> (u16, Value) {
    let field = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let (client_id, secret) = match &basic {
        Some((id, secret)) => (Some(id.as_str()), Some(secret.as_str())),
        None => (field("client_id"), field("client_secret")),
    };
    let Some(grant) = field("grant_type") else {
        return error("invalid_request", "grant type not supported");
    };
    match grant {
        "client_credentials" => {
            let client = match authenticate(st, client_id, secret) {
                Ok(c) => c,
                Err(e) => return e,
            };
            issue(st, &client, &client.user_id, None)
        }
        "password" => {
            if !st.settings.allow_password_flow {
                return error("invalid_grant", "authentication failure");
            }
            let client = match authenticate(st, client_id, secret) {
                Ok(c) => c,
                Err(e) => return e,
            };
            let user = st.users.iter().find(|u| {
                Some(u.username.as_str()) == field("username")
                    && u.password.is_some()
                    && u.password.as_deref() == field("password")
            });
            match user.map(|u| u.id.clone()) {
                Some(user_id) => issue(st, &client, &user_id, None),
                None => error("invalid_grant", "authentication failure"),
            }
        }
        "refresh_token" => {
            let Some(rt) = field("refresh_token") else {
                return error("invalid_grant", "expired access/refresh token");
            };
            let Some(grant) = st.tokens.refresh.get(rt).cloned() else {
                return error("invalid_grant", "expired access/refresh token");
            };
            let Some(client) = st
                .clients
                .iter()
                .find(|c| Some(c.client_id.as_str()) == client_id)
                .cloned()
            else {
                return error("invalid_client_id", "client identifier invalid");
            };
            if client.client_id != grant.client_id {
                return error("invalid_grant", "expired access/refresh token");
            }
            if secret.is_some() && secret != client.secret.as_deref() {
                return error("invalid_client", "invalid client credentials");
            }
            issue(st, &client, &grant.user_id, Some(rt.to_string()))
        }
        JWT_GRANT => jwt_bearer(st, field("assertion")),
        _ => error("unsupported_grant_type", "grant type not supported"),
    }
}

fn authenticate(
    st: &State,
    client_id: Option<&str>,
    secret: Option<&str>,
) -> Result<Client, (u16, Value)> {
    let Some(client) = st
        .clients
        .iter()
        .find(|c| Some(c.client_id.as_str()) == client_id)
    else {
        return Err(error("invalid_client_id", "client identifier invalid"));
    };
    if client.secret.is_none() || secret != client.secret.as_deref() {
        return Err(error("invalid_client", "invalid client credentials"));
    }
    Ok(client.clone())
}

fn jwt_bearer(st: &mut State, assertion: Option<&str>) -> (u16, Value) {
    let Some(a) = assertion.and_then(jwt::decode) else {
        return error("invalid_grant", "invalid assertion");
    };
    if a.header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return error("invalid_grant", "invalid assertion");
    }
    let iss = a.claims.get("iss").and_then(Value::as_str);
    let Some(client) = st
        .clients
        .iter()
        .find(|c| Some(c.client_id.as_str()) == iss)
        .cloned()
    else {
        return error("invalid_client_id", "client identifier invalid");
    };
    let verified = client
        .key
        .as_ref()
        .is_some_and(|k| k.verify(&a.signed, &a.signature));
    if !verified {
        return error("invalid_grant", "invalid assertion");
    }
    let audiences = audiences(st);
    let aud_ok = match a.claims.get("aud") {
        Some(Value::String(s)) => audiences.iter().any(|x| x == s.trim_end_matches('/')),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|s| audiences.iter().any(|x| x == s.trim_end_matches('/'))),
        _ => false,
    };
    if !aud_ok {
        return error("invalid_grant", "audience is invalid");
    }
    let Some(exp) = a.claims.get("exp").and_then(Value::as_i64) else {
        return error("invalid_grant", "invalid assertion");
    };
    // About three minutes of clock skew are tolerated.
    if exp + 180 < st.clock.now_ms() / 1000 {
        return error("invalid_grant", "expired authorization code");
    }
    let sub = a
        .claims
        .get("sub")
        .or_else(|| a.claims.get("prn"))
        .and_then(Value::as_str);
    let Some(user_id) = st
        .users
        .iter()
        .find(|u| Some(u.username.as_str()) == sub)
        .map(|u| u.id.clone())
    else {
        return error("invalid_grant", "user hasn't approved this consumer");
    };
    issue(st, &client, &user_id, None)
}

/// JWT audiences accepted: the login hosts, the instance URL, and the seed's extras.
pub fn audiences(st: &State) -> Vec<String> {
    let mut list = vec![
        "https://login.salesforce.com".to_string(),
        "https://test.salesforce.com".to_string(),
        st.instance_url.trim_end_matches('/').to_string(),
    ];
    list.extend(
        st.settings
            .audiences
            .iter()
            .map(|a| a.trim_end_matches('/').to_string()),
    );
    list
}

/// Mints an access token for `user_id` (also used for outbound `SessionId`).
pub fn mint(st: &mut State, user_id: &str, refresh: Option<String>) -> String {
    let serial = st.ids.serial();
    let token = format!(
        "{}!AQ{}{}",
        st.org_id15(),
        short_hash(&format!("access:{}:{serial}", st.org_id)),
        short_hash(&format!("token:{serial}"))
    );
    let expires_ms = st.clock.now_ms() + st.settings.token_ttl_ms;
    st.tokens.access.insert(
        token.clone(),
        AccessToken {
            user_id: user_id.to_string(),
            expires_ms,
            refresh,
        },
    );
    token
}

fn issue(st: &mut State, client: &Client, user_id: &str, refresh: Option<String>) -> (u16, Value) {
    let token = mint(st, user_id, refresh);
    let issued_at = st.clock.now_ms().to_string();
    let id = format!("{}/id/{}/{user_id}", st.instance_url, st.org_id);
    let signature = sign(
        client.secret.as_deref().unwrap_or(""),
        &format!("{id}{issued_at}"),
    );
    (
        200,
        json!({
            "access_token": token,
            "instance_url": st.instance_url,
            "id": id,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
            "scope": "api",
        }),
    )
}

/// Base64 HMAC-SHA256 of `text` keyed with the consumer secret.
pub fn sign(secret: &str, text: &str) -> String {
    match <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(text.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Handles a revocation request (`token=…`).
pub fn revoke(st: &mut State, form: &HashMap<String, String>) -> (u16, Value) {
    match form.get("token") {
        Some(t) if st.tokens.revoke(t) => (200, Value::Null),
        _ => error("unsupported_token_type", "this token type is not supported"),
    }
}

/// Parses `Authorization: Basic base64(id:secret)`.
pub fn basic_credentials(header: Option<&str>) -> Option<(String, String)> {
    let b64 = header?.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// The token of `Authorization: Bearer …` (or `OAuth …`).
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let h = header?;
    h.strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("OAuth "))
        .map(str::trim)
}
