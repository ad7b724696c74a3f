//! `http.poll(path, every, watermark)`: GETs a path at an interval; a JSON
//! array gives one record per element, an object one record. Failed
//! requests are logged and tried again at the next interval.
//!
//! Without `watermark` the poller keeps no position: every response is
//! delivered whole, each time. With `watermark: "field"` (a dotted path into
//! each element, e.g. an id or an `updated_at` timestamp), the elements of a
//! response are delivered in order of that field, and only those whose field
//! is greater than the watermark: the greatest value delivered so far. The
//! watermark is saved in the state store under `http:{flow}:watermark` once
//! the records up to it are acknowledged (delivered or dead-lettered), so
//! neither an interval nor a restart delivers (or dead-letters) the same
//! elements again. Numbers compare as numbers; strings that are both RFC 3339
//! timestamps compare as instants, other strings byte-wise. An element
//! whose field is missing, null or not comparable with the watermark cannot
//! be placed: it is delivered each time it is seen, with a warning, rather
//! than dropped. With `watermark_param: "since"` the saved watermark is
//! also sent as that query parameter (`/items?since=42`), so an API that
//! can filter answers only newer elements; the filter above still applies.

use super::client::Client;
use super::get::{json_at, with_query};
use crate::support::args::{arg_duration, arg_str, label, req_str};
use crate::support::commit::Committer;
use crate::support::{decode_error, stopped};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source, StateStore};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::Value as Json;
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Polls a path.
pub(crate) struct HttpPoll {
    client: Arc<Client>,
    path: String,
    every: Duration,
    watermark: Option<String>,
    /// The query parameter the saved watermark is sent in.
    watermark_param: Option<String>,
    key: String,
    ty: Type,
    schemas: Arc<Schemas>,
    state: Arc<dyn StateStore>,
    shutdown: watch::Receiver<bool>,
}

/// Orders two watermark values; `None` when they cannot be compared.
pub(crate) fn compare(a: &Json, b: &Json) -> Option<Ordering> {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Json::String(x), Json::String(y)) => {
            match (
                chrono::DateTime::parse_from_rfc3339(x),
                chrono::DateTime::parse_from_rfc3339(y),
            ) {
                (Ok(x), Ok(y)) => Some(x.cmp(&y)),
                _ => Some(x.cmp(y)),
            }
        }
        _ => None,
    }
}

/// The field's value of an element, when it can serve as a watermark.
fn mark_of(item: &Json, field: &str) -> Option<Json> {
    json_at(item, field)
        .filter(|v| v.is_number() || v.is_string())
        .cloned()
}

