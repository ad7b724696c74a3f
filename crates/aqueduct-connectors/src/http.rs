//! `http`: an outbound client for JSON APIs (options `base_url`, `auth`,
//! `timeout` (default 30 s), `headers`).
//!
//! Targets `post/put/patch/delete(path)` send each record as a JSON body (a
//! batch group as one JSON array per distinct path, even a group of one;
//! `delete` sends no body and accepts 404); calls `get/post(path)` answer with the JSON response as the
//! enrich type (`get` answers null on 404); `poll(path, every, watermark)` GETs a path
//! at an interval (with `watermark`, only records whose field passed the
//! saved watermark); `get(path, …)` as a source fetches a list once,
//! following pages (link header, cursor or page number). Paths are templates relative to `base_url`; interpolated
//! values are percent-encoded so they stay one path segment.
//!
//! Statuses: 2xx accepts; 429 and 503 with `Retry-After` are
//! [`ConnectorError::RetryAfter`]; 408, 429, 5xx, timeouts and connection
//! failures are transient; other statuses are permanent. Messages carry the
//! status, method, path and a short excerpt of the body, never headers.

mod auth;
mod call;
pub mod client;
mod get;
mod poll;
mod target;

use aqueduct_runtime::connector::{
    Call, ConnectorError, ConnectorFactory, OpContext, Source, Target,
};
use std::sync::Arc;

/// The `http` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpConnector;

impl ConnectorFactory for HttpConnector {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        match cx.op.operation.as_str() {
            "poll" => Ok(Box::new(poll::HttpPoll::build(
                cx,
                client::Client::build(cx)?,
            )?)),
            "get" => Ok(Box::new(get::HttpGet::build(
                cx,
                client::Client::build(cx)?,
            )?)),
            other => Err(ConnectorError::Config(format!(
                "`http.{other}` cannot be used as a source"
            ))),
        }
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        let method = match cx.op.operation.as_str() {
            "post" => reqwest::Method::POST,
            "put" => reqwest::Method::PUT,
            "patch" => reqwest::Method::PATCH,
            "delete" => reqwest::Method::DELETE,
            other => {
                return Err(ConnectorError::Config(format!(
                    "`http.{other}` cannot be used as a target"
                )));
            }
        };
        Ok(Arc::new(target::HttpTarget::build(
            cx,
            client::Client::build(cx)?,
            method,
        )?))
    }

    fn call(&self, cx: &OpContext) -> Result<Arc<dyn Call>, ConnectorError> {
        let method = match cx.op.operation.as_str() {
            "get" => reqwest::Method::GET,
            "post" => reqwest::Method::POST,
            other => {
                return Err(ConnectorError::Config(format!(
                    "`http.{other}` cannot be used in `enrich`"
                )));
            }
        };
        Ok(Arc::new(call::HttpCall::build(
            cx,
            client::Client::build(cx)?,
            method,
        )?))
    }
}

pub use client::parse_retry_after;
