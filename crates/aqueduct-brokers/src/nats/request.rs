//! `nats.request(subject, timeout:, format:)`: request-reply as an `enrich`.
//!
//! The record is sent as the request (in `format`) and the reply decoded
//! into the enrich's type the same way. No reply within `timeout`
//! (default 5s) is a transient error, as is "no responders" (the service may
//! be restarting); a reply that does not decode is permanent.

use super::{Endpoint, Lazy};
use crate::payload::Payload;
use aqueduct_connectors::support::args::{arg_duration, label};
use aqueduct_connectors::support::template::Template;
use aqueduct_runtime::connector::{Call, ConnectorError, OpContext};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use std::time::Duration;

/// Default wait for a reply.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct Request {
    nats: Lazy,
    subject: Template,
    timeout: Duration,
    /// Encodes the request (the flow's record) and decodes the reply into
    /// the enrich's type.
    payload: Payload,
}

impl Request {
    pub(crate) fn build(cx: &OpContext) -> Result<Request, ConnectorError> {
        let expr = cx.op.arg("subject").ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `subject` is required", label(cx)))
        })?;
        let subject = Template::new(expr, &cx.schemas)
            .map_err(|e| ConnectorError::Config(format!("`{}`: subject: {e}", label(cx))))?;
        Ok(Request {
            nats: Lazy::new(Endpoint::of(cx)?),
            subject,
            timeout: arg_duration(cx, "timeout")?.unwrap_or(DEFAULT_TIMEOUT),
            payload: Payload::from_args(cx)?,
        })
    }
}

impl Call for Request {
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let ep = self.nats.endpoint();
            let client = self.nats.client().await?;
            let subject = self
                .subject
                .render(record, str::to_string)
                .map_err(|e| ep.permanent("subject", e))?;
            let body = self.payload.encode(record)?;
            let reply =
                tokio::time::timeout(self.timeout, client.request(subject.clone(), body.into()))
                    .await
                    .map_err(|_| {
                        ep.transient(
                            &format!("no reply on `{subject}`"),
                            format!("timed out after {:?}", self.timeout),
                        )
                    })?
                    .map_err(|e| ep.transient(&format!("request on `{subject}` failed"), e))?;
            self.payload.decode(&reply.payload).map_err(|e| {
                ep.permanent(
                    &format!("the reply on `{subject}` does not decode"),
                    e.reason,
                )
            })
        })
    }
}
