//! Inbound authentication: `api_key { header, value }`, `bearer { token }`
//! and `hmac { header, secret, algorithm }` (a hex HMAC-SHA256 of the raw
//! body, optionally prefixed `sha256=`). Every comparison is constant-time.
//!
//! `api_key` and `bearer` are decided on the headers alone, before a byte
//! of the body is read ([`InboundAuth::check_headers`]), so an
//! unauthenticated client never makes the server hold its body. `hmac`
//! needs the body: the server reads it under a bound ([`HeaderCheck::NeedsBody`]).
//! The `Bearer` scheme name is matched case-insensitively (RFC 7235).

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

    /// What the headers alone say about a request.
    pub(crate) fn check_headers(&self, headers: &HeaderMap) -> HeaderCheck {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let verdict = |ok: bool| {
            if ok {
                HeaderCheck::Passed
            } else {
                HeaderCheck::Denied
            }
        };
        match self {
            InboundAuth::None => HeaderCheck::Passed,
            InboundAuth::ApiKey {
                header: name,
                value,
            } => verdict(
                header(name)
                    .is_some_and(|given| constant_time_eq(given.as_bytes(), value.as_bytes())),
            ),
            InboundAuth::Bearer { token } => verdict(
                header("authorization")
                    .and_then(bearer_credentials)
                    .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes())),
            ),
            // without the signature header the body need not be read
            InboundAuth::Hmac { header: name, .. } => match header(name) {
                Some(_) => HeaderCheck::NeedsBody,
                None => HeaderCheck::Denied,
            },
        }
    }

    /// True when the request may pass (headers and the whole body).
    pub(crate) fn check(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        match self.check_headers(headers) {
            HeaderCheck::Passed => return true,
            HeaderCheck::Denied => return false,
            HeaderCheck::NeedsBody => {}
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match self {
            InboundAuth::None | InboundAuth::ApiKey { .. } | InboundAuth::Bearer { .. } => false,
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

/// What the headers of a request decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderCheck {
    /// The request may pass; its body is read only now.
    Passed,
    /// 401 at once, without reading the body.
    Denied,
    /// The decision needs the body (`hmac`).
    NeedsBody,
}

/// The credentials of an `Authorization: Bearer …` header; the scheme name
/// is case-insensitive (RFC 7235).
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
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
        assert_eq!(auth.check_headers(&headers), HeaderCheck::NeedsBody);
        assert_eq!(auth.check_headers(&HeaderMap::new()), HeaderCheck::Denied);
    }

    #[test]
    fn bearer_scheme_names_are_case_insensitive() {
        let auth = InboundAuth::Bearer {
            token: "t0ken".into(),
        };
        for (value, ok) in [
            ("Bearer t0ken", true),
            ("bearer t0ken", true),
            ("BEARER t0ken", true),
            ("bEaReR   t0ken ", true),
            ("Basic t0ken", false),
            ("Bearer", false),
            ("Bearer other", false),
            ("Bearert0ken", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", value.parse().expect("header"));
            let expected = if ok {
                HeaderCheck::Passed
            } else {
                HeaderCheck::Denied
            };
            assert_eq!(auth.check_headers(&headers), expected, "{value}");
        }
    }
}
