//! `POST /composite`: up to 25 subrequests in order, later ones referring
//! to earlier results with `@{referenceId.field}` (or `.records[0].Id`).
//! The call answers 200 with one result per subrequest and counts as one
//! API request. With `allOrNone: true` the first failing subrequest rolls
//! everything back: it keeps its own error, every other subrequest reports
//! 400 `PROCESSING_HALTED`, and the outer flag overrides the `allOrNone`
//! of sObject Collections subrequests. Without it, a subrequest that
//! refers to a failed or missing result is not run (`PROCESSING_HALTED`).

use crate::collections;
use crate::errors::ApiError;
use crate::http::{ApiRequest, ApiResponse, Caller, parse_path, query_pairs};
use crate::org::State;
use crate::rest;
use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, Uri};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Most subrequests per call.
pub const MAX_SUBREQUESTS: usize = 25;

const ROLLED_BACK: &str =
    "The transaction was rolled back since another operation in the same transaction failed.";

/// Handles a composite request.
pub fn handle(st: &mut State, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse, ApiError> {
    let body = req.json()?;
    let all_or_none = body
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(subs) = body.get("compositeRequest").and_then(Value::as_array) else {
        return Err(ApiError::json_parser(
            "The request body must have a compositeRequest array",
        ));
    };
    if subs.len() > MAX_SUBREQUESTS {
        return Err(ApiError::bad(
            "LIMIT_EXCEEDED",
            format!("A composite request can have at most {MAX_SUBREQUESTS} subrequests"),
        ));
    }
    let mut seen = Vec::new();
    for s in subs {
        let Some(r) = s.get("referenceId").and_then(Value::as_str) else {
            return Err(ApiError::json_parser("Each subrequest needs a referenceId"));
        };
        if r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ApiError::bad(
                "INVALID_INPUT",
                format!(
                    "Invalid referenceId {r}: only letters, numbers and underscores are allowed"
                ),
            ));
        }
        if seen.contains(&r) {
            return Err(ApiError::bad(
                "INVALID_INPUT",
                format!("Duplicate referenceId {r}"),
            ));
        }
        seen.push(r);
        if s.get("method").and_then(Value::as_str).is_none()
            || s.get("url").and_then(Value::as_str).is_none()
        {
            return Err(ApiError::json_parser(format!(
                "Subrequest {r} needs a method and a url"
            )));
        }
        if let Some(h) = s.get("httpHeaders").and_then(Value::as_object)
            && let Some(k) = h.keys().find(|k| {
                ["accept", "authorization", "content-type"]
                    .contains(&k.to_ascii_lowercase().as_str())
            })
        {
            return Err(ApiError::bad(
                "INVALID_INPUT",
                format!("Subrequest {r} may not set the {k} header"),
            ));
        }
    }
    let mark = st.mark();
    let mut results: Vec<Value> = Vec::new();
    let mut done: HashMap<String, (u16, Value)> = HashMap::new();
    let mut failed_at = None;
    for (i, s) in subs.iter().enumerate() {
        let reference = s["referenceId"].as_str().unwrap_or_default().to_string();
        let response = match resolve(s, &done) {
            Err(e) => ApiResponse::error(&e),
            Ok((method, url, body, headers)) => {
                run_sub(st, req, caller, &method, &url, body, headers, all_or_none)
            }
        };
        let status = response.status;
        let body = response.json_body();
        let headers: Map<String, Value> = response
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        results.push(json!({"body": body, "httpHeaders": headers, "httpStatusCode": status, "referenceId": reference}));
        // A collections subrequest reports record failures inside a 200;
        // under an outer allOrNone they fail the whole transaction too.
        let records_failed = body
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r.get("success") == Some(&json!(false))));
        done.insert(reference, (status, body));
        if all_or_none && (status >= 400 || records_failed) {
            failed_at = Some(i);
            break;
        }
    }
    if let Some(failed) = failed_at {
        st.rollback(mark);
        let halted = ApiError::bad("PROCESSING_HALTED", ROLLED_BACK);
        for (i, s) in subs.iter().enumerate() {
            if i == failed {
                continue;
            }
            let r = json!({"body": halted.to_body(), "httpHeaders": {}, "httpStatusCode": 400, "referenceId": s["referenceId"]});
            if i < results.len() {
                results[i] = r;
            } else {
                results.push(r);
            }
        }
    }
    Ok(ApiResponse::json(
        200,
        json!({"compositeResponse": results}),
    ))
}

