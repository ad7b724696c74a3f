//! `amqp.publish(exchange, routing_key, format:)`: confirmed publishing.
//!
//! The channel is in confirm mode and every message is published with the
//! `mandatory` flag and delivery mode 2 (persistent). A write returns only
//! when the broker confirmed each of its messages; a nack, or a message
//! returned as unroutable (no queue bound for its routing key), is an error
//! naming the exchange and routing key. After a connection failure the next
//! write connects again.

use super::Endpoint;
use crate::payload::{Format, Payload};
use aqueduct_connectors::support::args::{label, req_str};
use aqueduct_connectors::support::template::Template;
use aqueduct_runtime::connector::{ConnectorError, OpContext, Target};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::Mutex;

pub(crate) struct Publish {
    endpoint: Endpoint,
    exchange: String,
    routing_key: Option<Template>,
    payload: Payload,
    open: Mutex<Option<(Connection, Channel)>>,
}

impl Publish {
    pub(crate) fn build(cx: &OpContext) -> Result<Publish, ConnectorError> {
        let routing_key = match cx.op.arg("routing_key") {
            None => None,
            Some(expr) => Some(Template::new(expr, &cx.schemas).map_err(|e| {
                ConnectorError::Config(format!("`{}`: routing_key: {e}", label(cx)))
            })?),
        };
        Ok(Publish {
            endpoint: Endpoint::of(cx)?,
            exchange: req_str(cx, "exchange")?,
            routing_key,
            payload: Payload::from_args(cx)?,
            open: Mutex::new(None),
        })
    }

    async fn channel(
        &self,
        open: &mut Option<(Connection, Channel)>,
    ) -> Result<Channel, ConnectorError> {
        if let Some((connection, channel)) = open.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let connection = self.endpoint.connect().await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| self.endpoint.error("cannot open a channel", &e))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| self.endpoint.error("cannot enable publisher confirms", &e))?;
        *open = Some((connection, channel.clone()));
        Ok(channel)
    }

    fn properties(&self) -> BasicProperties {
        let content_type = match self.payload.format {
            Format::Json => "application/json",
            Format::Text => "text/plain; charset=utf-8",
            Format::Bytes => "application/octet-stream",
        };
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(content_type.into())
    }

    async fn publish_all(
        &self,
        channel: &Channel,
        records: &[Value],
    ) -> Result<(), ConnectorError> {
        let ep = &self.endpoint;
        let options = BasicPublishOptions {
            mandatory: true,
            immediate: false,
        };
        // publish the whole group, then wait for every confirm
        let mut pending = Vec::with_capacity(records.len());
        for record in records {
            let key = match &self.routing_key {
                Some(t) => t.render(record, str::to_string).map_err(|e| {
                    ConnectorError::Permanent(format!("`{}`: routing_key: {e}", ep.label))
                })?,
                None => String::new(),
            };
            let body = self.payload.encode(record)?;
            let confirm = channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    key.as_str().into(),
                    options,
                    &body,
                    self.properties(),
                )
                .await
                .map_err(|e| ep.error("cannot publish", &e))?;
            pending.push((key, confirm));
        }
        for (key, confirm) in pending {
            let confirmation = confirm
                .await
                .map_err(|e| ep.error("no publisher confirm", &e))?;
            let nack = confirmation.is_nack();
            if let Some(returned) = confirmation.take_message() {
                return Err(ConnectorError::Permanent(format!(
                    "`{}`: the broker could not route the message to any queue (exchange `{}`, routing key `{key}`): {} {}",
                    ep.label, self.exchange, returned.reply_code, returned.reply_text
                )));
            }
            if nack {
                return Err(ConnectorError::Transient(format!(
                    "`{}`: the broker refused the message (nack; exchange `{}`, routing key `{key}`)",
                    ep.label, self.exchange
                )));
            }
        }
        Ok(())
    }
}

impl Target for Publish {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let mut open = self.open.lock().await;
            let channel = self.channel(&mut open).await?;
            let result = self.publish_all(&channel, records).await;
            if let Err(e) = &result
                && e.is_retryable()
            {
                // start over on a fresh connection next time
                *open = None;
            }
            result
        })
    }

    fn finish(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            if let Some((connection, _)) = self.open.lock().await.take() {
                let _ = connection.close(200, "aqueduct done".into()).await;
            }
            Ok(())
        })
    }
}
