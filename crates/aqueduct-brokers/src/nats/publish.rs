//! `nats.publish(subject, format:)`: publishing through JetStream.
//!
//! Each message is published to JetStream and the write returns only when
//! the stream capturing the subject acknowledged storing it. A subject that
//! no stream captures is a permanent error (JetStream answers "no
//! responders", and listing the streams by subject finds none), never a
//! silent drop; "no responders" while JetStream does not answer at all (a
//! server restarting) is transient, for the flow's retry.

use super::{Endpoint, Lazy};
use crate::payload::Payload;
use aqueduct_connectors::support::args::label;
use aqueduct_connectors::support::template::Template;
use aqueduct_runtime::connector::{ConnectorError, OpContext, Target};
use aqueduct_runtime::value::Value;
use async_nats::jetstream::context::{GetStreamByNameErrorKind, PublishErrorKind};
use futures::future::BoxFuture;
use std::time::Duration;

/// How long the stream lookup after a "no responders" may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct Publish {
    nats: Lazy,
    /// Made once: each context runs its own ack task.
    js: tokio::sync::OnceCell<async_nats::jetstream::Context>,
    subject: Template,
    payload: Payload,
}

impl Publish {
    pub(crate) fn build(cx: &OpContext) -> Result<Publish, ConnectorError> {
        let expr = cx.op.arg("subject").ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `subject` is required", label(cx)))
        })?;
        let subject = Template::new(expr, &cx.schemas)
            .map_err(|e| ConnectorError::Config(format!("`{}`: subject: {e}", label(cx))))?;
        Ok(Publish {
            nats: Lazy::new(Endpoint::of(cx)?),
            js: tokio::sync::OnceCell::new(),
            subject,
            payload: Payload::from_args(cx)?,
        })
    }
}

impl Target for Publish {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let ep = self.nats.endpoint();
            let client = self.nats.client().await?;
            let js = self
                .js
                .get_or_init(|| async { async_nats::jetstream::new(client.clone()) })
                .await;
            // publish the whole group, then wait for every stream ack
            let mut pending = Vec::with_capacity(records.len());
            for record in records {
                let subject = self
                    .subject
                    .render(record, str::to_string)
                    .map_err(|e| ep.permanent("subject", e))?;
                let body = self.payload.encode(record)?;
                let ack = js
                    .publish(subject.clone(), body.into())
                    .await
                    .map_err(|e| ep.transient(&format!("cannot publish on `{subject}`"), e))?;
                pending.push((subject, ack));
            }
            for (subject, ack) in pending {
                match ack.await {
                    Ok(_) => {}
                    Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
                        let what = format!("no JetStream stream captures subject `{subject}`");
                        // "No responders" also while a restarted server is
                        // still loading its streams: permanent only when
                        // JetStream itself says no stream captures it
                        // Bounded: the connection has no request timeout, and a
                        // request sent while the server goes away is never
                        // answered (the write then hung for good, and so did the flow)
                        let lookup = tokio::time::timeout(
                            LOOKUP_TIMEOUT,
                            js.stream_by_subject(subject.as_str()),
                        )
                        .await;
                        return Err(match lookup {
                            Ok(Err(lookup))
                                if lookup.kind() == GetStreamByNameErrorKind::NotFound =>
                            {
                                ep.permanent(&what, e)
                            }
                            Err(_) => ep.transient(
                                &format!(
                                    "{what} (JetStream did not answer the stream lookup within {} s)",
                                    LOOKUP_TIMEOUT.as_secs()
                                ),
                                e,
                            ),
                            _ => ep.transient(&format!("{what} (JetStream not answering yet)"), e),
                        });
                    }
                    Err(e) => {
                        return Err(ep.transient(
                            &format!("JetStream did not acknowledge the message on `{subject}`"),
                            e,
                        ));
                    }
                }
            }
            Ok(())
        })
    }
}
