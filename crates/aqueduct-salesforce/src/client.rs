//! Requests to one org: the bearer token (replaced once on 401, then the
//! request replayed), `Sforce-Limit-Info` read from every response, backing
//! off on 429, 503 and `REQUEST_LIMIT_EXCEEDED`, and errors classified from
//! Salesforce's error arrays.

use crate::auth::Auth;
use crate::describe::SObject;
use aqueduct_connectors::support::args::{Options, label};
use aqueduct_runtime::connector::{ConnectorError, OpContext};
use aqueduct_runtime::secrets::{excerpt, redact};
use rand::RngExt;
use reqwest::Method;
use reqwest::header::HeaderMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The API version called unless `api_version` says otherwise.
pub(crate) const DEFAULT_VERSION: &str = "61.0";

/// How rate-limited and unavailable answers are retried inside one call
/// (the flow's own `retry` policy comes on top, once these are spent).
#[derive(Debug, Clone)]
pub struct Backoff {
    /// Tries after the first (default 4).
    pub retries: u32,
    /// First wait for 429/503, doubling (default 1 s).
    pub base: Duration,
    /// First wait for `REQUEST_LIMIT_EXCEEDED`, doubling (default 10 s):
    /// the org's allocation frees slowly, so hammering it only burns calls.
    pub limit_base: Duration,
    /// Longest single wait (default 2 min).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            retries: 4,
            base: Duration::from_secs(1),
            limit_base: Duration::from_secs(10),
            max: Duration::from_secs(120),
        }
    }
}

impl Backoff {
    /// The wait before retry `attempt` (0 for the first): the base doubled
    /// per attempt, ±20 % jitter so that many clients do not retry in step,
    /// and never more than `max` (the jitter is applied before the cap, so
    /// `max` is a true bound).
    pub(crate) fn wait(&self, attempt: u32, limited: bool) -> Duration {
        let base = if limited { self.limit_base } else { self.base };
        let exp = base.saturating_mul(1u32 << attempt.min(16));
        let jitter = rand::rng().random_range(0.8..1.2);
        exp.mul_f64(jitter).min(self.max)
    }
}

/// A request body.
pub(crate) enum Body {
    None,
    Json(String),
    Csv(String),
}

/// An answer: status, headers, body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: bytes::Bytes,
}

impl Reply {
    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A configured org.
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    pub(crate) version: String,
    /// `crm` (the system name), for messages.
    pub(crate) system: String,
    auth: Auth,
    backoff: Backoff,
    warned: AtomicBool,
    /// sObjects described by the start-up preflight, by lower-case name
    /// (`None`: the org has no such object), so operations of several flows
    /// on one object cost one `describe` call.
    pub(crate) described: Mutex<HashMap<String, Option<Arc<SObject>>>>,
}

