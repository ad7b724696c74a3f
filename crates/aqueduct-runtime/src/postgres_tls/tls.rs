//! TLS for postgres connections: tokio-postgres' `MakeTlsConnect` on
//! rustls with ring, verifying the server as libpq's `sslmode` asks.
//!
//! Written here rather than taken from the tokio-postgres-rustls crate:
//! that crate verifies chain and host name always, so `require` (encrypt,
//! verify nothing without a CA file) and `verify-ca` (chain, not the name)
//! would need custom verifiers anyway, and those are most of this file.
//!
//! Verification per mode (see [`Verify::of`]): none; the chain to the
//! roots; or the chain and the host name of the URL. The roots are the
//! certificates of `sslrootcert` when given, else Mozilla's (webpki-roots,
//! the same list the mysql connector uses), never the system store.

use super::url::{SslMode, TlsParams};
use crate::connector::ConnectorError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::{Socket, config::SslMode as PgSslMode};

/// What the server's certificate must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Nothing: encrypted, but any certificate is accepted.
    Nothing,
    /// The chain up to a trusted root; any host name.
    Chain,
    /// The chain and the host name of the URL.
    Full,
}

impl Verify {
    /// libpq's rule: `require` (and `prefer`) verify the chain only when a
    /// root file is given; `verify-ca` always the chain; `verify-full` also the name.
    pub fn of(params: &TlsParams) -> Verify {
        match params.mode {
            SslMode::VerifyFull => Verify::Full,
            SslMode::VerifyCa => Verify::Chain,
            _ if params.root_cert.is_some() => Verify::Chain,
            _ => Verify::Nothing,
        }
    }
}

/// tokio-postgres' own mode for the handshake: `verify-*` require TLS.
pub fn pg_mode(mode: SslMode) -> PgSslMode {
    match mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The trust roots: `sslrootcert`'s certificates, or Mozilla's.
fn roots(who: &str, params: &TlsParams) -> Result<RootCertStore, ConnectorError> {
    let mut store = RootCertStore::empty();
    let Some(path) = &params.root_cert else {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(store);
    };
    let bad = |why: String| {
        ConnectorError::Config(format!(
            "{who}: `sslrootcert` {}: {why}; give a PEM file with the CA certificate that signed the server's",
            path.display()
        ))
    };
    let (_, certs) = crate::ca_file::read(path).map_err(bad)?;
    for cert in certs {
        store
            .add(cert)
            .map_err(|e| bad(format!("holds a certificate rustls cannot use ({e})")))?;
    }
    Ok(store)
}

/// The rustls configuration for `params` (reads `sslrootcert` now, so a
/// missing file stops start-up).
pub fn client_config(who: &str, params: &TlsParams) -> Result<Arc<ClientConfig>, ConnectorError> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = if params.mode == SslMode::Disable {
        Arc::new(AnyCertificate { algorithms })
    } else {
        match Verify::of(params) {
            Verify::Nothing => Arc::new(AnyCertificate { algorithms }),
            Verify::Chain => Arc::new(ChainOnly {
                roots: Arc::new(roots(who, params)?),
                algorithms,
            }),
            Verify::Full => WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(who, params)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| {
                ConnectorError::Config(format!("{who}: cannot verify with these roots: {e}"))
            })?,
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectorError::Config(format!("{who}: TLS set-up: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts any certificate (`prefer`/`require` without `sslrootcert`), but
/// still checks the handshake signatures, so the session key is the server's.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Verifies the chain up to the roots and not the host name (`verify-ca`).
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Makes a TLS connector per connection (tokio-postgres asks with the host).
#[derive(Clone)]
pub struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl MakeRustls {
    /// A connector using `config` for every connection.
    pub fn new(config: Arc<ClientConfig>) -> Self {
        MakeRustls { config }
    }
}

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = HandshakeError;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnect, HandshakeError> {
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            HandshakeError(format!(
                "`{host}` is not a host name or address a certificate can be checked against"
            ))
        })?;
        Ok(RustlsConnect {
            config: self.config.clone(),
            name,
        })
    }
}

/// The connector of one connection.
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

type Handshake = Pin<Box<dyn Future<Output = Result<RustlsStream, HandshakeError>> + Send>>;

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = HandshakeError;
    type Future = Handshake;

    fn connect(self, stream: Socket) -> Handshake {
        Box::pin(async move {
            tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await
                .map(|s| RustlsStream(Box::new(s)))
                .map_err(|e| HandshakeError::of(&e))
        })
    }
}

/// A failed handshake, said so users know what to change. tokio-postgres
/// shows it after "error performing TLS handshake: ".
#[derive(Debug)]
pub struct HandshakeError(String);

impl HandshakeError {
    fn of(err: &io::Error) -> Self {
        let rustls_error = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let Some(failed @ rustls::Error::InvalidCertificate(cert)) = rustls_error else {
            return HandshakeError(err.to_string());
        };
        let hint = match cert {
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. } => {
                "the server's certificate does not name the host of the URL; connect by a name or address the certificate holds, or use sslmode=verify-ca to check the chain only"
            }
            rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature => {
                "the server's certificate is not signed by a trusted CA; set `sslrootcert` to the file of the CA that signed it"
            }
            _ => "check the server's certificate and `sslrootcert`",
        };
        HandshakeError(format!(
            "certificate verification failed ({failed}): {hint}"
        ))
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandshakeError {}

/// An encrypted connection.
pub struct RustlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl TlsStream for RustlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        // tls-server-end-point needs the hash named by the certificate's
        // signature algorithm; without it SCRAM runs without channel
        // binding, as it does on a plaintext connection
        ChannelBinding::none()
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}
