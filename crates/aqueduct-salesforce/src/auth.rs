//! OAuth 2.0 access tokens: the three grants a pipeline can use (client
//! credentials, JWT bearer, refresh token), a cached token, and its
//! replacement after a 401.
//!
//! The token endpoint answers `{"access_token", "instance_url", …}` without
//! `expires_in` (the lifetime is the org's session timeout), so a token is
//! kept until the org refuses it. Each token is registered for redaction
//! the moment it arrives, so it is blanked from any text leaving the process.

use crate::jwt::SigningKey;
use aqueduct_connectors::support::args::Options;
use aqueduct_runtime::connector::ConnectorError;
use aqueduct_runtime::secrets::{Secret, excerpt, redact, remember_derived};
use std::sync::Arc;
use tokio::sync::Mutex;

/// The JWT audience unless configured: production orgs.
const DEFAULT_AUDIENCE: &str = "https://login.salesforce.com";

/// How tokens are obtained.
enum Grant {
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
    },
    JwtBearer {
        client_id: String,
        username: String,
        key: Arc<SigningKey>,
        audience: String,
    },
    RefreshToken {
        client_id: String,
        client_secret: Option<Secret>,
        refresh_token: Secret,
    },
}

/// A token and its generation (which fetch produced it).
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) value: Secret,
    pub(crate) generation: u64,
    /// The org id, from the identity URL the token endpoint answers with
    /// (`…/id/00D…/005…`): the Pub/Sub API's `tenantid`.
    #[cfg_attr(not(feature = "pubsub"), allow(dead_code))]
    pub(crate) org_id: Option<String>,
    /// The user id from the same URL: the `CreatedById` of events
    /// published over the Pub/Sub API.
    #[cfg_attr(not(feature = "pubsub"), allow(dead_code))]
    pub(crate) user_id: Option<String>,
}

/// Tokens of one system.
pub(crate) struct Auth {
    grant: Grant,
    token_url: String,
    http: reqwest::Client,
    label: String,
    cached: Mutex<(Option<Token>, u64)>,
}

impl Auth {
    /// Reads the `auth` block of the system's options.
    pub(crate) fn build(
        options: &Options,
        instance_url: &str,
        http: reqwest::Client,
        label: &str,
    ) -> Result<Auth, ConnectorError> {
        let config = |m: String| ConnectorError::Config(format!("`{label}` auth: {m}"));
        let block = options
            .block("auth")?
            .ok_or_else(|| config("option `auth` is required".into()))?;
        let token_url = block
            .string("token_url")?
            .unwrap_or_else(|| format!("{instance_url}/services/oauth2/token"));
        let secret = |name: &str| -> Result<Secret, ConnectorError> {
            Ok(Secret::new(block.required(name)?))
        };
        let grant = match block.kind.as_deref() {
            Some("oauth2_client_credentials") => Grant::ClientCredentials {
                client_id: block.required("client_id")?,
                client_secret: secret("client_secret")?,
            },
            Some("jwt_bearer") => {
                let pem = secret("private_key")?;
                let key = SigningKey::from_pem(pem.expose()).map_err(config)?;
                Grant::JwtBearer {
                    client_id: block.required("client_id")?,
                    username: block.required("username")?,
                    key: Arc::new(key),
                    audience: block
                        .string("audience")?
                        .unwrap_or_else(|| DEFAULT_AUDIENCE.to_string()),
                }
            }
            Some("refresh_token") => Grant::RefreshToken {
                client_id: block.required("client_id")?,
                client_secret: block.string("client_secret")?.map(Secret::new),
                refresh_token: secret("refresh_token")?,
            },
            other => {
                return Err(config(format!(
                    "unknown grant `{}` (expected oauth2_client_credentials, jwt_bearer or refresh_token)",
                    other.unwrap_or("")
                )));
            }
        };
        Ok(Auth {
            grant,
            token_url,
            http,
            label: label.to_string(),
            cached: Mutex::new((None, 0)),
        })
    }

    /// The current token, fetched when there is none.
    pub(crate) async fn token(&self) -> Result<Token, ConnectorError> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = &cached.0 {
            return Ok(t.clone());
        }
        let (value, identity) = self.fetch().await?;
        cached.1 += 1;
        let (org_id, user_id) = identity.unzip();
        let token = Token {
            value,
            generation: cached.1,
            org_id,
            user_id,
        };
        cached.0 = Some(token.clone());
        Ok(token)
    }

    /// Drops the token of `generation` (the org refused it); a newer one,
    /// fetched meanwhile by another request, is kept.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut cached = self.cached.lock().await;
        if cached
            .0
            .as_ref()
            .is_some_and(|t| t.generation == generation)
        {
            cached.0 = None;
        }
    }

    async fn fetch(&self) -> Result<(Secret, Option<(String, String)>), ConnectorError> {
        let mut form: Vec<(&str, String)> = Vec::new();
        match &self.grant {
            Grant::ClientCredentials {
                client_id,
                client_secret,
            } => {
                form.push(("grant_type", "client_credentials".into()));
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", client_secret.expose().to_string()));
            }
            Grant::JwtBearer {
                client_id,
                username,
                key,
                audience,
            } => {
                let assertion = key.assertion(client_id, username, audience).map_err(|e| {
                    ConnectorError::Permanent(format!("`{}` auth: {e}", self.label))
                })?;
                remember_derived(&assertion);
                form.push((
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                ));
                form.push(("assertion", assertion));
            }
            Grant::RefreshToken {
                client_id,
                client_secret,
                refresh_token,
            } => {
                form.push(("grant_type", "refresh_token".into()));
                form.push(("client_id", client_id.clone()));
                if let Some(s) = client_secret {
                    form.push(("client_secret", s.expose().to_string()));
                }
                form.push(("refresh_token", refresh_token.expose().to_string()));
            }
        }
        let what = format!("`{}` token request", self.label);
        let response = self
            .http
            .post(&self.token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| ConnectorError::Transient(format!("{what}: {}", e.without_url())))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| ConnectorError::Transient(format!("{what}: {}", e.without_url())))?;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status == 200
            && let Some(token) = json.get("access_token").and_then(|t| t.as_str())
        {
            remember_derived(token);
            let identity = json
                .get("id")
                .and_then(|i| i.as_str())
                .and_then(identity_of);
            return Ok((Secret::new(token.to_string()), identity));
        }
        let reason = match (
            json.get("error").and_then(|e| e.as_str()),
            json.get("error_description").and_then(|e| e.as_str()),
        ) {
            (Some(e), Some(d)) => format!("{e}: {d}"),
            (Some(e), None) => e.to_string(),
            _ => excerpt(&String::from_utf8_lossy(&body), 200),
        };
        let message = redact(&format!("{what} refused (HTTP {status}): {reason}"));
        Err(if status >= 500 || status == 429 {
            ConnectorError::Transient(message)
        } else {
            ConnectorError::Permanent(message)
        })
    }
}

/// The org and user ids in an identity URL (`https://…/id/00D…/005…`).
fn identity_of(url: &str) -> Option<(String, String)> {
    let mut parts = url.rsplit('/');
    let user = parts.next()?;
    let org = parts.next()?;
    (parts.next() == Some("id") && org.starts_with("00D"))
        .then(|| (org.to_string(), user.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_org_and_user_ids_from_the_identity_url() {
        assert_eq!(
            identity_of("https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001Sv6AAAS"),
            Some((
                "00Dxx0000001gPLEAY".to_string(),
                "005xx000001Sv6AAAS".to_string()
            ))
        );
        assert_eq!(identity_of("https://x/other/00D1/0051"), None);
    }
}
