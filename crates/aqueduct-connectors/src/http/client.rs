//! The shared request machinery: URL building, headers, auth, sending with
//! one re-authentication on 401, and status classification.
//!
//! Public so that other HTTP-based connector kinds (`soap`, `graphql` in
//! `aqueduct-web`) share one timeout, auth and status policy with `http`.

use super::auth::Auth;
use crate::support::args::{Options, label};
use aqueduct_runtime::connector::{ConnectorError, OpContext};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// Default time limit of one request.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A configured client for one `http` system (or another kind over HTTP).
pub struct Client {
    http: reqwest::Client,
    base: String,
    headers: HeaderMap,
    auth: Auth,
}

/// A response: status, `Retry-After`, the `rel="next"` link, body.
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The wait a 429/503 asked for.
    pub retry_after: Option<Duration>,
    /// The target of a `Link: <…>; rel="next"` header (RFC 8288), as written.
    pub next_link: Option<String>,
    /// The whole body.
    pub body: bytes::Bytes,
}

/// A request body with its content type, and headers of this request only
/// (a SOAPAction).
pub struct Payload {
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
    /// Extra headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Payload {
    /// A JSON body.
    pub fn json(body: String) -> Payload {
        Payload {
            content_type: "application/json",
            body,
            headers: Vec::new(),
        }
    }
}

/// The target of the first `rel="next"` link among `Link` header values.
pub(crate) fn parse_next_link<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    for value in values {
        let mut rest = value;
        // each link is `<target>` followed by `; param=value` pairs, links separated by commas
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after.find('>')?;
            let target = &after[..close];
            let params_end = after[close..].find('<').map_or(after.len(), |i| close + i);
            let params = &after[close + 1..params_end];
            let is_next = params.split(';').any(|param| {
                let Some((name, value)) = param.split_once('=') else {
                    return false;
                };
                name.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_end_matches(',')
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            });
            if is_next {
                return Some(target.trim().to_string());
            }
            rest = &after[params_end..];
        }
    }
    None
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
pub fn transport_error(what: &str, err: reqwest::Error) -> ConnectorError {
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
        Client::build_for(cx, "base_url")
    }

    /// The client of the context's system, its URL in option `url_option`
    /// (`base_url` for `http`, `url` for an endpoint URL); `timeout`
    /// (default 30 s), `headers` and `auth` are read when the kind has them.
    pub fn build_for(cx: &OpContext, url_option: &str) -> Result<Arc<Client>, ConnectorError> {
        crate::install_crypto();
        let options = Options::of(cx);
        let base = options
            .required(url_option)?
            .trim_end_matches('/')
            .to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ConnectorError::Config(format!(
                "`{}`: {url_option} must start with http:// or https://",
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

    /// `base_url` as written (without a trailing slash).
    pub fn base(&self) -> &str {
        &self.base
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
        self.send_to(method, &self.url(path), path, body).await
    }

    /// [`Client::send`] to a full URL; `path` names it in messages.
    pub(crate) async fn send_to(
        &self,
        method: Method,
        url: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<Reply, ConnectorError> {
        self.send_payload(method, url, path, body.map(Payload::json))
            .await
    }

    /// Sends a request with any body to a full URL (`path` names it in
    /// messages); on 401 with a refreshable token, refreshes it and tries
    /// once more.
    pub async fn send_payload(
        &self,
        method: Method,
        url: &str,
        path: &str,
        body: Option<Payload>,
    ) -> Result<Reply, ConnectorError> {
        let what = format!("{method} {path}");
        let mut refreshed = false;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url)
                .headers(self.headers.clone());
            request = self.auth.apply(request).await?;
            if let Some(payload) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, payload.content_type)
                    .body(payload.body.clone());
                for (name, value) in &payload.headers {
                    request = request.header(name.clone(), value.clone());
                }
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
            let next_link = parse_next_link(
                response
                    .headers()
                    .get_all(reqwest::header::LINK)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            );
            let body = response
                .bytes()
                .await
                .map_err(|e| transport_error(&what, e))?;
            return Ok(Reply {
                status,
                retry_after,
                next_link,
                body,
            });
        }
    }

    /// Ok for 2xx (and 404 when `accept_404`), else the classified error.
    pub fn check(
        method: &Method,
        path: &str,
        reply: &Reply,
        accept_404: bool,
    ) -> Result<(), ConnectorError> {
        let status = reply.status;
        if status.is_success() || (accept_404 && status == StatusCode::NOT_FOUND) {
            return Ok(());
        }
        // redacted before the cut, so no cut leaves a secret's prefix behind
        let excerpt = aqueduct_runtime::secrets::excerpt(
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

#[cfg(test)]
mod tests {
    use super::parse_next_link;

    #[test]
    fn finds_the_next_link_among_others() {
        let header = r#"<https://x/a?page=1>; rel="prev", <https://x/a?page=3>; rel="next last""#;
        assert_eq!(
            parse_next_link([header].into_iter()).as_deref(),
            Some("https://x/a?page=3")
        );
        assert_eq!(
            parse_next_link(["</b?c=1>; rel=next"].into_iter()).as_deref(),
            Some("/b?c=1")
        );
        assert_eq!(
            parse_next_link([r#"<https://x/a>; rel="prev""#].into_iter()),
            None
        );
        assert_eq!(
            parse_next_link(
                ["<https://x/p>; rel=\"prev\"", "<https://x/n>; rel=\"next\""].into_iter()
            )
            .as_deref(),
            Some("https://x/n")
        );
    }
}
