//! A local, deterministic Salesforce org for offline development and tests.
//!
//! [`serve`] starts it in process on any address (port 0 for tests) and
//! returns its address and a handle; `aqueduct emulate salesforce` runs it
//! from the command line. The org is built from a [`Seed`] (sObjects,
//! records, connected apps, knobs; [`Seed::builtin`] when none is given)
//! and emulates, on one HTTP port:
//!
//! - the OAuth 2.0 token endpoint (client credentials, JWT bearer, refresh
//!   token, optional password), revocation, token expiry;
//! - REST: versions, describe, sObject CRUD, upsert by external id, sObject
//!   Collections, composite, SOQL queries with `nextRecordsUrl` paging,
//!   limits and `Sforce-Limit-Info`;
//! - Bulk API 2.0 ingest and query jobs;
//! - the Streaming API over CometD, with Change Data Capture events from
//!   its own writes and platform events from REST publishes;
//! - the Pub/Sub API (gRPC over HTTP/2 on the same port, the same events
//!   as Avro payloads, and `Publish` into them) in builds with the `pubsub`
//!   feature, and over TLS on a port of its own with [`Config::pubsub_tls`];
//! - outbound messages posted to a listener until acknowledged;
//! - faults on demand and an admin API under `/_emulator/`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = aqueduct_emulator::serve(aqueduct_emulator::Config::default()).await?;
//! println!("instance {} token {}", emulator.instance_url(), emulator.token_url());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! `docs/emulator.md` is the user guide; every status code and body it
//! quotes is asserted by this crate's tests.

#![warn(missing_docs)]

mod admin;
mod bulk;
pub mod clock;
mod collections;
mod cometd;
mod composite;
mod describe;
mod dml;
pub mod errors;
mod events;
pub mod faults;
mod http;
pub mod ids;
mod jwt;
mod limits;
mod oauth;
mod org;
mod outbound;
#[cfg(feature = "pubsub")]
mod pubsub;
mod query;
mod rest;
mod schema;
pub mod seed;
mod sobjects;
pub mod soql;
mod store;
mod values;

pub use faults::{FaultKind, FaultRule};
pub use seed::{Seed, SeedError};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};
use org::{Org, State};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// The org to emulate.
    pub seed: Seed,
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Also serve the Pub/Sub API over TLS (builds with the `pubsub`
    /// feature); `None`: only without TLS, on `listen`.
    pub pubsub_tls: Option<PubSubTls>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: Seed::builtin(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            pubsub_tls: None,
        }
    }
}

/// The Pub/Sub API over TLS, on a port of its own (the instance URL's port
/// stays plain HTTP for REST, OAuth and CometD).
#[derive(Debug, Clone)]
pub struct PubSubTls {
    /// PEM file of the server certificate (then any intermediates).
    pub cert: PathBuf,
    /// PEM file of its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The seed does not describe a consistent org.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {message}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        message: String,
    },
    /// The Pub/Sub TLS certificate or key cannot be used.
    #[error("{0}")]
    Tls(String),
}

/// A connected app's credentials, as printed at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Consumer key.
    pub client_id: String,
    /// Consumer secret (none for JWT-only apps).
    pub client_secret: Option<String>,
    /// Run-as username (and the JWT `sub` of the app's user).
    pub username: String,
    /// Whether JWT bearer works for this app (a certificate is configured).
    pub jwt: bool,
}

