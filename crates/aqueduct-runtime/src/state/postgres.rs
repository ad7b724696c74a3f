//! The deployed state store: table `aqueduct_state(key text primary key,
//! value text)` in PostgreSQL, shared by every replica.

use crate::connector::{ConnectorError, StateStore};
use futures::future::BoxFuture;
use std::sync::Arc;

/// State in PostgreSQL.
#[derive(Clone)]
pub struct PostgresStore {
    client: Arc<tokio_postgres::Client>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the URL may hold a password: never print it
        f.write_str("PostgresStore")
    }
}

fn err(e: tokio_postgres::Error) -> ConnectorError {
    ConnectorError::Transient(format!("postgres state store: {e}"))
}

impl PostgresStore {
    /// Connects (without TLS) and creates the table when missing.
    pub async fn connect(url: &str) -> Result<PostgresStore, ConnectorError> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|e| {
                ConnectorError::Config(format!("cannot connect to the postgres state store: {e}"))
            })?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "The postgres state store connection ended.");
            }
        });
        client
            .batch_execute("CREATE TABLE IF NOT EXISTS aqueduct_state (key text PRIMARY KEY, value text NOT NULL)")
            .await
            .map_err(err)?;
        Ok(PostgresStore {
            client: Arc::new(client),
        })
    }
}

impl StateStore for PostgresStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, ConnectorError>> {
        Box::pin(async move {
            let row = self
                .client
                .query_opt("SELECT value FROM aqueduct_state WHERE key = $1", &[&key])
                .await
                .map_err(err)?;
            Ok(row.map(|r| r.get::<_, String>(0)))
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            self.client
                .execute(
                    "INSERT INTO aqueduct_state (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&key, &value],
                )
                .await
                .map_err(err)?;
            Ok(())
        })
    }
}