impl Client {
    /// The client of the context's system.
    pub(crate) fn build(cx: &OpContext, backoff: Backoff) -> Result<Client, ConnectorError> {
        aqueduct_connectors::install_crypto();
        let options = Options::of(cx);
        let system = cx.op.system.clone();
        let base = options
            .required("instance_url")?
            .trim_end_matches('/')
            .to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ConnectorError::Config(format!(
                "`{}`: instance_url must start with https:// (or http:// for a local emulator)",
                label(cx)
            )));
        }
        let version = options
            .string("api_version")?
            .unwrap_or_else(|| DEFAULT_VERSION.to_string());
        let version = version.trim_start_matches(['v', 'V']).to_string();
        if version.parse::<f64>().is_err() {
            return Err(ConnectorError::Config(format!(
                "`{}`: api_version `{version}` is not a version such as \"62.0\"",
                label(cx)
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| {
                ConnectorError::Config(format!(
                    "`{}`: cannot build the HTTP client: {}",
                    label(cx),
                    e.without_url()
                ))
            })?;
        let auth = Auth::build(&options, &base, http.clone(), &system)?;
        Ok(Client {
            http,
            base,
            version,
            system,
            auth,
            backoff,
            warned: AtomicBool::new(false),
            described: Mutex::default(),
        })
    }

    /// `/services/data/vXX.X{rest}`.
    pub(crate) fn data_path(&self, rest: &str) -> String {
        format!("/services/data/v{}{rest}", self.version)
    }

    /// Sends a request to `path` (absolute on the instance, e.g. a
    /// `nextRecordsUrl`) with query parameters; retries 401 once with a new
    /// token and backs off on limits. Any status comes back as a [`Reply`];
    /// use [`Client::check`] to turn failures into errors.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: &Body,
        accept_csv: bool,
    ) -> Result<Reply, ConnectorError> {
        self.send_with(method, path, query, body, accept_csv, &[])
            .await
    }

    /// Drops the current token: the org refused it in a way HTTP does not
    /// show (CometD answers `401::Authentication invalid` inside a 200).
    pub(crate) async fn reset_token(&self) {
        if let Ok(t) = self.auth.token().await {
            self.auth.invalidate(t.generation).await;
        }
    }

    /// The current access token (fetched when there is none), for APIs
    /// that carry it themselves (the Pub/Sub API's metadata).
    #[cfg(feature = "pubsub")]
    pub(crate) async fn token(&self) -> Result<crate::auth::Token, ConnectorError> {
        self.auth.token().await
    }

    /// Drops the token of `generation`: the org refused it.
    #[cfg(feature = "pubsub")]
    pub(crate) async fn invalidate(&self, generation: u64) {
        self.auth.invalidate(generation).await;
    }

    /// The instance URL calls go to.
    #[cfg(feature = "pubsub")]
    pub(crate) fn instance_url(&self) -> &str {
        &self.base
    }

    /// [`Client::send`] with extra request headers (CometD's cookie).
    pub(crate) async fn send_with(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: &Body,
        accept_csv: bool,
        headers: &[(&str, String)],
    ) -> Result<Reply, ConnectorError> {
        let what = format!("{method} {}", short(path));
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            let token = self.auth.token().await?;
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(token.value.expose())
                .header("Sforce-Call-Options", "client=aqueduct")
                .header(
                    reqwest::header::ACCEPT,
                    if accept_csv {
                        "text/csv"
                    } else {
                        "application/json"
                    },
                );
            if !query.is_empty() {
                request = request.query(query);
            }
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            request = match body {
                Body::None => request,
                Body::Json(text) => request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(text.clone()),
                Body::Csv(text) => request
                    .header(reqwest::header::CONTENT_TYPE, "text/csv")
                    .body(text.clone()),
            };
            let response = request.send().await.map_err(|e| {
                ConnectorError::Transient(format!("`{}`: {what}: {}", self.system, e.without_url()))
            })?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(|e| {
                ConnectorError::Transient(format!("`{}`: {what}: {}", self.system, e.without_url()))
            })?;
            let reply = Reply {
                status,
                headers,
                body,
            };
            self.note_limits(&reply);
            if status == 401 && !refreshed {
                // Expired or revoked: one new token, then the same request again.
                tracing::info!(system = %self.system, "Salesforce refused the access token; getting a new one");
                self.auth.invalidate(token.generation).await;
                refreshed = true;
                continue;
            }
            let limited = is_limit_exceeded(&reply);
            if (status == 429 || status == 503 || limited) && attempt < self.backoff.retries {
                // A `Retry-After` is honoured up to `max` too: one call must
                // not hold its records for as long as a server asks; the
                // flow's `retry` policy is there for longer outages.
                let wait = match retry_after(&reply) {
                    Some(after) => after.min(self.backoff.max),
                    None => self.backoff.wait(attempt, limited),
                };
                tracing::warn!(
                    system = %self.system,
                    status,
                    wait_ms = wait.as_millis() as u64,
                    "Salesforce asked to slow down ({}); waiting before trying again",
                    if limited { "REQUEST_LIMIT_EXCEEDED" } else { "busy" }
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            return Ok(reply);
        }
    }

    /// Reads `Sforce-Limit-Info: api-usage=18/15000` and warns once when
    /// 90 % of the daily allocation is used.
    fn note_limits(&self, reply: &Reply) {
        let Some((used, max)) = reply.header("sforce-limit-info").and_then(parse_limit_info) else {
            return;
        };
        tracing::debug!(system = %self.system, used, max, "Salesforce API usage");
        aqueduct_runtime::metrics::set_system_gauge(
            "aqueduct_salesforce_api_requests",
            "API requests the Salesforce org has used of its daily allocation (Sforce-Limit-Info).",
            &self.system,
            used as f64,
        );
        aqueduct_runtime::metrics::set_system_gauge(
            "aqueduct_salesforce_api_requests_limit",
            "The Salesforce org's daily API request allocation (Sforce-Limit-Info).",
            &self.system,
            max as f64,
        );
        if max > 0 && used * 10 >= max * 9 && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                system = %self.system,
                used,
                max,
                "Salesforce org has used {used} of its {max} daily API requests"
            );
        }
    }

    /// Ok for 2xx; else an error naming the system, the request, the status
    /// and Salesforce's `errorCode: message` (redacted, cut to 300 bytes).
    pub(crate) fn check(&self, what: &str, reply: Reply) -> Result<Reply, ConnectorError> {
        if (200..300).contains(&reply.status) {
            return Ok(reply);
        }
        Err(self.error(what, &reply))
    }

    /// The error for a failed reply.
    pub(crate) fn error(&self, what: &str, reply: &Reply) -> ConnectorError {
        let (codes, detail) = error_detail(&reply.body);
        let message = redact(&format!(
            "`{}`: {what}: HTTP {} {detail}",
            self.system, reply.status
        ));
        let status = reply.status;
        let retryable_code = codes.iter().any(|c| {
            matches!(
                c.as_str(),
                "UNABLE_TO_LOCK_ROW" | "REQUEST_LIMIT_EXCEEDED" | "SERVER_UNAVAILABLE"
            )
        });
        if let Some(after) = retry_after(reply)
            && (status == 429 || status == 503)
        {
            return ConnectorError::RetryAfter { message, after };
        }
        if status == 408 || status == 429 || status >= 500 || retryable_code {
            ConnectorError::Transient(message)
        } else {
            ConnectorError::Permanent(message)
        }
    }
}