/// A running emulator.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    instance_url: String,
    pubsub_tls_addr: Option<SocketAddr>,
    org: Arc<Org>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Emulator {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The org's base URL, as tokens give it (`http://127.0.0.1:PORT`).
    pub fn instance_url(&self) -> &str {
        &self.instance_url
    }

    /// `{instance_url}/services/oauth2/token`.
    pub fn token_url(&self) -> String {
        format!("{}/services/oauth2/token", self.instance_url)
    }

    /// Where the Pub/Sub API (gRPC, HTTP/2 without TLS) is served: the
    /// instance URL's own port; `None` in builds without the `pubsub` feature.
    pub fn pubsub_url(&self) -> Option<String> {
        cfg!(feature = "pubsub").then(|| self.instance_url.clone())
    }

    /// Where the Pub/Sub API is served over TLS (`https://ADDR`), when
    /// [`Config::pubsub_tls`] asked for it.
    pub fn pubsub_tls_url(&self) -> Option<String> {
        self.pubsub_tls_addr.map(|addr| format!("https://{addr}"))
    }

    /// The org id (18 characters).
    pub fn org_id(&self) -> String {
        self.org.lock().org_id.clone()
    }

    /// The newest API version served (`62.0`).
    pub fn api_version(&self) -> String {
        format!("{:.1}", self.org.lock().settings.max_version)
    }

    /// The connected apps the token endpoint accepts.
    pub fn credentials(&self) -> Vec<Credentials> {
        self.org
            .lock()
            .clients
            .iter()
            .map(|c| Credentials {
                client_id: c.client_id.clone(),
                client_secret: c.secret.clone(),
                username: c.username.clone(),
                jwt: c.key.is_some(),
            })
            .collect()
    }

    /// Stops serving and waits for the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The routes of the emulator.
fn router(org: Arc<Org>) -> Router {
    let routes = Router::new();
    // gRPC (HTTP/2 with prior knowledge, which axum's server detects).
    #[cfg(feature = "pubsub")]
    let routes = routes.route_service("/eventbus.v1.PubSub/{method}", pubsub::service(org.clone()));
    routes
        .route("/services/oauth2/token", post(http::token))
        .route("/services/oauth2/revoke", post(http::revoke))
        .route("/services/data", get(http::versions))
        .route("/services/data/", get(http::versions))
        .route("/services/data/{*rest}", any(http::data))
        .route("/cometd/{version}", post(cometd::handle))
        .route("/id/{org}/{user}", get(http::identity))
        .route("/_emulator", any(admin::handle))
        .route("/_emulator/", any(admin::handle))
        .route("/_emulator/{*rest}", any(admin::handle))
        .fallback(http::not_found)
        // Bulk uploads may be up to 150 MB, as in Salesforce.
        .layer(DefaultBodyLimit::max(150 * 1024 * 1024))
        .with_state(org)
}

/// Starts an emulator; it serves until [`Emulator::shutdown`] or drop.
pub async fn serve(config: Config) -> Result<Emulator, ServeError> {
    // reqwest (the outbound driver) needs a rustls provider even for plain HTTP.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let mut state = State::from_seed(&config.seed)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServeError::Bind {
            addr: config.listen,
            message: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| ServeError::Bind {
        addr: config.listen,
        message: e.to_string(),
    })?;
    let instance_url = config
        .seed
        .org
        .instance_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    state.instance_url = instance_url.trim_end_matches('/').to_string();
    let org = Org::new(state);
    // Before the main server starts, so a certificate that cannot be used
    // leaves nothing running behind the error.
    let (pubsub_tls_addr, pubsub_tls_task) = match &config.pubsub_tls {
        None => (None, None),
        Some(tls) => {
            let (addr, task) = serve_pubsub_tls(org.clone(), tls).await?;
            (Some(addr), Some(task))
        }
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(org.clone());
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = served.await {
            tracing::error!(error = %e, "The Salesforce emulator stopped serving.");
        }
    });
    let mut tasks = vec![server];
    tasks.extend(pubsub_tls_task);
    tasks.push(tokio::spawn(bulk::worker::run(org.clone())));
    tasks.push(tokio::spawn(outbound::run(org.clone())));
    tracing::info!(%addr, "Salesforce emulator listening.");
    let instance_url = org.lock().instance_url.clone();
    Ok(Emulator {
        addr,
        instance_url,
        pubsub_tls_addr,
        org,
        shutdown: Some(tx),
        tasks,
    })
}

#[cfg(feature = "pubsub")]
async fn serve_pubsub_tls(
    org: Arc<Org>,
    tls: &PubSubTls,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ServeError> {
    pubsub::tls::serve(org, tls).await
}

#[cfg(not(feature = "pubsub"))]
async fn serve_pubsub_tls(
    _: Arc<Org>,
    _: &PubSubTls,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ServeError> {
    Err(ServeError::Tls(
        "this build has no Pub/Sub API (cargo feature `pubsub`), so it cannot serve it over TLS"
            .to_string(),
    ))
}
