//! `http.poll(path, every)`: GETs a path at an interval; a JSON array gives
//! one record per element, an object one record. Failed requests are logged
//! and tried again at the next interval. The poller keeps no position.

use super::client::Client;
use crate::support::args::{arg_duration, label, req_str};
use crate::support::{decode_error, stopped};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, OpContext, Source};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use reqwest::Method;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Polls a path.
pub(crate) struct HttpPoll {
    client: Arc<Client>,
    path: String,
    every: Duration,
    ty: Type,
    schemas: Arc<Schemas>,
    shutdown: watch::Receiver<bool>,
}

impl HttpPoll {
    pub(crate) fn build(cx: &OpContext, client: Arc<Client>) -> Result<HttpPoll, ConnectorError> {
        let every = arg_duration(cx, "every")?.ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `every` is required", label(cx)))
        })?;
        Ok(HttpPoll {
            client,
            path: req_str(cx, "path")?,
            every: every.max(Duration::from_millis(10)),
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    async fn fetch(&self) -> Result<Vec<serde_json::Value>, ConnectorError> {
        let reply = self.client.send(Method::GET, &self.path, None).await?;
        Client::check(&Method::GET, &self.path, &reply, false)?;
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let json: serde_json::Value = serde_json::from_slice(&reply.body).map_err(|e| {
            ConnectorError::Permanent(format!("GET {}: the answer is not JSON: {e}", self.path))
        })?;
        Ok(match json {
            serde_json::Value::Array(items) => items,
            serde_json::Value::Null => Vec::new(),
            other => vec![other],
        })
    }
}

impl Source for HttpPoll {
    fn run(
        mut self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let mut interval = tokio::time::interval(self.every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    _ = stopped(&mut self.shutdown) => return Ok(()),
                }
                let items = match self.fetch().await {
                    Ok(items) => items,
                    Err(e) => {
                        tracing::warn!(path = %self.path, error = %e, "http poll failed; trying again at the next interval");
                        continue;
                    }
                };
                for item in items {
                    let record = Value::from_json(&item, &self.ty, &self.schemas)
                        .map_err(|r| decode_error(&item.to_string(), r));
                    if out
                        .send(Envelope {
                            record,
                            ack: Ack::none(),
                            reply: None,
                        })
                        .await
                        .is_err()
                    {
                        return Ok(());
                    }
                }
            }
        })
    }
}
