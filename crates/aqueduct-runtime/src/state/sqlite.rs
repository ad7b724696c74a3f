//! The embedded state store: one SQLite file (WAL, `synchronous=FULL` so a
//! `put` is durable when it returns), reached through `spawn_blocking`.

use crate::connector::{ConnectorError, StateStore};
use futures::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// State in a SQLite file, table `aqueduct_state(key, value)`.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn err(path: &Path, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Transient(format!("state store {}: {e}", path.display()))
}

impl SqliteStore {
    /// Opens (creating the directories, file and table) the store at `path`.
    pub async fn open(path: &Path) -> Result<SqliteStore, ConnectorError> {
        let path = path.to_path_buf();
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, ConnectorError> {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| ConnectorError::Config(format!("cannot create {}: {e}", dir.display())))?;
            }
            let conn = Connection::open(&p).map_err(|e| ConnectorError::Config(format!("cannot open state store {}: {e}", p.display())))?;
            conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| err(&p, e))?;
            conn.execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
                 CREATE TABLE IF NOT EXISTS aqueduct_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
            )
            .map_err(|e| err(&p, e))?;
            Ok(conn)
        })
        .await
        .map_err(|e| err(&path, e))??;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ConnectorError> {
        let conn = self.conn.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().map_err(|_| err(&path, "lock poisoned"))?;
            f(&conn).map_err(|e| err(&path, e))
        })
        .await
        .map_err(|e| err(&self.path, e))?
    }
}

impl StateStore for SqliteStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, ConnectorError>> {
        let key = key.to_string();
        Box::pin(self.with(move |c| {
            c.prepare_cached("SELECT value FROM aqueduct_state WHERE key = ?1")?
                .query_row([&key], |r| r.get::<_, String>(0))
                .optional()
        }))
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let (key, value) = (key.to_string(), value.to_string());
        // a batch flow puts its position at every chunk: the statement is
        // parsed once, not at each put
        Box::pin(self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO aqueduct_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?
            .execute([&key, &value])
            .map(|_| ())
        }))
    }

    fn remove_prefix_below<'a>(
        &'a self,
        prefix: &'a str,
        below: &'a str,
    ) -> BoxFuture<'a, Result<u64, ConnectorError>> {
        let (low, high, below) = (prefix.to_string(), prefix_end(prefix), below.to_string());
        Box::pin(self.with(move |c| {
            c.execute(
                "DELETE FROM aqueduct_state WHERE key >= ?1 AND key < ?2 AND value < ?3",
                [&low, &high, &below],
            )
            .map(|n| n as u64)
        }))
    }
}

/// A string above every key that starts with `prefix` (byte-wise).
pub(crate) fn prefix_end(prefix: &str) -> String {
    format!("{prefix}{}", char::MAX)
}
