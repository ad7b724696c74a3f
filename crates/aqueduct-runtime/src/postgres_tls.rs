//! TLS for every PostgreSQL connection aqueduct opens (the `postgres`
//! connector and the PostgreSQL state store): libpq's `sslmode` and
//! `sslrootcert` read from the URL, on rustls with ring.
//!
//! Here, in the runtime, because generated services and the state store
//! link the runtime and not the connector crate. Messages start with the
//! `who` a caller names (``postgres `erp` ``, `the postgres state store`)
//! and never repeat the URL, which may hold a password.

pub mod tls;
pub mod url;

use crate::connector::ConnectorError;
use tokio_postgres::config::SslMode as PgSslMode;

/// A parsed connection URL with the TLS connector its `sslmode` asks for.
#[derive(Clone)]
pub struct PgConnect {
    /// What tokio-postgres connects with (the TLS parameters removed).
    pub config: tokio_postgres::Config,
    /// The rustls connector set up for the URL's mode and roots.
    pub tls: tls::MakeRustls,
}

/// Reads `url` for `who`: the TLS parameters are taken out and turned into
/// a connector, the rest parsed by tokio-postgres.
pub fn parse(who: &str, url: &str) -> Result<PgConnect, ConnectorError> {
    let (rest, params) = url::split(who, url)?;
    let mut config: tokio_postgres::Config = rest.parse().map_err(|e: tokio_postgres::Error| {
        ConnectorError::Config(format!(
            "{who}: option `url` is not a valid connection URL: {e}"
        ))
    })?;
    let params = match params {
        Some(params) => {
            config.ssl_mode(tls::pg_mode(params.mode));
            params
        }
        // a key/value string: tokio-postgres read its sslmode
        None => url::TlsParams {
            mode: match config.get_ssl_mode() {
                PgSslMode::Disable => url::SslMode::Disable,
                PgSslMode::Require => url::SslMode::Require,
                _ => url::SslMode::Prefer,
            },
            root_cert: None,
        },
    };
    let tls = tls::MakeRustls::new(tls::client_config(who, &params)?);
    Ok(PgConnect { config, tls })
}

/// The text of a failed connection: tokio-postgres' own text is only the
/// kind ("error performing TLS handshake"); its cause says what failed.
pub fn connect_error(e: &tokio_postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => db.message().to_string(),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}
