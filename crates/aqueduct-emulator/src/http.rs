//! The HTTP side: requests and answers in a form every API area (and
//! composite subrequests) can share, the common pipeline of a data request
//! (faults → token → API allocation → handler → commit →
//! `Sforce-Limit-Info`), and the axum handlers of `/services/...`.

use crate::dml::WriteCtx;
use crate::errors::ApiError;
use crate::faults::FaultKind;
use crate::oauth;
use crate::org::{Org, State};
use crate::rest;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// A request to `/services/data/vXX.X/…`.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The whole path (for fault rules).
    pub path: String,
    /// Path segments after the version, percent-decoded.
    pub segments: Vec<String>,
    /// Query parameters, decoded.
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// `62.0`.
    pub version: String,
}

impl ApiRequest {
    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (`JSON_PARSER_ERROR` when it is not).
    pub fn json(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::json_parser(
                "No content to map due to end-of-input",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| ApiError::json_parser(format!("{e}")))
    }

    /// `/services/data/v62.0`.
    pub fn base(&self) -> String {
        format!("/services/data/v{}", self.version)
    }

    /// The version as a number.
    pub fn version_number(&self) -> f64 {
        self.version.parse().unwrap_or(0.0)
    }
}

/// A response body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// No body.
    Empty,
    /// JSON.
    Json(Value),
    /// CSV text (`text/csv`).
    Csv(String),
}

