//! A throw-away PostgreSQL database for a test that runs a project whose
//! table names are fixed (an example): created on the server of
//! `AQUEDUCT_TEST_POSTGRES_URL`, dropped when the guard goes; `psql` and
//! the replication slots a `changes` flow makes.

use std::time::Duration;

/// Runs `sql` through `psql` on `url`; the rows, `|`-separated, one per line.
pub fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .arg(url)
        .args(["-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("runs psql");
    assert!(
        out.status.success(),
        "psql failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// How many replication slots are named `slot` ("0" or "1").
pub fn slots(url: &str, slot: &str) -> String {
    psql(
        url,
        &format!("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}'"),
    )
}

/// Statements that drop the replication slot `slot`, ending the session
/// that holds it (a killed run's walsender may still), if it exists.
pub fn drop_slot_sql(slot: &str) -> String {
    format!(
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active_pid IS NOT NULL;
         SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{slot}';"
    )
}

/// Waits up to `limit` for the replication slot `slot` that a `changes`
/// flow creates at start-up; fails with the run's log when it does not come.
pub fn wait_for_slot(url: &str, slot: &str, limit: Duration, running: &super::Running) {
    assert!(
        super::wait_until(limit, || slots(url, slot) == "1"),
        "the slot is created at start-up\n{}",
        running.stderr()
    );
}

/// A database of its own on the test server.
pub struct Database {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl Database {
    /// Creates a database named after `prefix` on the server of `url`
    /// (which must end in `/<database>`, optionally with a query).
    pub fn create(url: &str, prefix: &str) -> Database {
        let name = aqueduct_test_support::unique_name(prefix).replace('-', "_");
        psql(url, &format!("CREATE DATABASE {name}"));
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (url, String::new()),
        };
        let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(base);
        Database {
            admin: url.to_string(),
            url: format!("{server}/{name}{query}"),
            name,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .arg(&self.admin)
            .args(["-qAtX", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// Creates `table (id bigint PRIMARY KEY, pad text)` holding ids 1 to
/// `rows`, each with `pad` bytes of padding (a result to stream).
pub fn padded_rows(url: &str, table: &str, rows: u64, pad: usize) {
    psql(
        url,
        &format!(
            "CREATE TABLE {table} (id bigint PRIMARY KEY, pad text NOT NULL);
             INSERT INTO {table} SELECT g, repeat('x', {pad}) FROM generate_series(1, {rows}) g;"
        ),
    );
}
