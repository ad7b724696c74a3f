//! `mysql` (options `url`, `pool_size`): a MySQL or MariaDB database.
//!
//! Every operation of one system shares one `mysql_async` pool of at most
//! `pool_size` connections (default 4), kept open between uses and closed
//! after [`IDLE_TIMEOUT`] unused; each connection sets
//! `time_zone = '+00:00'`, so `TIMESTAMP` columns read and write UTC. At
//! start-up each operation checks its SQL (and a target its table) through
//! a connection of its own, so a bad statement or a missing table stops
//! `run` before any record moves. Values are described in [`types`].

mod binlog;
mod changes;
mod infile;
mod lookup;
mod query;
pub mod schema;
mod tls;
pub mod types;
mod write;

use aqueduct_connectors::support::args::Options;
use aqueduct_runtime::connector::{
    Call, ConnectorError, ConnectorFactory, OpContext, Source, Target,
};
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// How long an unused pooled connection stays open. mysql_async closes
/// every returned connection above the pool's minimum (0 here) at once
/// when this is zero, its default: each chunk or lookup would connect
/// again.
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The `mysql` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct MysqlConnector;

impl ConnectorFactory for MysqlConnector {
    fn kind(&self) -> &'static str {
        "mysql"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        match cx.op.operation.as_str() {
            "query" | "poll" => Ok(Box::new(query::MysqlSource::build(cx, db(cx)?)?)),
            "changes" => Ok(Box::new(changes::ChangesSource::build(cx, db(cx)?)?)),
            other => Err(ConnectorError::Config(format!(
                "`mysql.{other}` cannot be used as a source"
            ))),
        }
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        Ok(Arc::new(write::MysqlTarget::build(cx, db(cx)?)?))
    }

    fn call(&self, cx: &OpContext) -> Result<Arc<dyn Call>, ConnectorError> {
        match cx.op.operation.as_str() {
            "query" => Ok(Arc::new(lookup::Lookup::build(cx, db(cx)?)?)),
            other => Err(ConnectorError::Config(format!(
                "`mysql.{other}` cannot be used in `enrich`"
            ))),
        }
    }
}

/// One system's pool and what start-up checks connect with.
#[derive(Clone)]
pub struct Db {
    /// The system's name, for messages.
    pub system: String,
    /// The shared pool.
    pub pool: Pool,
    /// Options of a connection outside the pool (start-up checks).
    pub opts: Opts,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the options hold the password: never print them
        write!(f, "Db({})", self.system)
    }
}

type Pools = Mutex<HashMap<(String, String, usize), Db>>;

fn pools() -> &'static Pools {
    static POOLS: OnceLock<Pools> = OnceLock::new();
    POOLS.get_or_init(Default::default)
}

/// Options for `url`, and whether it asks for `ssl-mode=PREFERRED` (see
/// [`preferred`]); the error never repeats the URL (it may hold a
/// password). TLS follows the URL's `ssl-mode`/`ssl-ca` or mysql_async's
/// own parameters ([`tls`]).
pub(crate) fn parse_url(
    system: &str,
    url: &str,
    size: usize,
) -> Result<(Opts, bool), ConnectorError> {
    let (rest, params) = tls::split(system, url)?;
    let opts = Opts::from_url(&rest).map_err(|e| {
        ConnectorError::Config(format!(
            "mysql `{system}`: option `url` is not a valid connection URL: {e}"
        ))
    })?;
    let constraints = PoolConstraints::new(0, size).ok_or_else(|| {
        ConnectorError::Config(format!("mysql `{system}`: bad `pool_size` {size}"))
    })?;
    let ssl = tls::ssl_opts(system, &params, opts.ssl_opts())?;
    // on a loopback address mysql_async would move to the server's Unix
    // socket, where it never uses TLS: asked for TLS, stay on TCP
    let stay_on_tcp = ssl.is_some() && !rest.contains("prefer_socket=");
    let mut builder = OptsBuilder::from_opts(opts)
        .pool_opts(
            PoolOpts::default()
                .with_constraints(constraints)
                .with_inactive_connection_ttl(IDLE_TIMEOUT),
        )
        .setup(vec!["SET time_zone = '+00:00'"])
        .ssl_opts(ssl);
    if stay_on_tcp {
        builder = builder.prefer_socket(false);
    }
    Ok((builder.into(), params.mode == Some(tls::SslMode::Preferred)))
}