/// An answer.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl ApiResponse {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> ApiResponse {
        ApiResponse {
            status,
            headers: Vec::new(),
            body: Body::Json(body),
        }
    }

    /// An answer without body.
    pub fn empty(status: u16) -> ApiResponse {
        ApiResponse {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// A CSV answer.
    pub fn csv(status: u16, text: String) -> ApiResponse {
        ApiResponse {
            status,
            headers: Vec::new(),
            body: Body::Csv(text),
        }
    }

    /// The REST error array.
    pub fn error(e: &ApiError) -> ApiResponse {
        ApiResponse::json(e.status, e.to_body())
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> ApiResponse {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The JSON body, if any.
    pub fn json_body(&self) -> Value {
        match &self.body {
            Body::Json(v) => v.clone(),
            Body::Csv(t) => Value::String(t.clone()),
            Body::Empty => Value::Null,
        }
    }
}

impl From<Result<ApiResponse, ApiError>> for ApiResponse {
    fn from(r: Result<ApiResponse, ApiError>) -> ApiResponse {
        r.unwrap_or_else(|e| ApiResponse::error(&e))
    }
}

impl IntoResponse for ApiResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = match self.body {
            Body::Empty => status.into_response(),
            Body::Json(v) => {
                let text = serde_json::to_string(&v).unwrap_or_default();
                (
                    status,
                    [("content-type", "application/json;charset=UTF-8")],
                    text,
                )
                    .into_response()
            }
            Body::Csv(t) => (status, [("content-type", "text/csv")], t).into_response(),
        };
        for (k, v) in self.headers {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::try_from(k),
                HeaderValue::try_from(v),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// Who is calling: the token's user, and `Sforce-Call-Options: client=`.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The user id.
    pub user_id: String,
    /// `client=` of `Sforce-Call-Options`.
    pub call_client: Option<String>,
}

impl Caller {
    /// The write context of a request through `api` (`rest`, `bulkapi`).
    pub fn ctx(&self, api: &str, req: &ApiRequest) -> WriteCtx {
        let mut origin = format!("com/salesforce/api/{api}/{}", req.version);
        if let Some(c) = &self.call_client {
            origin.push_str(";client=");
            origin.push_str(c);
        }
        WriteCtx {
            user_id: self.user_id.clone(),
            origin,
            method: req.method.clone(),
            path: req.path.clone(),
        }
    }
}

/// The answer a request-level fault gives.
pub fn fault_response(kind: FaultKind) -> ApiResponse {
    let e = match kind {
        FaultKind::ServiceUnavailable => ApiError::new(
            503,
            "SERVER_UNAVAILABLE",
            "Service temporarily unavailable (the emulator's service_unavailable fault)",
        ),
        FaultKind::ServerError => ApiError::new(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred (the emulator's server_error fault)",
        ),
        FaultKind::SessionExpired => ApiError::invalid_session(),
        FaultKind::RequestLimitExceeded => ApiError::new(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        ),
        FaultKind::ConcurrentRequestLimit => ApiError::new(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentPerOrgLongTxn Limit exceeded.",
        ),
        FaultKind::UnableToLockRow
        | FaultKind::DropSession
        | FaultKind::BulkJobFailed
        | FaultKind::EventRejected => {
            ApiError::new(500, "UNKNOWN_EXCEPTION", "fault not applicable here")
        }
    };
    ApiResponse::error(&e)
}

/// Authenticates a request's bearer token (extending it); expires the token
/// instead when a `session_expired` fault fires.
pub fn authenticate(st: &mut State, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let header = headers.get("authorization").and_then(|v| v.to_str().ok());
    let Some(token) = oauth::bearer(header) else {
        return Err(ApiError::invalid_session());
    };
    let (now, ttl) = (st.clock.now_ms(), st.settings.token_ttl_ms);
    let grant = st
        .tokens
        .check(token, now, ttl)
        .ok_or_else(ApiError::invalid_session)?;
    let call_client = headers
        .get("sforce-call-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|p| p.trim().strip_prefix("client=").map(str::to_string))
        });
    Ok(Caller {
        user_id: grant.user_id,
        call_client,
    })
}

/// The pipeline of one data request, under the lock.
pub fn handle(st: &mut State, req: &ApiRequest) -> ApiResponse {
    if let Some(kind) = st.faults.take_request(&req.method, &req.path) {
        if kind == FaultKind::SessionExpired
            && let Some(t) = oauth::bearer(req.header("authorization"))
        {
            st.tokens.expire(t);
        }
        return fault_response(kind);
    }
    let caller = match authenticate(st, &req.headers) {
        Ok(c) => c,
        Err(e) => return ApiResponse::error(&e),
    };
    let now = st.clock.now_ms();
    if !st.limits.count(now) {
        let header = st.limits.header(now);
        return ApiResponse::error(&ApiError::new(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        ))
        .with_header("Sforce-Limit-Info", header);
    }
    let response = rest::dispatch(st, req, &caller);
    st.commit();
    let header = st.limits.header(now);
    response.with_header("Sforce-Limit-Info", header)
}

/// Splits `/services/data/v62.0/a/b` into the version and decoded segments;
/// the error answer when the version is missing, retired or unknown.
pub fn parse_path(st: &State, path: &str) -> Result<(String, Vec<String>), ApiResponse> {
    let rest = path.strip_prefix("/services/data/").unwrap_or("");
    let mut parts = rest.split('/');
    let first = parts.next().unwrap_or("");
    let not_found = || ApiResponse::error(&ApiError::not_found());
    let version = first
        .strip_prefix('v')
        .filter(|v| v.contains('.'))
        .ok_or_else(not_found)?;
    let number: f64 = version.parse().map_err(|_| not_found())?;
    if number <= 30.0 {
        return Err(ApiResponse::error(&ApiError::new(
            410,
            "API_DISABLED_FOR_ORG",
            format!("API version {version} has been retired. Use a newer version of the API."),
        )));
    }
    if number > st.settings.max_version || number < 31.0 {
        return Err(not_found());
    }
    let segments = parts
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    Ok((version.to_string(), segments))
}

/// Decoded query-string pairs.
pub fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// `ANY /services/data/vXX.X/…`
pub async fn data(
    AxState(org): AxState<Arc<Org>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResponse {
    let response = {
        let mut st = org.lock();
        match parse_path(&st, uri.path()) {
            Err(r) => r,
            Ok((version, segments)) => {
                let req = ApiRequest {
                    method: method.as_str().to_string(),
                    path: uri.path().to_string(),
                    segments,
                    query: query_pairs(&uri),
                    headers,
                    body,
                    version,
                };
                handle(&mut st, &req)
            }
        }
    };
    org.wake();
    response
}

/// `GET /services/data/`: the versions this org serves (no token needed).
pub async fn versions(AxState(org): AxState<Arc<Org>>) -> ApiResponse {
    let max = org.lock().settings.max_version;
    let mut list = Vec::new();
    let mut v = 31.0;
    while v <= max + 1e-9 {
        let version = format!("{v:.1}");
        list.push(json!({"label": release_label(v), "url": format!("/services/data/v{version}"), "version": version}));
        v += 1.0;
    }
    ApiResponse::json(200, Value::Array(list))
}

/// The release name of an API version: 62.0 is Winter '25, 61.0 Summer '24, …
pub fn release_label(version: f64) -> String {
    let back = (62.0 - version).round() as i64;
    let season = ["Winter", "Summer", "Spring"][back.rem_euclid(3) as usize];
    let year = 25 - (back + 2).div_euclid(3);
    format!("{season} '{:02}", year.rem_euclid(100))
}

fn form_of(
    headers: &HeaderMap,
    uri: &Uri,
    body: &Bytes,
) -> (HashMap<String, String>, Option<(String, String)>) {
    let mut form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    for (k, v) in query_pairs(uri) {
        form.entry(k).or_insert(v);
    }
    let basic =
        oauth::basic_credentials(headers.get("authorization").and_then(|v| v.to_str().ok()));
    (form, basic)
}

fn oauth_fault(st: &mut State, uri: &Uri) -> Option<ApiResponse> {
    let kind = st.faults.take_request("POST", uri.path())?;
    let (status, code, text) = match kind {
        FaultKind::ServiceUnavailable => (503, "temporarily_unavailable", "service unavailable"),
        FaultKind::ServerError => (500, "server_error", "internal server error"),
        FaultKind::RequestLimitExceeded | FaultKind::ConcurrentRequestLimit => {
            (400, "rate_limit_exceeded", "rate limit exceeded")
        }
        _ => (400, "invalid_grant", "expired access/refresh token"),
    };
    Some(ApiResponse::json(
        status,
        json!({"error": code, "error_description": text}),
    ))
}

/// `POST /services/oauth2/token`
pub async fn token(
    AxState(org): AxState<Arc<Org>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResponse {
    let (form, basic) = form_of(&headers, &uri, &body);
    let mut st = org.lock();
    if let Some(r) = oauth_fault(&mut st, &uri) {
        return r;
    }
    let (status, body) = oauth::token(&mut st, &form, basic);
    ApiResponse::json(status, body)
}

/// `POST /services/oauth2/revoke`
pub async fn revoke(
    AxState(org): AxState<Arc<Org>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResponse {
    let (form, _) = form_of(&headers, &uri, &body);
    let mut st = org.lock();
    if let Some(r) = oauth_fault(&mut st, &uri) {
        return r;
    }
    let (status, body) = oauth::revoke(&mut st, &form);
    org.events.notify_waiters();
    if body.is_null() {
        ApiResponse::empty(status)
    } else {
        ApiResponse::json(status, body)
    }
}

/// `GET /id/{org}/{user}`: the identity URL of a token.
pub async fn identity(
    AxState(org): AxState<Arc<Org>>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResponse {
    let mut st = org.lock();
    let caller = match authenticate(&mut st, &headers) {
        Ok(c) => c,
        Err(_) => return ApiResponse::json(403, json!("Bad_OAuth_Token")),
    };
    let Some(user) = st.users.iter().find(|u| u.id == caller.user_id).cloned() else {
        return ApiResponse::json(404, json!("Not Found"));
    };
    ApiResponse::json(
        200,
        json!({
            "id": format!("{}{}", st.instance_url, uri.path()),
            "user_id": user.id,
            "organization_id": st.org_id,
            "username": user.username,
            "urls": {"rest": format!("{}/services/data/v{{version}}/", st.instance_url)},
        }),
    )
}

/// Anything else: 404 in Salesforce's error shape.
pub async fn not_found() -> ApiResponse {
    ApiResponse::error(&ApiError::not_found())
}

#[cfg(test)]
mod tests {
    use super::release_label;

    #[test]
    fn release_labels() {
        assert_eq!(release_label(62.0), "Winter '25");
        assert_eq!(release_label(61.0), "Summer '24");
        assert_eq!(release_label(60.0), "Spring '24");
        assert_eq!(release_label(59.0), "Winter '24");
        assert_eq!(release_label(63.0), "Spring '25");
        assert_eq!(release_label(64.0), "Summer '25");
        assert_eq!(release_label(65.0), "Winter '26");
        assert_eq!(release_label(31.0), "Summer '14");
    }
}