type Resolved = (String, String, Option<Value>, Map<String, Value>);

/// The subrequest with its references replaced by earlier results.
fn resolve(s: &Value, done: &HashMap<String, (u16, Value)>) -> Result<Resolved, ApiError> {
    let method = s["method"].as_str().unwrap_or_default().to_string();
    let url = substitute(s["url"].as_str().unwrap_or_default(), done)?;
    let body = match s.get("body") {
        Some(b) => Some(substitute_json(b, done)?),
        None => None,
    };
    let headers = s
        .get("httpHeaders")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok((method, url, body, headers))
}

fn substitute_json(v: &Value, done: &HashMap<String, (u16, Value)>) -> Result<Value, ApiError> {
    Ok(match v {
        Value::String(s) => Value::String(substitute(s, done)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute_json(x, done))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), substitute_json(x, done)?)))
                .collect::<Result<_, ApiError>>()?,
        ),
        other => other.clone(),
    })
}

/// Replaces every `@{ref.path}` in `text`.
fn substitute(text: &str, done: &HashMap<String, (u16, Value)>) -> Result<String, ApiError> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let expr = &after[..end];
        out.push_str(&lookup(expr, done)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup(expr: &str, done: &HashMap<String, (u16, Value)>) -> Result<String, ApiError> {
    let halted = || {
        ApiError::bad(
            "PROCESSING_HALTED",
            format!("Invalid reference specified. No value for {expr} found"),
        )
    };
    let (reference, path) = expr.split_once('.').unwrap_or((expr, ""));
    let Some((status, body)) = done.get(reference) else {
        return Err(halted());
    };
    if *status >= 400 {
        return Err(halted());
    }
    let mut cur = body;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            cur = cur.get(name).ok_or_else(halted)?;
        }
        for idx in indexes.split('[').filter(|x| !x.is_empty()) {
            let n: usize = idx.trim_end_matches(']').parse().map_err(|_| halted())?;
            cur = cur.get(n).ok_or_else(halted)?;
        }
    }
    Ok(match cur {
        Value::String(s) => s.clone(),
        Value::Null => return Err(halted()),
        other => other.to_string(),
    })
}

#[allow(clippy::too_many_arguments)]
fn run_sub(
    st: &mut State,
    top: &ApiRequest,
    caller: &Caller,
    method: &str,
    url: &str,
    body: Option<Value>,
    headers: Map<String, Value>,
    all_or_none: bool,
) -> ApiResponse {
    let Ok(uri) = url.parse::<Uri>() else {
        return ApiResponse::error(&ApiError::not_found());
    };
    let (version, segments) = match parse_path(st, uri.path()) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if segments.first().map(String::as_str) == Some("composite") && segments.len() == 1 {
        return ApiResponse::error(&ApiError::bad(
            "INVALID_INPUT",
            "A composite request cannot contain a composite request",
        ));
    }
    let mut header_map = top.headers.clone();
    for (k, v) in &headers {
        if let (Ok(name), Some(Ok(value))) = (
            HeaderName::try_from(k.as_str()),
            v.as_str().map(HeaderValue::try_from),
        ) {
            header_map.insert(name, value);
        }
    }
    let req = ApiRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        segments,
        query: query_pairs(&uri),
        headers: header_map,
        body: body
            .map(|b| Bytes::from(serde_json::to_vec(&b).unwrap_or_default()))
            .unwrap_or_default(),
        version,
    };
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    if let ["composite", "sobjects", rest @ ..] = segs.as_slice() {
        let ctx = caller.ctx("rest", &req);
        return collections::handle_with(st, &req, &ctx, rest, all_or_none.then_some(true)).into();
    }
    rest::dispatch(st, &req, caller)
}
