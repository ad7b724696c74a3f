//! `http.post/put/patch/delete(path)` targets.

use super::client::Client;
use crate::support::args::label;
use crate::support::template::{Template, encode_path_segment};
use aqueduct_runtime::connector::{ConnectorError, OpContext, Target};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use reqwest::Method;
use std::sync::Arc;

/// Sends records.
pub(crate) struct HttpTarget {
    client: Arc<Client>,
    method: Method,
    path: Template,
    /// After a `batch` step: every group is a JSON array, even of one.
    batched: bool,
}

impl HttpTarget {
    pub(crate) fn build(
        cx: &OpContext,
        client: Arc<Client>,
        method: Method,
    ) -> Result<HttpTarget, ConnectorError> {
        let expr = cx.op.arg("path").ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `path` is required", label(cx)))
        })?;
        let path = Template::new(expr, &cx.schemas)
            .map_err(|e| ConnectorError::Config(format!("`{}`: path: {e}", label(cx))))?;
        Ok(HttpTarget {
            client,
            method,
            path,
            batched: cx.batched,
        })
    }

    async fn send(&self, path: &str, body: Option<String>) -> Result<(), ConnectorError> {
        let reply = self.client.send(self.method.clone(), path, body).await?;
        Client::check(&self.method, path, &reply, self.method == Method::DELETE)
    }
}

impl Target for HttpTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            // Records sharing a path go in one request, in order of first appearance.
            let mut groups: Vec<(String, Vec<&Value>)> = Vec::new();
            for record in records {
                let path = self
                    .path
                    .render(record, encode_path_segment)
                    .map_err(ConnectorError::Permanent)?;
                match groups.iter_mut().find(|(p, _)| *p == path) {
                    Some((_, group)) if self.method != Method::DELETE => group.push(record),
                    _ => groups.push((path, vec![record])),
                }
            }
            for (path, group) in groups {
                let body = match (self.method == Method::DELETE, group.as_slice()) {
                    (true, _) => None,
                    (false, [one]) if !self.batched => Some(one.to_json_string()),
                    (false, many) => Some(format!(
                        "[{}]",
                        many.iter()
                            .map(|r| r.to_json_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    )),
                };
                self.send(&path, body).await?;
            }
            Ok(())
        })
    }
}
