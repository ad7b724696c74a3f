//! The deployed state store: table `aqueduct_state(key text primary key,
//! value text)` in PostgreSQL, shared by every replica, and the leases of
//! batch flows in `aqueduct_lease` (see [`crate::lease`]): one row per
//! lease, with its holder, its expiry (PostgreSQL's clock, so replicas'
//! clocks never matter) and whether the last holder's run was complete.

use crate::connector::{ConnectorError, LeaseGrant, StateStore};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// Takes or renews a lease in one statement: the row is inserted, or taken
/// over when it is the caller's or expired; a concurrent taker waits on the
/// row lock and then sees the winner's unexpired row, so it gets nothing.
/// Returns the previous holder and whether its run was complete.
const TAKE_LEASE: &str =
    "WITH old AS (SELECT holder, completed FROM aqueduct_lease WHERE name = $1)
     INSERT INTO aqueduct_lease AS l (name, holder, expires_at, completed)
     VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3), false)
     ON CONFLICT (name) DO UPDATE
       SET holder = excluded.holder, expires_at = excluded.expires_at, completed = false
       WHERE l.holder = excluded.holder OR l.expires_at < clock_timestamp()
     RETURNING (SELECT holder FROM old), (SELECT completed FROM old)";

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
    // the server's message ("db error" alone says nothing)
    match e.as_db_error() {
        Some(db) => ConnectorError::Transient(format!("postgres state store: {}", db.message())),
        None => ConnectorError::Transient(format!("postgres state store: {e}")),
    }
}

/// Whether `e` is another process creating the same table at the same
/// moment (`CREATE TABLE IF NOT EXISTS` is not safe against that race).
fn created_concurrently(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        [
            SqlState::UNIQUE_VIOLATION,
            SqlState::DUPLICATE_TABLE,
            SqlState::DUPLICATE_OBJECT,
        ]
        .contains(c)
    })
}

impl PostgresStore {
    /// Connects (with TLS as the URL's `sslmode` asks, as the `postgres`
    /// connector does) and creates the tables when missing.
    pub async fn connect(url: &str) -> Result<PostgresStore, ConnectorError> {
        let who = "the postgres state store";
        let parsed = crate::postgres_tls::parse(who, url)?;
        let (client, connection) = parsed.config.connect(parsed.tls).await.map_err(|e| {
            ConnectorError::Config(format!(
                "cannot connect to {who}: {}",
                crate::postgres_tls::connect_error(&e)
            ))
        })?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "The postgres state store connection ended.");
            }
        });
        let mut attempt = 0;
        loop {
            match client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS aqueduct_state (key text PRIMARY KEY, value text NOT NULL);
                     CREATE TABLE IF NOT EXISTS aqueduct_lease (name text PRIMARY KEY, holder text NOT NULL,
                       expires_at timestamptz NOT NULL, completed boolean NOT NULL DEFAULT false)",
                )
                .await
            {
                Ok(()) => break,
                // replicas starting together: the other one made it, look again
                Err(e) if attempt < 3 && created_concurrently(&e) => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(err(e)),
            }
        }
        Ok(PostgresStore {
            client: Arc::new(client),
        })
    }
}

impl StateStore for PostgresStore {
    fn shared(&self) -> bool {
        true
    }

    fn lease<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<LeaseGrant>, ConnectorError>> {
        Box::pin(async move {
            let secs = ttl.as_secs_f64();
            let row = self
                .client
                .query_opt(TAKE_LEASE, &[&name, &holder, &secs])
                .await
                .map_err(err)?;
            Ok(row.map(|r| {
                let previous: Option<String> = r.get(0);
                let completed: Option<bool> = r.get(1);
                LeaseGrant {
                    completed_by_other: previous.is_some_and(|p| p != holder)
                        && completed == Some(true),
                }
            }))
        })
    }

    fn release_lease<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        completed: bool,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            // expired from now on: the next taker needs no wait
            self.client
                .execute(
                    "UPDATE aqueduct_lease SET expires_at = clock_timestamp() - interval '1 millisecond', completed = $3
                     WHERE name = $1 AND holder = $2",
                    &[&name, &holder, &completed],
                )
                .await
                .map_err(err)?;
            Ok(())
        })
    }

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

    fn remove_prefix_below<'a>(
        &'a self,
        prefix: &'a str,
        below: &'a str,
    ) -> BoxFuture<'a, Result<u64, ConnectorError>> {
        Box::pin(async move {
            let high = super::sqlite::prefix_end(prefix);
            // byte-wise order, whatever the database's collation
            self.client
                .execute(
                    "DELETE FROM aqueduct_state WHERE key COLLATE \"C\" >= $1 AND key COLLATE \"C\" < $2 AND value COLLATE \"C\" < $3",
                    &[&prefix, &high, &below],
                )
                .await
                .map_err(err)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PostgresStore;
    use aqueduct_test_support::service_url;

    fn with(url: &str, params: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{params}")
    }

    /// The state store reads the URL's TLS parameters as the `postgres`
    /// connector does: verify-full with the CA is encrypted, a CA file
    /// that is not there is named.
    #[tokio::test]
    async fn the_state_store_connects_with_the_tls_its_url_asks_for() {
        let test = "the_state_store_connects_with_the_tls_its_url_asks_for";
        let Some(url) = service_url("AQUEDUCT_TEST_POSTGRES_URL", test) else {
            return;
        };
        let Some(ca) = service_url("AQUEDUCT_TEST_TLS_CA", test) else {
            return;
        };
        let store = PostgresStore::connect(&with(
            &url,
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ))
        .await
        .expect("connects over TLS");
        let row = store
            .client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("pg_stat_ssl");
        assert!(row.get::<_, bool>(0), "the session is encrypted");

        let missing = with(&url, "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
        let error = PostgresStore::connect(&missing)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("the postgres state store") && error.contains("sslrootcert"),
            "{error}"
        );
    }
}
