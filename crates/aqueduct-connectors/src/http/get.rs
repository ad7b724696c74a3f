//! `http.get(path, items, paginate, …)` as a bounded source: GETs a path
//! once, following pages, and ends when the last page was read.
//!
//! Each page's records are the elements of the body (or of its `items`
//! field, a dotted path); an object body without `items` is one record.
//! Pagination (`paginate`):
//! - `link`: the next page is the `Link: <…>; rel="next"` header's target
//!   (RFC 8288; relative targets resolve against the page's URL); it must be
//!   on base_url's scheme, host and port, so credentials never leave it.
//! - `cursor`: the body field `cursor` (dotted path, default `next_cursor`)
//!   holds the next page's cursor, sent as the query parameter
//!   `cursor_param` (default `cursor`); a missing, null or empty cursor, or
//!   an empty page, ends the run.
//! - `page`: the query parameter `page_param` (default `page`) counts from
//!   `first_page` (default 1) until a page has no records.
//!
//! Only one page is held at a time: the next page is requested once every
//! record of this one was handed to the flow. A page failing with a
//! transient error (timeouts, connection errors, 408, 429, 5xx) is tried
//! again up to [`RETRIES`] times (0.5 s, 1 s, 2 s apart, or what
//! `Retry-After` asks); after that, or at once on a permanent error (another
//! 4xx, a body that is not JSON), the source fails and so does the run. The
//! records of earlier pages were delivered; a re-run starts from the first
//! page (the source keeps no position: pair it with `upsert`).

use super::client::Client;
use crate::support::args::{arg_str, constant, req_str};
use crate::support::template::encode_path_segment;
use crate::support::{decode_error, stopped};
use aqueduct_graph::{Type, Value as GValue};
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use reqwest::{Method, Url};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often a failing page is tried again before the run fails.
pub(crate) const RETRIES: u32 = 3;

/// The longest wait before trying a page again, whatever `Retry-After` says.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// How the next page is found.
enum Paging {
    /// One request.
    None,
    /// `Link: <…>; rel="next"`.
    Link,
    /// A cursor in the body, sent back as a query parameter.
    Cursor { field: String, param: String },
    /// A page number query parameter.
    Page { param: String, first: i64 },
}

/// Fetches a list once, page by page.
pub(crate) struct HttpGet {
    client: Arc<Client>,
    path: String,
    items: Option<String>,
    paging: Paging,
    ty: Type,
    schemas: Arc<Schemas>,
    shutdown: watch::Receiver<bool>,
}

/// The value at a dotted path (`"meta.next"`) of a JSON document.
pub(crate) fn json_at<'a>(
    json: &'a serde_json::Value,
    path: &str,
) -> Option<&'a serde_json::Value> {
    path.split('.')
        .try_fold(json, |value, name| value.as_object()?.get(name))
}

/// [`json_at`], mutable.
fn json_at_mut<'a>(
    json: &'a mut serde_json::Value,
    path: &str,
) -> Option<&'a mut serde_json::Value> {
    path.split('.')
        .try_fold(json, |value, name| value.as_object_mut()?.get_mut(name))
}

/// `url` with the query parameter `name` set to `value` (replacing it if
/// present); the rest of the query is kept as written.
pub(crate) fn with_query(url: &Url, name: &str, value: &str) -> Url {
    let key = encode_path_segment(name);
    let mut query: Vec<String> = url
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(key.as_str()))
        .map(str::to_string)
        .collect();
    query.push(format!("{key}={}", encode_path_segment(value)));
    let mut out = url.clone();
    out.set_query(Some(&query.join("&")));
    out
}