/// The database of the context's system.
fn db(cx: &OpContext) -> Result<Db, ConnectorError> {
    let options = Options::of(cx);
    let url = options.required("url")?;
    let size = match options.string("pool_size")? {
        None => 4,
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                ConnectorError::Config(format!(
                    "`{}`: option `pool_size` must be a whole number above 0, not `{text}`",
                    cx.op.system
                ))
            })?,
    };
    let system = cx.op.system.clone();
    let key = (system.clone(), url.clone(), size);
    let mut all = pools()
        .lock()
        .map_err(|_| ConnectorError::Config("the pool registry is poisoned".to_string()))?;
    if let Some(db) = all.get(&key) {
        return Ok(db.clone());
    }
    let (mut opts, tls_preferred) = parse_url(&system, &url, size)?;
    if tls_preferred {
        opts = preferred(&system, opts);
    }
    let db = Db {
        system,
        pool: Pool::new(opts.clone()),
        opts,
    };
    all.insert(key, db.clone());
    Ok(db)
}

/// `ssl-mode=PREFERRED` as MySQL's own clients mean it: TLS when the
/// server offers it, plaintext when it does not. mysql_async has no such
/// fallback, so one connection at start-up finds out which, and every
/// connection of the system then goes the same way. Any other failure of
/// that connection keeps TLS: the flow's own connections report it.
fn preferred(system: &str, opts: Opts) -> Opts {
    let probe = opts.clone();
    let offered = crate::startup::startup(move || {
        Box::pin(async move {
            match mysql_async::Conn::new(probe).await {
                Ok(conn) => {
                    let _ = conn.disconnect().await;
                    Ok(true)
                }
                Err(mysql_async::Error::Driver(
                    mysql_async::DriverError::NoClientSslFlagFromServer,
                )) => Ok(false),
                Err(_) => Ok(true),
            }
        })
    });
    if matches!(offered, Ok(false)) {
        tracing::warn!(
            "mysql `{system}`: the server offers no TLS; ssl-mode=PREFERRED goes on in plaintext (ssl-mode=REQUIRED refuses instead)"
        );
        OptsBuilder::from_opts(opts).ssl_opts(None).into()
    } else {
        opts
    }
}

/// A MySQL error as a connector error: lost connections, deadlocks and lock
/// timeouts may pass on a retry; constraint violations, bad data and bad SQL
/// will not. The text never holds the URL.
pub(crate) fn my_error(system: &str, err: &mysql_async::Error) -> ConnectorError {
    if let Some(hint) = tls::handshake_hint(err) {
        // a certificate a retry will not change, or a server without TLS;
        // at start-up it stops `run`, later the executor retries
        return ConnectorError::Transient(format!("mysql `{system}`: {hint}"));
    }
    match err {
        mysql_async::Error::Server(e) => {
            let message = format!("mysql `{system}`: {} (error {})", e.message, e.code);
            // 1205 lock wait timeout, 1213 deadlock, 2006/2013 server gone, 1040 too many connections
            if matches!(e.code, 1205 | 1213 | 2006 | 2013 | 1040 | 1927) {
                ConnectorError::Transient(message)
            } else {
                ConnectorError::Permanent(message)
            }
        }
        mysql_async::Error::Url(e) => {
            ConnectorError::Config(format!("mysql `{system}`: bad connection URL: {e}"))
        }
        other => ConnectorError::Transient(format!("mysql `{system}`: {other}")),
    }
}

/// `` `name` ``, or `` `schema`.`name` ``, quoted for SQL.
pub fn quote_ident(name: &str) -> String {
    name.split('.')
        .map(|part| format!("`{}`", part.replace('`', "``")))
        .collect::<Vec<_>>()
        .join(".")
}

/// Prepares `sql` on a connection of its own (start-up check).
pub(crate) fn check_sql(db: &Db, what: &str, sql: &str) -> Result<Vec<String>, ConnectorError> {
    use mysql_async::prelude::Queryable;
    let _ = what;
    let (opts, system, sql) = (db.opts.clone(), db.system.clone(), sql.to_string());
    crate::startup::startup(move || {
        Box::pin(async move {
            let mut conn = mysql_async::Conn::new(opts)
                .await
                .map_err(|e| ConnectorError::Config(my_error(&system, &e).to_string()))?;
            let stmt = conn
                .prep(&sql)
                .await
                .map_err(|e| ConnectorError::Config(my_error(&system, &e).to_string()))?;
            let columns = stmt
                .columns()
                .iter()
                .map(|c| c.name_str().to_string())
                .collect();
            let _ = conn.disconnect().await;
            Ok(columns)
        })
    })
}
