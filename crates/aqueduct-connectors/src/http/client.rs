//! The shared request machinery: URL building, headers, auth, sending with
//! one re-authentication on 401, and status classification.

use super::auth::Auth;
use crate::support::args::{Options, label};
use crate::support::truncate;
use aqueduct_runtime::connector::{ConnectorError, OpContext};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// Default time limit of one request.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A configured client for one `http` system.
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    headers: HeaderMap,
    auth: Auth,
}

/// A response: status, `Retry-After`, body.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: bytes::Bytes,
}

/// Parses a `Retry-After` value: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// A request failure (no response) as a connector error, without the URL.
pub(crate) fn transport_error(what: &str, err: reqwest::Error) -> ConnectorError {
    let permanent = err.is_builder();
    let message = format!("{what}: {}", err.without_url());
    if permanent {
        ConnectorError::Permanent(message)
    } else {
        ConnectorError::Transient(message)
    }
}

impl Client {
    /// The client of the context's system.
    pub(crate) fn build(cx: &OpContext) -> Result<Arc<Client>, ConnectorError> {
        crate::install_crypto();
        let options = Options::of(cx);
        let base = options
            .required("base_url")?
            .trim_end_matches('/')
            .to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ConnectorError::Config(format!(
                "`{}`: base_url must start with http:// or https://",
                label(cx)
            )));
        }
        let timeout = options.duration("timeout")?.unwrap_or(DEFAULT_TIMEOUT);
        let mut headers = HeaderMap::new();
        if let Some(block) = options.block("headers")? {
            for name in block.names() {
                let value = block.required(&name)?;
                let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    ConnectorError::Config(format!(
                        "`{}`: `{name}` is not a header name",
                        label(cx)
                    ))
                })?;
                let mut value = HeaderValue::from_str(&value).map_err(|_| {
                    ConnectorError::Config(format!(
                        "`{}`: header `{name}` has an invalid value",
                        label(cx)
                    ))
                })?;
                value.set_sensitive(true);
                headers.insert(header, value);
            }
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| {
                ConnectorError::Config(format!(
                    "`{}`: cannot build the HTTP client: {}",
                    label(cx),
                    e.without_url()
                ))
            })?;
        let auth = Auth::build(options.block("auth")?, http.clone())?;
        Ok(Arc::new(Client {
            http,
            base,
            headers,
            auth,
        }))
    }

    /// The full URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        let path = path.trim_start_matches('/');
        if path.is_empty() {
            self.base.clone()
        } else {
            format!("{}/{path}", self.base)
        }
    }

    /// Sends a request; on 401 with a refreshable token, refreshes it and tries once more.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Reply, ConnectorError> {
        let what = format!("{method} {path}");
        let mut refreshed = false;
        loop {
            let mut request = self
                .http
                .request(method.clone(), self.url(path))
                .headers(self.headers.clone());
            request = self.auth.apply(request).await?;
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let response = request
                .send()
                .await
                .map_err(|e| transport_error(&what, e))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed && self.auth.invalidate().await {
                refreshed = true;
                continue;
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let body = response
                .bytes()
                .await
                .map_err(|e| transport_error(&what, e))?;
            return Ok(Reply {
                status,
                retry_after,
                body,
            });
        }
    }

    /// Ok for 2xx (and 404 when `accept_404`), else the classified error.
    pub(crate) fn check(
        method: &Method,
        path: &str,
        reply: &Reply,
        accept_404: bool,
    ) -> Result<(), ConnectorError> {
        let status = reply.status;
        if status.is_success() || (accept_404 && status == StatusCode::NOT_FOUND) {
            return Ok(());
        }
        let excerpt = truncate(
            &String::from_utf8_lossy(&reply.body).replace(['\n', '\r'], " "),
            200,
        );
        let message = format!("HTTP {} from {method} {path}: {excerpt}", status.as_u16());
        Err(match (status.as_u16(), reply.retry_after) {
            (429 | 503, Some(after)) => ConnectorError::RetryAfter { message, after },
            (408 | 429, _) => ConnectorError::Transient(message),
            (s, _) if s >= 500 => ConnectorError::Transient(message),
            _ => ConnectorError::Permanent(message),
        })
    }
}
