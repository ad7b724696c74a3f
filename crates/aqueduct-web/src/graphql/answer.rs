//! Reading a GraphQL answer: `errors` is a failure with their messages,
//! `data` is the result.

use aqueduct_connectors::http::client::{Client, Reply};
use aqueduct_runtime::connector::ConnectorError;
use aqueduct_runtime::secrets::excerpt;
use reqwest::Method;

/// The messages of an `errors` list, each with its path when it has one.
fn messages(errors: &[serde_json::Value]) -> String {
    errors
        .iter()
        .map(|e| {
            let message = e
                .get("message")
                .and_then(|m| m.as_str())
                .map_or_else(|| e.to_string(), str::to_string);
            match e.get("path").and_then(|p| p.as_array()) {
                Some(path) if !path.is_empty() => {
                    let path: Vec<String> = path
                        .iter()
                        .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                        .collect();
                    format!("{message} (at {})", path.join("."))
                }
                _ => message,
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `data` of a reply, or the failure it reports.
pub(crate) fn data(what: &str, reply: &Reply) -> Result<serde_json::Value, ConnectorError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(&reply.body).ok();
    if let Some(errors) = json
        .as_ref()
        .and_then(|j| j.get("errors"))
        .and_then(|e| e.as_array())
        .filter(|e| !e.is_empty())
    {
        let status = reply.status.as_u16();
        // redacted: an error may echo a variable
        let message = excerpt(&format!("the answer has errors: {}", messages(errors)), 600);
        return Err(match status {
            408 | 429 | 500.. => ConnectorError::Transient(format!("{message} (HTTP {status})")),
            _ => ConnectorError::Permanent(message),
        });
    }
    Client::check(&Method::POST, what, reply, false)?;
    let Some(mut json) = json else {
        return Err(ConnectorError::Permanent(format!(
            "the answer of POST {what} is not JSON: {}",
            excerpt(
                &String::from_utf8_lossy(&reply.body).replace(['\n', '\r'], " "),
                200
            )
        )));
    };
    Ok(json
        .get_mut("data")
        .map(serde_json::Value::take)
        .unwrap_or(serde_json::Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).expect("a status"),
            retry_after: None,
            next_link: None,
            body: body.to_string().into_bytes().into(),
        }
    }

    #[test]
    fn errors_are_failures_with_their_messages() {
        let body = r#"{"errors":[{"message":"Order 7 not found","path":["order"]},{"message":"second"}],"data":{"order":null}}"#;
        let Err(e) = data("shop.query", &reply(200, body)) else {
            panic!("errors fail");
        };
        assert!(!e.is_retryable());
        assert_eq!(
            e.to_string(),
            "the answer has errors: Order 7 not found (at order); second"
        );
        let Err(e) = data(
            "shop.query",
            &reply(503, r#"{"errors":[{"message":"down"}]}"#),
        ) else {
            panic!("errors fail");
        };
        assert!(e.is_retryable());
    }

    #[test]
    fn data_is_the_answer() {
        assert_eq!(
            data("q", &reply(200, r#"{"data":{"a":1}}"#)).ok(),
            Some(serde_json::json!({"a": 1}))
        );
        assert!(data("q", &reply(200, "<html>")).is_err());
        assert!(data("q", &reply(400, "{}")).is_err());
    }
}
