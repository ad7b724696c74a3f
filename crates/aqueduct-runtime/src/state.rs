//! State stores: where source positions, batch checkpoints and dedupe
//! windows live between runs.
//!
//! [`open`] picks the store from a URL: `sqlite://PATH` or a bare path (an
//! embedded SQLite file, the default `.aqueduct/state.db`), `postgres://…`
//! (a shared PostgreSQL table, for replicas), `memory:` (tests).

mod memory;
mod postgres;
mod sqlite;

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::connector::{ConnectorError, StateStore};
use std::sync::Arc;

/// The default state URL of a project.
pub const DEFAULT_URL: &str = "sqlite://.aqueduct/state.db";

/// Opens the state store named by `url` (see the module docs); an empty URL
/// is [`DEFAULT_URL`]. Creates the SQLite file, its directories and the
/// table as needed.
pub async fn open(url: &str) -> Result<Arc<dyn StateStore>, ConnectorError> {
    let url = if url.trim().is_empty() {
        DEFAULT_URL
    } else {
        url.trim()
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(PostgresStore::connect(url).await?));
    }
    if url == "memory:" || url == "memory://" {
        return Ok(Arc::new(MemoryStore::default()));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    Ok(Arc::new(
        SqliteStore::open(std::path::Path::new(path)).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_persists_across_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/nested/state.db", dir.path().display());
        {
            let store = open(&url).await.expect("opens");
            assert_eq!(store.get("k").await.expect("get"), None);
            store.put("k", "1").await.expect("put");
            store.put("k", "2").await.expect("put");
        }
        let store = open(&url).await.expect("reopens");
        assert_eq!(store.get("k").await.expect("get"), Some("2".into()));
    }

    #[tokio::test]
    async fn memory_store_round_trips() {
        let store = open("memory:").await.expect("opens");
        store.put("a", "x").await.expect("put");
        assert_eq!(store.get("a").await.expect("get"), Some("x".into()));
    }

    #[tokio::test]
    async fn postgres_store_when_configured() {
        let Ok(url) = std::env::var("AQUEDUCT_TEST_POSTGRES_URL") else {
            if std::env::var("AQUEDUCT_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("AQUEDUCT_REQUIRE_SERVICES=1 but AQUEDUCT_TEST_POSTGRES_URL is not set");
            }
            println!("SKIP: postgres state store (set AQUEDUCT_TEST_POSTGRES_URL)");
            return;
        };
        let store = open(&url).await.expect("connects");
        let key = format!("test/{}", std::process::id());
        store.put(&key, "1").await.expect("put");
        store.put(&key, "2").await.expect("upsert");
        assert_eq!(store.get(&key).await.expect("get"), Some("2".into()));
        let again = open(&url).await.expect("reconnects");
        assert_eq!(again.get(&key).await.expect("get"), Some("2".into()));
    }

    /// One holder at a time; given up after a complete run, or expired.
    #[tokio::test]
    async fn postgres_leases_have_one_holder() {
        let Ok(url) = std::env::var("AQUEDUCT_TEST_POSTGRES_URL") else {
            if std::env::var("AQUEDUCT_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("AQUEDUCT_REQUIRE_SERVICES=1 but AQUEDUCT_TEST_POSTGRES_URL is not set");
            }
            println!("SKIP: postgres leases (set AQUEDUCT_TEST_POSTGRES_URL)");
            return;
        };
        use crate::connector::LeaseGrant;
        use std::time::Duration;
        let store = open(&url).await.expect("connects");
        assert!(store.shared());
        let name = format!(
            "test/lease/{}/{:?}",
            std::process::id(),
            std::time::Instant::now()
        );
        let long = Duration::from_secs(30);
        let fresh = Some(LeaseGrant::default());
        assert_eq!(store.lease(&name, "a", long).await.expect("take"), fresh);
        assert_eq!(store.lease(&name, "b", long).await.expect("refused"), None);
        assert_eq!(store.lease(&name, "a", long).await.expect("renew"), fresh);
        store
            .release_lease(&name, "a", true)
            .await
            .expect("release");
        let after_a = store.lease(&name, "b", Duration::from_millis(300)).await;
        assert_eq!(
            after_a.expect("take over"),
            Some(LeaseGrant {
                completed_by_other: true
            })
        );
        assert_eq!(store.lease(&name, "a", long).await.expect("held"), None);
        tokio::time::sleep(Duration::from_millis(500)).await;
        // b's lease expired without a complete run
        assert_eq!(store.lease(&name, "a", long).await.expect("expired"), fresh);
    }
}