/// The path and query of `url`, for messages (never the host or credentials).
fn shown(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

impl HttpGet {
    pub(crate) fn build(cx: &OpContext, client: Arc<Client>) -> Result<HttpGet, ConnectorError> {
        // the runtime names the flow and the operation before the message
        let config = ConnectorError::Config;
        let paging = match arg_str(cx, "paginate")?.as_deref() {
            None | Some("none") => Paging::None,
            Some("link") => Paging::Link,
            Some("cursor") => Paging::Cursor {
                field: arg_str(cx, "cursor")?.unwrap_or_else(|| "next_cursor".to_string()),
                param: arg_str(cx, "cursor_param")?.unwrap_or_else(|| "cursor".to_string()),
            },
            Some("page") => Paging::Page {
                param: arg_str(cx, "page_param")?.unwrap_or_else(|| "page".to_string()),
                first: match cx.op.arg("first_page").map(constant) {
                    None | Some(Some(GValue::Null)) => 1,
                    Some(Some(GValue::Int(n))) => *n,
                    Some(_) => return Err(config("`first_page` must be an integer".into())),
                },
            },
            Some(other) => {
                return Err(config(format!(
                    "`paginate` is one of link, cursor, page, not `{other}`"
                )));
            }
        };
        // a pagination argument of another style would be ignored: say so at start-up
        let style = match &paging {
            Paging::None => "none",
            Paging::Link => "link",
            Paging::Cursor { .. } => "cursor",
            Paging::Page { .. } => "page",
        };
        for (arg, wants) in [
            ("cursor", "cursor"),
            ("cursor_param", "cursor"),
            ("page_param", "page"),
            ("first_page", "page"),
        ] {
            if wants != style && cx.op.arg(arg).is_some() {
                return Err(config(format!(
                    "`{arg}` applies only with `paginate: {wants}`"
                )));
            }
        }
        Ok(HttpGet {
            client,
            path: req_str(cx, "path")?,
            items: arg_str(cx, "items")?,
            paging,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    /// One page: its records and the next page's URL (`None`: the last page).
    async fn page(
        &self,
        url: &Url,
    ) -> Result<(Vec<serde_json::Value>, Option<Url>), ConnectorError> {
        let what = shown(url);
        let reply = self
            .client
            .send_to(Method::GET, url.as_str(), &what, None)
            .await?;
        Client::check(&Method::GET, &what, &reply, false)?;
        let mut json: serde_json::Value = if reply.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&reply.body).map_err(|e| {
                ConnectorError::Permanent(format!("GET {what}: the answer is not JSON: {e}"))
            })?
        };
        // the records move out of the page (it is not copied); the cursor stays
        let records = match &self.items {
            None => match std::mem::take(&mut json) {
                serde_json::Value::Array(items) => items,
                serde_json::Value::Null => Vec::new(),
                other => vec![other],
            },
            Some(field) => match json_at_mut(&mut json, field).map(std::mem::take) {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(serde_json::Value::Array(items)) => items,
                Some(_) => {
                    return Err(ConnectorError::Permanent(format!(
                        "GET {what}: field `{field}` of the answer is not an array"
                    )));
                }
            },
        };
        let next = match &self.paging {
            Paging::None => None,
            Paging::Link => match &reply.next_link {
                None => None,
                Some(target) => {
                    let next = url.join(target).map_err(|e| {
                        ConnectorError::Permanent(format!(
                            "GET {what}: the next-page link is not a URL: {e}"
                        ))
                    })?;
                    let base = Url::parse(self.client.base()).map_err(|e| {
                        ConnectorError::Permanent(format!("base_url is not a URL: {e}"))
                    })?;
                    if next.origin() != base.origin() {
                        return Err(ConnectorError::Permanent(format!(
                            "GET {what}: the next-page link leaves base_url's host; it is not followed"
                        )));
                    }
                    (next != *url).then_some(next)
                }
            },
            Paging::Cursor { field, param } => match json_at(&json, field) {
                _ if records.is_empty() => None,
                Some(serde_json::Value::String(s)) if !s.is_empty() => {
                    Some(with_query(url, param, s))
                }
                Some(serde_json::Value::Number(n)) => Some(with_query(url, param, &n.to_string())),
                _ => None,
            },
            Paging::Page { param, .. } => {
                if records.is_empty() {
                    None
                } else {
                    let current = url
                        .query_pairs()
                        .find(|(k, _)| k == param)
                        .and_then(|(_, v)| v.parse::<i64>().ok())
                        .unwrap_or(0);
                    Some(with_query(url, param, &(current + 1).to_string()))
                }
            }
        };
        Ok((records, next))
    }

    /// [`HttpGet::page`], tried again on transient failures.
    async fn page_with_retries(
        &mut self,
        url: &Url,
        number: u64,
    ) -> Result<Option<(Vec<serde_json::Value>, Option<Url>)>, ConnectorError> {
        let mut attempt = 0;
        loop {
            match self.page(url).await {
                Ok(page) => return Ok(Some(page)),
                Err(e) if e.is_retryable() && attempt < RETRIES => {
                    let wait = match &e {
                        ConnectorError::RetryAfter { after, .. } => (*after).min(MAX_WAIT),
                        _ => Duration::from_millis(500 << attempt),
                    };
                    attempt += 1;
                    tracing::warn!(page = number, error = %e, attempt, "http get: a page failed; trying it again");
                    let mut shutdown = self.shutdown.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stopped(&mut shutdown) => return Ok(None),
                    }
                }
                Err(e) => {
                    let tries = if e.is_retryable() {
                        format!(" (tried {} times)", attempt + 1)
                    } else {
                        String::new()
                    };
                    let message = format!("page {number}{tries}: {e}");
                    return Err(match e {
                        ConnectorError::Transient(_) | ConnectorError::RetryAfter { .. } => {
                            ConnectorError::Transient(message)
                        }
                        _ => ConnectorError::Permanent(message),
                    });
                }
            }
        }
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let mut url = Url::parse(&self.client.url(&self.path))
            .map_err(|e| ConnectorError::Permanent(format!("GET {}: not a URL: {e}", self.path)))?;
        if let Paging::Page { param, first } = &self.paging {
            url = with_query(&url, param, &first.to_string());
        }
        let mut number = 1;
        loop {
            if *self.shutdown.borrow() {
                return Ok(());
            }
            let Some((records, next)) = self.page_with_retries(&url, number).await? else {
                return Ok(());
            };
            for item in records {
                let record = Value::from_json(&item, &self.ty, &self.schemas)
                    .map_err(|r| decode_error(&item.to_string(), r));
                let envelope = Envelope::new(record, Ack::none());
                if out.send(envelope).await.is_err() {
                    return Ok(());
                }
            }
            match next {
                Some(next) => url = next,
                None => return Ok(()),
            }
            number += 1;
        }
    }
}

impl Source for HttpGet {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin((*self).run_inner(out))
    }
}

#[cfg(test)]
mod tests {
    use super::with_query;
    use reqwest::Url;

    #[test]
    fn sets_one_query_parameter_and_keeps_the_rest_as_written() {
        let url = Url::parse("http://h/x?filter=a%20b&flag&page=1").expect("a url");
        assert_eq!(
            with_query(&url, "page", "2").as_str(),
            "http://h/x?filter=a%20b&flag&page=2"
        );
        let url = Url::parse("http://h/x").expect("a url");
        assert_eq!(
            with_query(&url, "after", "a+b/c=").as_str(),
            "http://h/x?after=a%2Bb%2Fc%3D"
        );
    }
}
