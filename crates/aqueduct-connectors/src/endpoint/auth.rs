//! Inbound authentication: `api_key { header, value }`, `bearer { token }`
//! and `hmac { header, secret, algorithm }` (a hex HMAC-SHA256 of the raw
//! body, optionally prefixed `sha256=`). Every comparison is constant-time.

use crate::support::args::Options;
use crate::support::constant_time_eq;
use aqueduct_runtime::connector::ConnectorError;
use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What callers must present.
#[derive(Clone)]
pub(crate) enum InboundAuth {
    None,
    ApiKey { header: String, value: String },
    Bearer { token: String },
    Hmac { header: String, secret: String },
}

impl std::fmt::Debug for InboundAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print credentials.
        f.write_str(match self {
            InboundAuth::None => "none",
            InboundAuth::ApiKey { .. } => "api_key",
            InboundAuth::Bearer { .. } => "bearer",
            InboundAuth::Hmac { .. } => "hmac",
        })
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl InboundAuth {
    /// The auth of an `auth = KIND { … }` block.
    pub(crate) fn build(block: Option<Options>) -> Result<InboundAuth, ConnectorError> {
        let Some(block) = block else {
            return Ok(InboundAuth::None);
        };
        Ok(match block.kind.as_deref() {
            Some("api_key") => InboundAuth::ApiKey {
                header: block.required("header")?,
                value: block.required("value")?,
            },
            Some("bearer") => InboundAuth::Bearer {
                token: block.required("token")?,
            },
            Some("hmac") => {
                if let Some(alg) = block.string("algorithm")?
                    && alg != "sha256"
                {
                    return Err(ConnectorError::Config(format!(
                        "endpoint auth: unsupported hmac algorithm `{alg}`"
                    )));
                }
                InboundAuth::Hmac {
                    header: block.required("header")?,
                    secret: block.required("secret")?,
                }
            }
            Some(other) => {
                return Err(ConnectorError::Config(format!(
                    "endpoint auth: unknown auth `{other}`"
                )));
            }
            None => {
                return Err(ConnectorError::Config(
                    "endpoint auth: write the kind, e.g. `auth = bearer { … }`".to_string(),
                ));
            }
        })
    }

    /// True when the request may pass.
    pub(crate) fn check(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match self {
            InboundAuth::None => true,
            InboundAuth::ApiKey {
                header: name,
                value,
            } => header(name)
                .is_some_and(|given| constant_time_eq(given.as_bytes(), value.as_bytes())),
            InboundAuth::Bearer { token } => header("authorization")
                .and_then(|h| h.strip_prefix("Bearer ").map(str::to_string))
                .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.as_bytes())),
            InboundAuth::Hmac {
                header: name,
                secret,
            } => {
                let Some(given) = header(name) else {
                    return false;
                };
                let given = given.trim();
                let Some(signature) = hex_decode(given.strip_prefix("sha256=").unwrap_or(given))
                else {
                    return false;
                };
                let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
                else {
                    return false;
                };
                mac.update(body);
                mac.verify_slice(&signature).is_ok()
            }
        }
    }

    /// The `WWW-Authenticate` challenge for a 401, when the scheme has one.
    pub(crate) fn challenge(&self) -> Option<&'static str> {
        matches!(self, InboundAuth::Bearer { .. }).then_some("Bearer")
    }
}

/// The lowercase hex HMAC-SHA256 of `body` with `secret` (what a sender puts in the header).
pub fn hmac_sha256_hex(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_hmac_signatures() {
        let auth = InboundAuth::Hmac {
            header: "x-signature".into(),
            secret: "key".into(),
        };
        let body = b"{\"a\":1}";
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-signature",
            hmac_sha256_hex(b"key", body).parse().expect("header"),
        );
        assert!(auth.check(&headers, body));
        assert!(!auth.check(&headers, b"{\"a\":2}"));
        headers.insert("x-signature", "zz".parse().expect("header"));
        assert!(!auth.check(&headers, body));
    }
}
