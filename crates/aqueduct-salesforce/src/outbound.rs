//! `outbound_messages(path, listen:, organization_id:)`: a listener for
//! workflow outbound messages (SOAP 1.1 notifications Salesforce posts).
//!
//! Each notified sObject becomes a record (its fields by name, converted
//! from text to the declared type; `_notification_id` is set when declared,
//! for `dedupe`). The SOAP `Ack` is answered only once every record of the
//! message is acknowledged (delivered or dead-lettered); otherwise the
//! answer is a SOAP fault (HTTP 500) and Salesforce delivers the message
//! again later, so nothing is lost when the process dies before the Ack.
//! With `organization_id` set, a message from another org is refused
//! (HTTP 403 fault) and makes no record.

use crate::convert;
use aqueduct_connectors::support::args::{arg_str, label, req_str};
use aqueduct_connectors::support::{decode_error, stopped};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Ack, ConnectorError, DecodeError, Envelope, OpContext, Source};
use aqueduct_runtime::value::{Schemas, Value};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::future::BoxFuture;
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long a message waits for its records' acknowledgements (Salesforce
/// gives an attempt 60 s).
const ACK_WAIT: Duration = Duration::from_secs(50);

const ACK: &str = r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#;

/// One notification: its id and its sObject's fields (`None` for nil).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Notification {
    pub(crate) id: String,
    pub(crate) fields: Vec<(String, Option<String>)>,
}

/// A parsed `notifications` message.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Message {
    pub(crate) organization_id: String,
    pub(crate) notifications: Vec<Notification>,
}

/// Whether the element carries `xsi:nil="true"`.
fn is_nil(e: &quick_xml::events::BytesStart<'_>) -> bool {
    e.attributes().flatten().any(|a| {
        a.key.local_name().as_ref() == "nil"
            && a.normalized_value(XmlVersion::Implicit1_0)
                .is_ok_and(|v| v == "true")
    })
}

/// Parses the SOAP body Salesforce posts.
pub(crate) fn parse(xml: &str) -> Result<Message, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut message = Message::default();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut nil = false;
    loop {
        match reader.read_event() {
            Err(e) => return Err(format!("malformed XML: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                let name = e.local_name().as_ref().to_string();
                if name == "Notification" {
                    message.notifications.push(Notification::default());
                }
                nil = is_nil(&e);
                path.push(name);
                text.clear();
            }
            Ok(Event::Empty(e)) => {
                // <sf:Phone xsi:nil="true"/> or an empty value
                let name = e.local_name().as_ref().to_string();
                let is_nil = is_nil(&e);
                if path.last().map(String::as_str) == Some("sObject")
                    && let Some(n) = message.notifications.last_mut()
                {
                    n.fields
                        .push((name, if is_nil { None } else { Some(String::new()) }));
                }
            }
            Ok(Event::Text(t)) => text.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| format!("malformed XML: {e}"))?
                } else {
                    match r.xml10_content().as_ref() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        other => return Err(format!("malformed XML: unknown entity `&{other};`")),
                    }
                };
                text.extend(resolved);
            }
            Ok(Event::CData(c)) => text.push_str(&c.into_inner()),
            Ok(Event::End(_)) => {
                let name = path.pop().unwrap_or_default();
                let parent = path.last().map(String::as_str).unwrap_or("");
                match (parent, name.as_str()) {
                    ("notifications", "OrganizationId") => {
                        message.organization_id = text.trim().to_string()
                    }
                    ("Notification", "Id") => {
                        if let Some(n) = message.notifications.last_mut() {
                            n.id = text.trim().to_string();
                        }
                    }
                    ("sObject", field) => {
                        if let Some(n) = message.notifications.last_mut() {
                            let value = if nil { None } else { Some(text.clone()) };
                            n.fields.push((field.to_string(), value));
                        }
                    }
                    _ => {}
                }
                text.clear();
                nil = false;
            }
            Ok(_) => {}
        }
    }
    Ok(message)
}

/// A SOAP fault answer.
fn fault(status: StatusCode, message: &str) -> Response {
    let escaped = quick_xml::escape::escape(message);
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>{escaped}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#
    );
    (status, [("content-type", "text/xml; charset=utf-8")], body).into_response()
}

/// What the route handler needs.
struct Shared {
    out: mpsc::Sender<Envelope>,
    ty: Type,
    schemas: Arc<Schemas>,
    organization_id: Option<String>,
    label: String,
}

