//! The REST error shape: a JSON array of `{message, errorCode, fields?}`
//! with an HTTP status. sObject Collections report the same errors per
//! record under `statusCode` instead of `errorCode`; both renderings live
//! here so every area builds errors the same way.

use serde_json::{Value, json};

/// One Salesforce error with the HTTP status it is answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status of a single-resource answer.
    pub status: u16,
    /// `errorCode` / `statusCode`, e.g. `REQUIRED_FIELD_MISSING`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Fields the error is about.
    pub fields: Vec<String>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// The same error about these fields.
    pub fn with_fields(mut self, fields: &[&str]) -> ApiError {
        self.fields = fields.iter().map(|f| f.to_string()).collect();
        self
    }

    /// 400 with a code.
    pub fn bad(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(400, code, message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found() -> ApiError {
        ApiError::new(404, "NOT_FOUND", "The requested resource does not exist")
    }

    /// 401 `INVALID_SESSION_ID`.
    pub fn invalid_session() -> ApiError {
        ApiError::new(401, "INVALID_SESSION_ID", "Session expired or invalid")
    }

    /// 400 `MALFORMED_QUERY`.
    pub fn malformed_query(message: impl Into<String>) -> ApiError {
        ApiError::bad("MALFORMED_QUERY", message)
    }

    /// 400 `INVALID_FIELD`.
    pub fn invalid_field(message: impl Into<String>) -> ApiError {
        ApiError::bad("INVALID_FIELD", message)
    }

    /// 400 `JSON_PARSER_ERROR`.
    pub fn json_parser(message: impl Into<String>) -> ApiError {
        ApiError::bad("JSON_PARSER_ERROR", message)
    }

    /// 404 `NOT_FOUND` for an unknown sObject type.
    pub fn unknown_sobject(name: &str) -> ApiError {
        ApiError::new(
            404,
            "NOT_FOUND",
            format!(
                "The requested resource does not exist: sObject type '{name}' is not supported."
            ),
        )
    }

    /// 405 `METHOD_NOT_ALLOWED`.
    pub fn method_not_allowed(method: &str, allowed: &str) -> ApiError {
        ApiError::new(
            405,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{method}' not allowed. Allowed are {allowed}"),
        )
    }

    /// `{"message", "errorCode", "fields"?}`: one element of a REST error array.
    pub fn to_error_json(&self) -> Value {
        let mut v = json!({"message": self.message, "errorCode": self.code});
        if !self.fields.is_empty() {
            v["fields"] = json!(self.fields);
        }
        v
    }

    /// `{"statusCode", "message", "fields"}`: a per-record error of a SaveResult.
    pub fn to_status_json(&self) -> Value {
        json!({"statusCode": self.code, "message": self.message, "fields": self.fields})
    }

    /// The body of a single-error REST answer: a one-element array.
    pub fn to_body(&self) -> Value {
        json!([self.to_error_json()])
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
