//! Outbound authentication: `bearer`, `basic`, `api_key` and
//! `oauth2_client_credentials`.
//!
//! An OAuth 2.0 token is fetched from `token_url` (form body with
//! `grant_type=client_credentials`, `client_id`, `client_secret`, and
//! `scope` when set), cached, and fetched again shortly before it expires
//! (`expires_in`, default one hour) or when the API answers 401. Header
//! values are marked sensitive; no credential appears in an error.

use super::client::transport_error;
use crate::support::args::Options;
use aqueduct_runtime::connector::ConnectorError;
use aqueduct_runtime::secrets::{excerpt, remember_derived};
use reqwest::RequestBuilder;
use reqwest::header::{HeaderName, HeaderValue};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How requests authenticate.
pub(crate) enum Auth {
    None,
    Bearer(HeaderValue),
    Basic { username: String, password: String },
    ApiKey(HeaderName, HeaderValue),
    OAuth2(Box<OAuth2>),
}

/// The client-credentials flow and its cached token.
pub(crate) struct OAuth2 {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
    token: Mutex<Option<(String, Instant)>>,
}

fn config(message: &str) -> ConnectorError {
    ConnectorError::Config(format!("http auth: {message}"))
}

fn sensitive(value: &str) -> Result<HeaderValue, ConnectorError> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| config("the credential is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

impl Auth {
    /// The auth of an `auth = KIND { … }` block.
    pub(crate) fn build(
        block: Option<Options>,
        http: reqwest::Client,
    ) -> Result<Auth, ConnectorError> {
        let Some(block) = block else {
            return Ok(Auth::None);
        };
        Ok(match block.kind.as_deref() {
            Some("bearer") => {
                Auth::Bearer(sensitive(&format!("Bearer {}", block.required("token")?))?)
            }
            Some("basic") => {
                let username = block.required("username")?;
                let password = block.required("password")?;
                // the header value is a secret too: a server may echo it
                remember_derived(&base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("{username}:{password}"),
                ));
                Auth::Basic { username, password }
            }
            Some("api_key") => {
                let header = block.required("header")?;
                let name = HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| config("`header` is not a header name"))?;
                Auth::ApiKey(name, sensitive(&block.required("value")?)?)
            }
            Some("oauth2_client_credentials") => Auth::OAuth2(Box::new(OAuth2 {
                http,
                token_url: block.required("token_url")?,
                client_id: block.required("client_id")?,
                client_secret: block.required("client_secret")?,
                scope: block.string("scope")?,
                token: Mutex::new(None),
            })),
            Some(other) => return Err(config(&format!("unknown auth `{other}`"))),
            None => {
                return Err(config(
                    "write the kind of auth, e.g. `auth = bearer { token = … }`",
                ));
            }
        })
    }

    /// Adds the credentials to a request.
    pub(crate) async fn apply(
        &self,
        request: RequestBuilder,
    ) -> Result<RequestBuilder, ConnectorError> {
        Ok(match self {
            Auth::None => request,
            Auth::Bearer(value) => request.header(reqwest::header::AUTHORIZATION, value.clone()),
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
            Auth::ApiKey(name, value) => request.header(name.clone(), value.clone()),
            Auth::OAuth2(oauth) => {
                let token = oauth.token().await?;
                request.header(
                    reqwest::header::AUTHORIZATION,
                    sensitive(&format!("Bearer {token}"))?,
                )
            }
        })
    }

    /// Forgets a cached token after a 401; true when a retry may help.
    pub(crate) async fn invalidate(&self) -> bool {
        match self {
            Auth::OAuth2(oauth) => {
                *oauth.token.lock().await = None;
                true
            }
            _ => false,
        }
    }
}

impl OAuth2 {
    /// The cached token, or a new one.
    async fn token(&self) -> Result<String, ConnectorError> {
        let mut cached = self.token.lock().await;
        if let Some((token, refresh_at)) = cached.as_ref()
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.as_str()),
        ];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope.as_str()));
        }
        let response = self
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| transport_error("token request", e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error("token request", e))?;
        if !status.is_success() {
            // redacted before the cut: the endpoint may echo the form body
            let excerpt = excerpt(
                &String::from_utf8_lossy(&body).replace(['\n', '\r'], " "),
                200,
            );
            let message = format!("token request failed: HTTP {}: {excerpt}", status.as_u16());
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                ConnectorError::Transient(message)
            } else {
                ConnectorError::Permanent(message)
            });
        }
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| ConnectorError::Permanent(format!("token response is not JSON: {e}")))?;
        let token = json
            .get("access_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| {
                ConnectorError::Permanent("token response has no access_token".to_string())
            })?
            .to_string();
        let lifetime = Duration::from_secs(
            json.get("expires_in")
                .and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .unwrap_or(3600),
        );
        // Refresh a little early: 30 s before expiry, or halfway for short-lived tokens.
        let margin = (lifetime / 2).min(Duration::from_secs(30));
        *cached = Some((token.clone(), Instant::now() + lifetime - margin));
        Ok(token)
    }
}
