//! What every Pub/Sub API call of one operation shares: the endpoint
//! (`pubsub_url`, Salesforce's public one by default), the lazily connected
//! HTTP/2 channel (TLS for `https://`, trusting Mozilla's roots and the CA
//! of `pubsub_ca`: see [`super::tls`]), the auth metadata each call carries
//! (`accesstoken`, `instanceurl`, `tenantid` = the org id from the token's
//! identity URL), and how a gRPC status becomes a connector error
//! (`INVALID_ARGUMENT`, `NOT_FOUND` and `PERMISSION_DENIED` are permanent,
//! and so is a server certificate that fails verification; the rest are
//! transient).

use super::tls;
use crate::client::Client;
use aqueduct_connectors::support::args::{Options, label};
use aqueduct_pubsub::{ACCESS_TOKEN, DEFAULT_ENDPOINT, INSTANCE_URL, TENANT_ID};
use aqueduct_runtime::connector::{ConnectorError, OpContext};
use std::sync::Arc;
use std::time::Duration;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};

/// The Pub/Sub endpoint of one operation.
pub(crate) struct Conn {
    pub(crate) client: Arc<Client>,
    endpoint: String,
    /// `None` for an `http://` endpoint.
    tls: Option<ClientTlsConfig>,
    label: String,
}

impl Conn {
    pub(crate) fn build(cx: &OpContext, client: Arc<Client>) -> Result<Conn, ConnectorError> {
        let options = Options::of(cx);
        let endpoint = options
            .string("pubsub_url")?
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let ca = options.string("pubsub_ca")?;
        let tls = if endpoint.starts_with("https://") {
            Some(tls::client_config(&client.system, ca.as_deref())?)
        } else if endpoint.starts_with("http://") {
            if ca.is_some() {
                return Err(ConnectorError::Config(format!(
                    "`{}`: pubsub_ca is set but pubsub_url is http:// (no TLS); use an https:// pubsub_url or leave pubsub_ca out",
                    label(cx)
                )));
            }
            None
        } else {
            return Err(ConnectorError::Config(format!(
                "`{}`: pubsub_url must start with https:// (or http:// for a local emulator)",
                label(cx)
            )));
        };
        Ok(Conn {
            client,
            endpoint,
            tls,
            label: label(cx),
        })
    }

    pub(crate) fn channel(&self) -> Result<Channel, ConnectorError> {
        let mut endpoint = Endpoint::from_shared(self.endpoint.clone())
            .map_err(|e| ConnectorError::Config(format!("`{}`: pubsub_url: {e}", self.label)))?
            .connect_timeout(Duration::from_secs(30))
            .http2_keep_alive_interval(Duration::from_secs(60))
            .keep_alive_while_idle(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.clone()).map_err(|e| {
                ConnectorError::Config(format!("`{}`: pubsub_url: {e}", self.label))
            })?;
        }
        // Connects on first use, and again after the connection drops.
        Ok(endpoint.connect_lazy())
    }

    /// `request` with the auth metadata; the token's generation (for
    /// [`Client::invalidate`]).
    pub(crate) async fn authorize<T>(
        &self,
        request: &mut Request<T>,
    ) -> Result<u64, ConnectorError> {
        let token = self.client.token().await?;
        let org = token.org_id.clone().ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "`{}`: the token response has no identity URL (`id`), so the org id the Pub/Sub API needs (tenantid) is unknown",
                self.client.system
            ))
        })?;
        let value = |v: &str, what: &str| {
            MetadataValue::try_from(v).map_err(|_| {
                ConnectorError::Permanent(format!(
                    "`{}`: the {what} cannot be sent as gRPC metadata",
                    self.client.system
                ))
            })
        };
        let metadata = request.metadata_mut();
        metadata.insert(ACCESS_TOKEN, value(token.value.expose(), "access token")?);
        metadata.insert(
            INSTANCE_URL,
            value(self.client.instance_url(), "instance URL")?,
        );
        metadata.insert(TENANT_ID, value(&org, "org id")?);
        Ok(token.generation)
    }

    pub(crate) fn status_error(&self, what: &str, status: &Status) -> ConnectorError {
        let message = format!(
            "`{}`: Pub/Sub {what}: {:?}: {}",
            self.client.system,
            status.code(),
            aqueduct_runtime::secrets::redact(status.message())
        );
        if let Some(hint) = tls::certificate_hint(status.message()) {
            return ConnectorError::Permanent(format!("{message}: {hint}"));
        }
        match status.code() {
            Code::InvalidArgument | Code::NotFound | Code::PermissionDenied => {
                ConnectorError::Permanent(message)
            }
            _ => ConnectorError::Transient(message),
        }
    }
}
