//! `soap`: SOAP 1.1 over HTTP (options `url`, `namespace`, `auth = basic
//! { … }`, `timeout`).
//!
//! `call(operation, action:)` posts one envelope per record: the record is
//! the body element named `operation` (in `namespace` when set, as the
//! default namespace, so its field elements are in it too), one child
//! element per non-null field; headers `Content-Type: text/xml;
//! charset=utf-8` and `SOAPAction: "<action>"`. A `Fault` in the answer is a
//! failure carrying its `faultcode` and `faultstring`: transient for a
//! `Server` fault (the SOAP 1.1 note: the message may succeed later),
//! permanent otherwise. As a call, the children of the answer's body element
//! are read into the declared type.

mod envelope;
mod response;

use crate::group::send_each;
use aqueduct_connectors::http::client::{Client, Payload};
use aqueduct_connectors::support::args::{Options, arg_str, label, req_str};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{
    Call, ConnectorError, ConnectorFactory, OpContext, Rejected, Target,
};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use std::sync::Arc;

/// The `soap` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct SoapConnector;

impl ConnectorFactory for SoapConnector {
    fn kind(&self) -> &'static str {
        "soap"
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        Ok(Arc::new(SoapCall::build(cx)?))
    }

    fn call(&self, cx: &OpContext) -> Result<Arc<dyn Call>, ConnectorError> {
        Ok(Arc::new(SoapCall::build(cx)?))
    }
}

/// One operation of a SOAP service, as a target or a call.
struct SoapCall {
    client: Arc<Client>,
    url: String,
    operation: String,
    namespace: Option<String>,
    action: HeaderValue,
    /// The operation, for messages (the runtime adds `system.call: `).
    what: String,
    ty: Type,
    schemas: Arc<Schemas>,
}

impl SoapCall {
    fn build(cx: &OpContext) -> Result<SoapCall, ConnectorError> {
        if cx.op.operation != "call" {
            return Err(ConnectorError::Config(format!(
                "`{}`: soap has only `call`",
                label(cx)
            )));
        }
        let config =
            |message: String| ConnectorError::Config(format!("`{}`: {message}", label(cx)));
        let client = Client::build_for(cx, "url")?;
        let operation = req_str(cx, "operation")?;
        if !envelope::valid_name(&operation) {
            return Err(config(format!(
                "operation `{operation}` is not an XML element name"
            )));
        }
        let namespace = Options::of(cx).string("namespace")?;
        // SOAP 1.1 §6.1.1: the header is a quoted URI, `""` when empty.
        let action = arg_str(cx, "action")?.unwrap_or_default();
        let quoted = if action.len() >= 2 && action.starts_with('"') && action.ends_with('"') {
            action
        } else {
            format!("\"{action}\"")
        };
        let action = HeaderValue::from_str(&quoted)
            .map_err(|_| config(format!("action {quoted} is not a valid header value")))?;
        Ok(SoapCall {
            url: client.base().to_string(),
            client,
            what: operation.clone(),
            operation,
            namespace,
            action,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
        })
    }

    /// Posts the envelope of `record`; the answer's body element.
    async fn send(&self, record: &Value) -> Result<response::Answer, ConnectorError> {
        let body = envelope::request(&self.operation, self.namespace.as_deref(), record)
            .map_err(|e| ConnectorError::Permanent(format!("{} request: {e}", self.what)))?;
        let payload = Payload {
            content_type: "text/xml; charset=utf-8",
            body,
            headers: vec![(HeaderName::from_static("soapaction"), self.action.clone())],
        };
        let reply = self
            .client
            .send_payload(Method::POST, &self.url, &self.what, Some(payload))
            .await?;
        response::read(&self.what, &reply)
    }
}

impl Target for SoapCall {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            for record in records {
                self.send(record).await?;
            }
            Ok(())
        })
    }

    fn write_partial<'a>(
        &'a self,
        records: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<Rejected>, ConnectorError>> {
        Box::pin(send_each(records, move |record| async move {
            self.send(record).await.map(|_| ())
        }))
    }
}

impl Call for SoapCall {
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let answer = self.send(record).await?;
            answer.value(&self.ty, &self.schemas).map_err(|e| {
                ConnectorError::Permanent(format!(
                    "the answer of {} does not fit {}: {e}",
                    self.what,
                    self.ty.required()
                ))
            })
        })
    }
}