impl HttpPoll {
    pub(crate) fn build(cx: &OpContext, client: Arc<Client>) -> Result<HttpPoll, ConnectorError> {
        let every = arg_duration(cx, "every")?.ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `every` is required", label(cx)))
        })?;
        let watermark = arg_str(cx, "watermark")?;
        // a misspelt field would place no element: every one would come at every interval
        if let (Some(field), Type::Record(name)) = (&watermark, &cx.record_type)
            && let Some(layout) = cx.schemas.layout(name)
        {
            let first = field.split('.').next().unwrap_or(field);
            if !layout.fields.iter().any(|f| f.name == first) {
                return Err(ConnectorError::Config(format!(
                    "`watermark`: `{name}` has no field `{first}`"
                )));
            }
        }
        Ok(HttpPoll {
            client,
            path: req_str(cx, "path")?,
            every: every.max(Duration::from_millis(10)),
            watermark_param: match (&watermark, arg_str(cx, "watermark_param")?) {
                (None, Some(_)) => {
                    return Err(ConnectorError::Config(
                        "`watermark_param` needs `watermark`".to_string(),
                    ));
                }
                (_, param) => param,
            },
            watermark,
            key: format!("http:{}:watermark", cx.flow),
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            state: cx.state.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    async fn fetch(&self, mark: &Option<Json>) -> Result<Vec<Json>, ConnectorError> {
        let reply = match (&self.watermark_param, mark) {
            (Some(param), Some(mark)) => {
                let value = match mark {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let url = reqwest::Url::parse(&self.client.url(&self.path)).map_err(|e| {
                    ConnectorError::Permanent(format!("GET {}: not a URL: {e}", self.path))
                })?;
                let url = with_query(&url, param, &value);
                let shown = match url.query() {
                    Some(q) => format!("{}?{q}", url.path()),
                    None => url.path().to_string(),
                };
                let reply = self
                    .client
                    .send_to(Method::GET, url.as_str(), &shown, None)
                    .await?;
                Client::check(&Method::GET, &shown, &reply, false)?;
                reply
            }
            _ => {
                let reply = self.client.send(Method::GET, &self.path, None).await?;
                Client::check(&Method::GET, &self.path, &reply, false)?;
                reply
            }
        };
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let json: Json = serde_json::from_slice(&reply.body).map_err(|e| {
            ConnectorError::Permanent(format!("GET {}: the answer is not JSON: {e}", self.path))
        })?;
        Ok(match json {
            Json::Array(items) => items,
            Json::Null => Vec::new(),
            other => vec![other],
        })
    }

    /// The elements to deliver, each with the watermark it moves to.
    fn select(&self, items: Vec<Json>, mark: &Option<Json>) -> Vec<(Json, Option<Json>)> {
        let Some(field) = &self.watermark else {
            return items.into_iter().map(|i| (i, None)).collect();
        };
        let mut placed = Vec::new();
        let mut unplaced = Vec::new();
        for item in items {
            let value = mark_of(&item, field);
            let fresh = match (&value, mark) {
                (None, _) => None,
                (Some(_), None) => Some(true),
                (Some(v), Some(m)) => compare(v, m).map(|o| o == Ordering::Greater),
            };
            match (fresh, value) {
                (Some(true), Some(v)) => placed.push((item, Some(v))),
                (Some(_), _) => {}
                (None, _) => unplaced.push((item, None)),
            }
        }
        if !unplaced.is_empty() {
            tracing::warn!(path = %self.path, field = %field, count = unplaced.len(), "http poll: elements without a comparable watermark field are delivered each time");
        }
        // in order of the field, so each saved watermark covers every record before it
        placed.sort_by(|(_, a), (_, b)| match (a, b) {
            (Some(a), Some(b)) => compare(a, b).unwrap_or(Ordering::Equal),
            _ => Ordering::Equal,
        });
        unplaced.extend(placed);
        unplaced
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let mut mark: Option<Json> = match &self.watermark {
            None => None,
            Some(_) => self
                .state
                .get(&self.key)
                .await?
                .and_then(|text| serde_json::from_str(&text).ok()),
        };
        let committer = self
            .watermark
            .is_some()
            .then(|| Committer::start(self.state.clone(), self.key.clone()));
        let mut interval = tokio::time::interval(self.every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        'poll: loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = stopped(&mut self.shutdown) => break,
            }
            let items = match self.fetch(&mark).await {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(path = %self.path, error = %e, "http poll failed; trying again at the next interval");
                    continue;
                }
            };
            for (item, position) in self.select(items, &mark) {
                let record = Value::from_json(&item, &self.ty, &self.schemas)
                    .map_err(|r| decode_error(&item.to_string(), r));
                let (ack, ack_rx) = Ack::new_if(committer.is_some());
                let envelope = Envelope::new(record, ack);
                if out.send(envelope).await.is_err() {
                    break 'poll;
                }
                let saved = position.map(|p| {
                    let text = p.to_string();
                    mark = Some(p);
                    text
                });
                if let (Some(committer), Some(rx)) = (&committer, ack_rx) {
                    committer.push(rx, saved);
                }
            }
        }
        drop(out);
        if let Some(committer) = committer {
            committer.finish().await?;
        }
        Ok(())
    }
}

impl Source for HttpPoll {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin((*self).run_inner(out))
    }
}

#[cfg(test)]
mod tests {
    use super::compare;
    use serde_json::json;
    use std::cmp::Ordering;

    #[test]
    fn compares_numbers_timestamps_and_strings() {
        assert_eq!(compare(&json!(10), &json!(9)), Some(Ordering::Greater));
        assert_eq!(compare(&json!(1.5), &json!(2)), Some(Ordering::Less));
        // the same instant written in two offsets
        assert_eq!(
            compare(
                &json!("2026-01-01T10:00:00+01:00"),
                &json!("2026-01-01T09:00:00Z")
            ),
            Some(Ordering::Equal)
        );
        assert_eq!(compare(&json!("b"), &json!("a")), Some(Ordering::Greater));
        assert_eq!(compare(&json!("1"), &json!(1)), None);
    }
}
