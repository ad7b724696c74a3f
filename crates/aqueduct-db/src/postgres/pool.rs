//! A small connection pool: at most `pool_size` connections per system,
//! opened on demand, handed back on drop, and dropped (reopened next time)
//! once the server closed them, so a restarted server or a cut connection
//! costs one failed attempt, which the executor retries.

use super::pg_error;
use aqueduct_runtime::connector::ConnectorError;
use aqueduct_runtime::postgres_tls::{self, tls::MakeRustls};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;

/// The connections of one database system.
pub struct Pool {
    system: String,
    config: Config,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Client>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the configuration holds the password: never print it
        write!(f, "Pool({})", self.system)
    }
}

/// Pools by (system, URL, size).
type Pools = Mutex<HashMap<(String, String, usize), Weak<Pool>>>;

fn pools() -> &'static Pools {
    static POOLS: OnceLock<Pools> = OnceLock::new();
    POOLS.get_or_init(Default::default)
}

/// A parsed connection URL: tokio-postgres' configuration and the TLS
/// set-up its `sslmode`/`sslrootcert` asked for
/// ([`aqueduct_runtime::postgres_tls`]).
#[derive(Clone)]
pub struct Config {
    pg: tokio_postgres::Config,
    tls: MakeRustls,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the configuration holds the password: never print it
        f.write_str("Config(..)")
    }
}

impl std::ops::Deref for Config {
    type Target = tokio_postgres::Config;
    fn deref(&self) -> &tokio_postgres::Config {
        &self.pg
    }
}

/// Parses a connection URL; the error never repeats the URL (it may hold a password).
pub fn parse_url(system: &str, url: &str) -> Result<Config, ConnectorError> {
    let parsed = postgres_tls::parse(&format!("postgres `{system}`"), url)?;
    Ok(Config {
        pg: parsed.config,
        tls: parsed.tls,
    })
}

/// Opens one connection; its I/O runs on a task of the current runtime.
pub async fn connect(system: &str, config: &Config) -> Result<Client, ConnectorError> {
    let (client, connection) = config.pg.connect(config.tls.clone()).await.map_err(|e| {
        match (e.as_db_error(), std::error::Error::source(&e)) {
            // the cause says what failed (a TLS handshake); no URL in it
            (None, Some(_)) => ConnectorError::Transient(format!(
                "postgres `{system}`: {}",
                postgres_tls::connect_error(&e)
            )),
            _ => pg_error(system, &e),
        }
    })?;
    let name = system.to_string();
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(system = %name, %error, "A postgres connection ended.");
        }
    });
    Ok(client)
}

impl Pool {
    /// The pool of `system` at `url` with `size` connections, shared by
    /// every operation of the system in this process.
    pub fn shared(system: &str, url: &str, size: usize) -> Result<Arc<Pool>, ConnectorError> {
        let config = parse_url(system, url)?;
        let key = (system.to_string(), url.to_string(), size);
        let mut all = pools()
            .lock()
            .map_err(|_| ConnectorError::Config("the pool registry is poisoned".to_string()))?;
        if let Some(pool) = all.get(&key).and_then(Weak::upgrade) {
            return Ok(pool);
        }
        let pool = Arc::new(Pool {
            system: system.to_string(),
            config,
            permits: Arc::new(Semaphore::new(size)),
            idle: Mutex::new(Vec::new()),
        });
        all.retain(|_, p| p.strong_count() > 0);
        all.insert(key, Arc::downgrade(&pool));
        Ok(pool)
    }

    /// The system's name, for messages.
    pub fn system(&self) -> &str {
        &self.system
    }

    /// The parsed configuration (for connections outside the pool).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A connection, waiting while `pool_size` are in use.
    pub async fn get(self: &Arc<Self>) -> Result<Conn, ConnectorError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ConnectorError::Transient("the pool is closed".to_string()))?;
        let reused = {
            let mut idle = self
                .idle
                .lock()
                .map_err(|_| ConnectorError::Transient("the pool is poisoned".to_string()))?;
            let mut found = None;
            while let Some(client) = idle.pop() {
                if !client.is_closed() {
                    found = Some(client);
                    break;
                }
            }
            found
        };
        let client = match reused {
            Some(client) => client,
            None => connect(&self.system, &self.config).await?,
        };
        Ok(Conn {
            client: Some(client),
            pool: self.clone(),
            _permit: permit,
        })
    }
}

/// A pooled connection; back to the pool when dropped (unless it broke).
pub struct Conn {
    client: Option<Client>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    /// The client, mutable (transactions need it).
    pub fn client_mut(&mut self) -> Result<&mut Client, ConnectorError> {
        self.client
            .as_mut()
            .ok_or_else(|| ConnectorError::Transient("the connection was returned".to_string()))
    }

    /// Drops the connection instead of returning it (its state is unknown,
    /// e.g. a transaction may be open after a failure).
    pub fn discard(mut self) {
        self.client = None;
    }
}

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        // set from construction until drop or discard (which consumes)
        self.client.as_ref().expect("a pooled connection")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && !client.is_closed()
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(client);
        }
    }
}