impl Shared {
    fn record(&self, n: &Notification) -> Result<Value, DecodeError> {
        let raw = format!("{n:?}");
        let layout = match self.ty.required() {
            Type::Record(name) => self.schemas.layout(name).cloned(),
            _ => None,
        }
        .ok_or_else(|| decode_error(&raw, "outbound_messages needs a record type"))?;
        convert::build(&layout, |field| {
            if field.name == "_notification_id" {
                return Ok(Value::string(n.id.as_str()));
            }
            match n.fields.iter().find(|(k, _)| k == &field.name) {
                Some((_, Some(text))) => convert::from_cell(text, &field.ty, &self.schemas)
                    .map_err(|e| format!("field `{}`: {e}", field.name)),
                _ => Ok(Value::Null),
            }
        })
        .map_err(|reason| decode_error(&raw, reason))
    }
}

async fn receive(State(shared): State<Arc<Shared>>, body: String) -> Response {
    let message = match parse(&body) {
        Ok(m) => m,
        Err(e) => return fault(StatusCode::BAD_REQUEST, &e),
    };
    if let Some(org) = &shared.organization_id
        && !org.is_empty()
        && message.organization_id.get(..15) != org.get(..15)
    {
        tracing::warn!(source = %shared.label, org = %message.organization_id, "Refused an outbound message from another org");
        return fault(
            StatusCode::FORBIDDEN,
            "this listener does not accept messages from that organization",
        );
    }
    let mut acks = Vec::new();
    for n in &message.notifications {
        let (ack, rx) = Ack::new();
        let envelope = Envelope::new(shared.record(n), ack);
        if shared.out.send(envelope).await.is_err() {
            return fault(StatusCode::SERVICE_UNAVAILABLE, "the flow is stopping");
        }
        acks.push(rx);
    }
    let all = async {
        for rx in acks {
            if rx.await.is_err() {
                return false;
            }
        }
        true
    };
    match tokio::time::timeout(ACK_WAIT, all).await {
        Ok(true) => (
            StatusCode::OK,
            [("content-type", "text/xml; charset=utf-8")],
            ACK,
        )
            .into_response(),
        _ => fault(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the notifications could not be taken in; deliver them again",
        ),
    }
}

/// The listener source.
pub(crate) struct OutboundSource {
    path: String,
    listen: SocketAddr,
    organization_id: Option<String>,
    ty: Type,
    schemas: Arc<Schemas>,
    shutdown: watch::Receiver<bool>,
    label: String,
}

impl OutboundSource {
    pub(crate) fn build(cx: &OpContext) -> Result<OutboundSource, ConnectorError> {
        let listen = req_str(cx, "listen")?;
        let listen = listen.parse().map_err(|_| {
            ConnectorError::Config(format!(
                "`{}`: listen `{listen}` is not an address and port such as 0.0.0.0:8443",
                label(cx)
            ))
        })?;
        let mut path = req_str(cx, "path")?;
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        Ok(OutboundSource {
            path,
            listen,
            organization_id: arg_str(cx, "organization_id")?,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
            shutdown: cx.shutdown.clone(),
            label: label(cx),
        })
    }
}

impl Source for OutboundSource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let listener = tokio::net::TcpListener::bind(self.listen)
                .await
                .map_err(|e| {
                    ConnectorError::Permanent(format!(
                        "`{}`: cannot listen on {}: {e}",
                        self.label, self.listen
                    ))
                })?;
            tracing::info!(source = %self.label, listen = %self.listen, path = %self.path, "Listening for Salesforce outbound messages");
            let shared = Arc::new(Shared {
                out,
                ty: self.ty.clone(),
                schemas: self.schemas.clone(),
                organization_id: self.organization_id.clone(),
                label: self.label.clone(),
            });
            let app = Router::new()
                .route(&self.path, post(receive))
                .with_state(shared);
            let mut shutdown = self.shutdown.clone();
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped(&mut shutdown).await })
                .await
                .map_err(|e| ConnectorError::Transient(format!("`{}`: listener: {e}", self.label)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The notification example of the reference (§5, Salesforce's
    /// outbound messaging documentation).
    #[test]
    fn parses_the_documented_notification() {
        let xml = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00DXX0000001gPFEAY</OrganizationId>
   <ActionId>04kXX00000000blAAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/00DXX0000001gPF</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00DXX0000001gPF</PartnerUrl>
   <Notification>
    <Id>04lXX000000CaSdAAK</Id>
    <sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>001XX000003DGb2AAG</sf:Id>
     <sf:Name>Acme &amp; Sons</sf:Name>
     <sf:Phone xsi:nil="true"/>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#;
        let m = parse(xml).expect("parses");
        assert_eq!(m.organization_id, "00DXX0000001gPFEAY");
        assert_eq!(
            m.notifications,
            vec![Notification {
                id: "04lXX000000CaSdAAK".into(),
                fields: vec![
                    ("Id".into(), Some("001XX000003DGb2AAG".into())),
                    ("Name".into(), Some("Acme & Sons".into())),
                    ("Phone".into(), None),
                ],
            }]
        );
    }
}