/// `path` without its query string, for messages (a SOQL text may be long).
fn short(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// `api-usage=18/15000` (possibly among other entries) as (18, 15000).
pub(crate) fn parse_limit_info(value: &str) -> Option<(u64, u64)> {
    value.split(',').find_map(|part| {
        let usage = part.trim().strip_prefix("api-usage=")?;
        let (used, max) = usage.split_once('/')?;
        Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
    })
}

fn retry_after(reply: &Reply) -> Option<Duration> {
    reply
        .header("retry-after")
        .and_then(aqueduct_connectors::http::parse_retry_after)
}

/// A 403 whose error array says `REQUEST_LIMIT_EXCEEDED`.
fn is_limit_exceeded(reply: &Reply) -> bool {
    reply.status == 403
        && error_detail(&reply.body)
            .0
            .iter()
            .any(|c| c == "REQUEST_LIMIT_EXCEEDED")
}

/// The error codes of a Salesforce error array (`errorCode`, or
/// `statusCode` in collections) and a one-line description of them.
pub(crate) fn error_detail(body: &[u8]) -> (Vec<String>, String) {
    let json: serde_json::Value = match serde_json::from_slice(body) {
        Ok(j) => j,
        Err(_) => {
            let text = String::from_utf8_lossy(body).replace(['\n', '\r'], " ");
            return (Vec::new(), excerpt(&text, 300));
        }
    };
    let items: Vec<&serde_json::Value> = match &json {
        serde_json::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut codes = Vec::new();
    let mut parts = Vec::new();
    for item in items {
        let code = item
            .get("errorCode")
            .or_else(|| item.get("statusCode"))
            .or_else(|| item.get("error"))
            .and_then(|c| c.as_str());
        let message = item
            .get("message")
            .or_else(|| item.get("error_description"))
            .and_then(|m| m.as_str());
        match (code, message) {
            (Some(c), Some(m)) => parts.push(format!("{c}: {m}")),
            (Some(c), None) => parts.push(c.to_string()),
            (None, Some(m)) => parts.push(m.to_string()),
            (None, None) => parts.push(excerpt(&item.to_string(), 200)),
        }
        if let Some(c) = code {
            codes.push(c.to_string());
        }
    }
    (codes, excerpt(&parts.join("; "), 300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_limit_info() {
        assert_eq!(parse_limit_info("api-usage=18/15000"), Some((18, 15000)));
        assert_eq!(
            parse_limit_info("api-usage=25/5000, per-app-api-usage=17/250(appName=sample-app)"),
            Some((25, 5000))
        );
        assert_eq!(parse_limit_info("per-app-api-usage=17/250"), None);
    }

    #[test]
    fn waits_double_from_their_base_with_jitter_and_never_pass_the_cap() {
        let b = Backoff::default();
        for _ in 0..200 {
            for (attempt, busy, limit) in [(0, 1, 10), (1, 2, 20), (2, 4, 40), (3, 8, 80)] {
                let w = b.wait(attempt, false);
                let secs = Duration::from_secs(busy);
                assert!(w >= secs.mul_f64(0.8) && w <= secs.mul_f64(1.2), "{w:?}");
                let w = b.wait(attempt, true);
                let secs = Duration::from_secs(limit).min(b.max);
                assert!(w >= secs.mul_f64(0.8).min(b.max), "{w:?}");
                assert!(w <= b.max, "{w:?} passes the 2 min cap");
            }
            // 10 s · 2⁴ = 160 s: the cap, even with the jitter up
            assert_eq!(b.wait(4, true), b.max);
            assert_eq!(b.wait(40, true), b.max);
        }
    }

    #[test]
    fn describes_error_arrays() {
        let body = br#"[{"message":"Required fields are missing: [LastName]","errorCode":"REQUIRED_FIELD_MISSING","fields":["LastName"]}]"#;
        let (codes, text) = error_detail(body);
        assert_eq!(codes, vec!["REQUIRED_FIELD_MISSING"]);
        assert_eq!(
            text,
            "REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]"
        );
    }
}
