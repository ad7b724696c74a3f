//! `mqtt`: MQTT 3.1.1 brokers such as Mosquitto (options `url`, `client_id`).
//!
//! `subscribe(filter, qos, format:)` at QoS 1 or 2 (the default is 1) keeps a
//! persistent session under a fixed client id and acknowledges a message
//! (PUBACK / PUBREC) only after the executor acked its record, in the order
//! the messages came: a message in flight when aqueduct stops or crashes is
//! sent again by the broker when the session resumes. At QoS 0 it is at
//! most once (`aqueduct check` says so). `publish(topic, qos, retain:,
//! format:)` at QoS 1 or 2 returns only when the broker acknowledged the
//! message (PUBACK, or PUBCOMP at QoS 2).

mod ack_gate;
mod publish;
mod subscribe;

use aqueduct_connectors::support::args::{Options, label};
use aqueduct_graph::Value as GValue;
use aqueduct_runtime::connector::{ConnectorError, ConnectorFactory, OpContext, Source, Target};
use rumqttc::{MqttOptions, QoS};
use std::sync::Arc;

/// The `mqtt` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct MqttConnector;

impl ConnectorFactory for MqttConnector {
    fn kind(&self) -> &'static str {
        "mqtt"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        match cx.op.operation.as_str() {
            "subscribe" => Ok(Box::new(subscribe::Subscribe::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`mqtt.{other}` cannot be used as a source"
            ))),
        }
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        match cx.op.operation.as_str() {
            "publish" => Ok(Arc::new(publish::Publish::build(cx)?)),
            other => Err(ConnectorError::Config(format!(
                "`mqtt.{other}` cannot be used as a target"
            ))),
        }
    }
}

/// Where to connect and as whom; the URL (which may hold a password) never
/// appears in messages.
#[derive(Clone)]
pub(crate) struct Endpoint {
    url: String,
    /// The `client_id` option, or `aqueduct-` and the flow name.
    pub(crate) client_id: String,
    /// `system.operation`, naming the system in messages.
    pub(crate) label: String,
}

impl Endpoint {
    pub(crate) fn of(cx: &OpContext) -> Result<Endpoint, ConnectorError> {
        let options = Options::of(cx);
        Ok(Endpoint {
            url: options.required("url")?,
            client_id: options
                .string("client_id")?
                .unwrap_or_else(|| format!("aqueduct-{}", cx.flow)),
            label: label(cx),
        })
    }

    /// Connection options for `client_id`.
    pub(crate) fn options(&self, client_id: &str) -> Result<MqttOptions, ConnectorError> {
        crate::install_crypto();
        let encoded: String = client_id
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let separator = if self.url.contains('?') { '&' } else { '?' };
        let url = format!("{}{separator}client_id={encoded}", self.url);
        MqttOptions::parse_url(url).map_err(|e| {
            ConnectorError::Config(format!(
                "`{}`: the url is not an MQTT URL (mqtt://host:1883 or mqtts://host:8883): {e}",
                self.label
            ))
        })
    }
}

/// The `qos` argument (default 1).
pub(crate) fn qos(cx: &OpContext) -> Result<QoS, ConnectorError> {
    match cx
        .op
        .arg("qos")
        .map(aqueduct_connectors::support::args::constant)
    {
        None | Some(Some(GValue::Null)) | Some(Some(GValue::Int(1))) => Ok(QoS::AtLeastOnce),
        Some(Some(GValue::Int(0))) => Ok(QoS::AtMostOnce),
        Some(Some(GValue::Int(2))) => Ok(QoS::ExactlyOnce),
        Some(_) => Err(ConnectorError::Config(format!(
            "`{}`: qos must be 0, 1 or 2",
            label(cx)
        ))),
    }
}
