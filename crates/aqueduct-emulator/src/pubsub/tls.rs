//! The Pub/Sub API over TLS on a port of its own (`Config::pubsub_tls`),
//! so a client's TLS path (the one it takes against Salesforce's
//! `api.pubsub.salesforce.com:7443`) can be tested locally. Only gRPC is
//! served there: every path goes to the Pub/Sub service, which answers
//! `UNIMPLEMENTED` for methods it does not have. The certificate and key
//! are PEM files, read once at start-up; ALPN offers `h2` only, since gRPC
//! clients refuse a connection that did not negotiate HTTP/2.

use crate::org::Org;
use crate::{PubSubTls, ServeError};
use axum::Router;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `tls.listen` and serves the Pub/Sub API of `org` there over TLS
/// until the task is aborted; the bound address.
pub(crate) async fn serve(
    org: Arc<Org>,
    tls: &PubSubTls,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ServeError> {
    let acceptor = TlsAcceptor::from(Arc::new(server_config(tls)?));
    let bind = |e: std::io::Error| ServeError::Bind {
        addr: tls.listen,
        message: e.to_string(),
    };
    let tcp = TcpListener::bind(tls.listen).await.map_err(bind)?;
    let addr = tcp.local_addr().map_err(bind)?;
    let listener = TlsListener {
        tcp,
        acceptor,
        handshakes: JoinSet::new(),
    };
    let app = Router::new().fallback_service(super::service(org));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "The Salesforce emulator stopped serving Pub/Sub over TLS.");
        }
    });
    tracing::info!(%addr, "Salesforce emulator serving the Pub/Sub API over TLS.");
    Ok((addr, task))
}

fn server_config(tls: &PubSubTls) -> Result<ServerConfig, ServeError> {
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path)
            .map_err(|e| ServeError::Tls(format!("the Pub/Sub TLS {what} {}: {e}", path.display())))
    };
    let bad = |path: &std::path::Path, why: String| {
        ServeError::Tls(format!("the Pub/Sub TLS {}: {why}", path.display()))
    };
    let cert_pem = read(&tls.cert, "certificate")?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&tls.cert, format!("is not valid PEM ({e})")))?;
    if certs.is_empty() {
        return Err(bad(&tls.cert, "holds no PEM certificate".to_string()));
    }
    let key_pem = read(&tls.key, "key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad(&tls.key, format!("holds no PEM private key ({e})")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(format!("TLS set-up: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ServeError::Tls(format!(
                "the Pub/Sub TLS certificate {} and key {} do not go together: {e}",
                tls.cert.display(),
                tls.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// TCP connections handed to the server once their TLS handshake is done.
/// Handshakes run side by side, so one slow or silent client does not hold
/// the others up.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let acceptor = self.acceptor.clone();
                        self.handshakes.spawn(async move {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => Some((tls, peer)),
                                Ok(Err(e)) => {
                                    // A client that does not trust the certificate ends up here.
                                    tracing::debug!(%peer, error = %e, "Pub/Sub TLS handshake failed.");
                                    None
                                }
                                Err(_) => None,
                            }
                        });
                    }
                    // Out of file descriptors and the like: wait, as axum's own listener does.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
                Some(done) = self.handshakes.join_next() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
