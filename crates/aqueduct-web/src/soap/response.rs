//! Reading a SOAP 1.1 answer: a `Fault` (in a 500, or in any status) is a
//! failure with its `faultcode` and `faultstring`; a 2xx envelope's first
//! body element is the answer; other statuses follow the `http` policy.

use aqueduct_connectors::formats::{XmlElement, parse_xml, xml_value};
use aqueduct_connectors::http::client::{Client, Reply};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::ConnectorError;
use aqueduct_runtime::secrets::excerpt;
use aqueduct_runtime::value::{Schemas, Value};
use reqwest::Method;

/// The answer's body element (none for an empty answer, e.g. a one-way
/// operation's 202).
pub(crate) struct Answer(Option<XmlElement>);

impl Answer {
    /// The body element read as `ty` (its children by field name).
    pub(crate) fn value(&self, ty: &Type, schemas: &Schemas) -> Result<Value, String> {
        match &self.0 {
            Some(el) => xml_value(el, ty, schemas),
            None if ty.is_optional() => Ok(Value::Null),
            None => Err("the answer has no body element".to_string()),
        }
    }
}

/// The child element named `name`.
fn child<'a>(el: &'a XmlElement, name: &str) -> Option<&'a XmlElement> {
    el.children.iter().find(|c| c.name == name)
}

/// The text of child `name`, trimmed ("" when absent).
fn child_text(el: &XmlElement, name: &str) -> String {
    child(el, name)
        .map(|c| c.text.trim().to_string())
        .unwrap_or_default()
}

/// The body element of an envelope, or why there is none.
fn body_element(root: XmlElement) -> Result<Option<XmlElement>, String> {
    if root.name != "Envelope" {
        return Err(format!(
            "the answer is not a SOAP envelope (its root element is `{}`)",
            root.name
        ));
    }
    let body = root
        .children
        .into_iter()
        .find(|c| c.name == "Body")
        .ok_or("the SOAP envelope has no Body")?;
    Ok(body.children.into_iter().next())
}

/// A fault as a connector error: `Server` faults may pass (SOAP 1.1 §4.4.1),
/// every other code will fail the same way again.
fn fault_error(what: &str, status: u16, fault: &XmlElement) -> ConnectorError {
    let code = child_text(fault, "faultcode");
    let string = child_text(fault, "faultstring");
    // redacted: a service may echo what it was sent
    let message = excerpt(
        &format!("SOAP fault {code} from {what} (HTTP {status}): {string}"),
        400,
    );
    let local = code.rsplit(':').next().unwrap_or_default();
    if local == "Server" || local.starts_with("Server.") {
        ConnectorError::Transient(message)
    } else {
        ConnectorError::Permanent(message)
    }
}

/// Reads the reply of a SOAP request.
pub(crate) fn read(what: &str, reply: &Reply) -> Result<Answer, ConnectorError> {
    let text = String::from_utf8_lossy(&reply.body);
    let parsed = if text.trim().is_empty() {
        None
    } else {
        Some(parse_xml(&text).and_then(body_element))
    };
    if let Some(Ok(Some(el))) = &parsed
        && el.name == "Fault"
    {
        return Err(fault_error(what, reply.status.as_u16(), el));
    }
    Client::check(&Method::POST, what, reply, false)?;
    match parsed {
        None => Ok(Answer(None)),
        Some(Ok(el)) => Ok(Answer(el)),
        Some(Err(e)) => Err(ConnectorError::Permanent(format!(
            "the answer of {what}: {e}: {}",
            excerpt(&text.replace(['\n', '\r'], " "), 200)
        ))),
    }
}

#[cfg(test)]
mod tests;
