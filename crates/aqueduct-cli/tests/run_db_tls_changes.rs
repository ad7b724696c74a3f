//! `changes` over TLS through `aqueduct run`: `postgres.changes` (logical
//! decoding) and `mysql.changes` (the binlog stream) connect as the URL's
//! `verify-full`/`VERIFY_IDENTITY` asks, mirror their rows, and PostgreSQL
//! itself (`pg_stat_ssl`) confirms every session of the run was encrypted;
//! a CA that did not sign the server's certificate stops a `mysql.changes`
//! flow at start-up.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL` (`wal_level = logical`),
//! `AQUEDUCT_TEST_MYSQL_URL` (row binary log), `AQUEDUCT_TEST_TLS_CA` and
//! the `psql`, `mysql` and `openssl` tools; without the variables each test
//! prints `SKIP: …` and passes, unless `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use std::time::Duration;
use support::mysql::mysql;
use support::postgres::{drop_slot_sql, psql, wait_for_slot};
use support::{Project, wait_until};

/// `url` with `params` added to its query.
fn with_params(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

/// Drops what a test made, also when it fails (after the run is killed).
struct Cleanup(Box<dyn Fn()>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        (self.0)();
    }
}

#[test]
fn postgres_changes_over_verify_full_mirror_rows_on_encrypted_sessions() {
    let test = "postgres_changes_over_verify_full_mirror_rows_on_encrypted_sessions";
    let (Some(url), Some(ca)) = (
        service_url("AQUEDUCT_TEST_POSTGRES_URL", test),
        service_url("AQUEDUCT_TEST_TLS_CA", test),
    ) else {
        return;
    };
    let (src, dst) = (unique_name("pg_tlscdc_src"), unique_name("pg_tlscdc_dst"));
    let (slot, publication) = (unique_name("pg_tlscdc_slot"), unique_name("pg_tlscdc_pub"));
    let app = unique_name("aqueduct_tls");
    psql(
        &url,
        &format!(
            "CREATE TABLE {src} (id integer PRIMARY KEY, name text);
             CREATE TABLE {dst} (id integer PRIMARY KEY, name text)"
        ),
    );
    let _cleanup = {
        let url = url.clone();
        let drop_slot = drop_slot_sql(&slot);
        let sql = format!(
            "{drop_slot}
             DROP PUBLICATION IF EXISTS {publication};
             DROP TABLE IF EXISTS {src}, {dst}"
        );
        Cleanup(Box::new(move || {
            let _ = std::process::Command::new("psql")
                .arg(&url)
                .args(["-qAtX", "-c", &sql])
                .output();
        }))
    };
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL"), pool_size = 2 }}

type Change {{ id: int, name: string?, _op: string }}
type Item {{ id: int, name: string? }}

flow mirror {{
  mode async
  from pg.changes("{src}", publication: "{publication}", slot: "{slot}") as Change
  map Item {{ ... }}
  to pg.upsert("{dst}", key: [id])
}}
"#
        ),
    );
    // the application name finds the run's sessions in pg_stat_activity
    let tls_url = with_params(
        &url,
        &format!("sslmode=verify-full&sslrootcert={ca}&application_name={app}"),
    );
    let mut running = p.spawn_with_env(&[], &[("PG_URL", &tls_url)]);
    wait_for_slot(&url, &slot, Duration::from_secs(60), &running);
    psql(
        &url,
        &format!("INSERT INTO {src} VALUES (1, 'a'), (2, 'b'), (3, 'c')"),
    );
    assert!(
        wait_until(Duration::from_secs(60), || {
            psql(&url, &format!("SELECT count(*) FROM {dst}")) == "3"
        }),
        "the changes arrive\n{}",
        running.stderr()
    );
    // every session of the run (the changes source's, the pool's) is encrypted
    let sessions = psql(
        &url,
        &format!(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a
             JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = '{app}'"
        ),
    );
    let (all, encrypted) = sessions.split_once('|').unwrap_or(("", ""));
    assert!(
        all.parse::<i64>().is_ok_and(|n| n > 0) && all == encrypted,
        "sessions, encrypted: {sessions}"
    );
    running.terminate(Duration::from_secs(30));
}

#[test]
fn mysql_changes_over_verify_identity_mirror_rows_and_a_wrong_ca_stops_them() {
    let test = "mysql_changes_over_verify_identity_mirror_rows_and_a_wrong_ca_stops_them";
    let (Some(url), Some(ca)) = (
        service_url("AQUEDUCT_TEST_MYSQL_URL", test),
        service_url("AQUEDUCT_TEST_TLS_CA", test),
    ) else {
        return;
    };
    let (src, dst) = (unique_name("my_tlscdc_src"), unique_name("my_tlscdc_dst"));
    mysql(
        &url,
        &format!(
            "CREATE TABLE {src} (id INT PRIMARY KEY, name VARCHAR(10));
             CREATE TABLE {dst} (id INT PRIMARY KEY, name VARCHAR(10))"
        ),
    );
    let _cleanup = {
        let url = url.clone();
        let sql = format!("DROP TABLE IF EXISTS {src}, {dst}");
        Cleanup(Box::new(move || {
            let rest = url.trim_start_matches("mysql://");
            let (auth, rest) = rest.split_once('@').unwrap_or(("root", rest));
            let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
            let (hostport, db) = rest.split_once('/').unwrap_or((rest, "test"));
            let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
            let _ = std::process::Command::new("mysql")
                .args(["-h", host, "-P", port, "-u", user, db, "-e", &sql])
                .env("MYSQL_PWD", password)
                .output();
        }))
    };
    // a replica id of its own, so no other test's binlog reader collides
    let server_id = 20_000 + std::process::id() % 10_000;
    let project = |target: &str| {
        let p = Project::new();
        p.file(
            "main.aq",
            format!(
                r#"
system my: mysql {{ url = secret("MY_URL"), pool_size = 2 }}

type Change {{ id: int, name: string?, _op: string }}
type Item {{ id: int, name: string? }}

flow mirror {{
  mode async
  from my.changes("{src}", server_id: {server_id}) as Change
  map Item {{ ... }}
  {target}
}}
"#
            ),
        );
        p
    };

    // a CA that signed nothing the server holds: the changes source stops start-up
    let p = project(r#"to file("out").append("changes.jsonl")"#);
    let wrong_key = p.path("other-ca.key");
    let wrong = p.path("other-ca.crt");
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-new", "-nodes", "-newkey", "ec"])
        .args(["-pkeyopt", "ec_paramgen_curve:P-256", "-days", "2"])
        .args(["-subj", "/CN=not the aqueduct CI test CA"])
        .arg("-keyout")
        .arg(&wrong_key)
        .arg("-out")
        .arg(&wrong)
        .output()
        .expect("runs openssl");
    assert!(made.status.success(), "openssl failed");
    let bad = with_params(
        &url,
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", wrong.display()),
    );
    let r = p.run_with_env(&[], &[("MY_URL", &bad)]);
    assert_ne!(r.code, 0, "the run refuses to start");
    assert!(
        r.stderr.contains("`my.changes`: mysql `my`: TLS handshake failed: certificate verification failed (invalid peer certificate: UnknownIssuer)"),
        "{}",
        r.stderr
    );

    // the right CA: the binlog stream and the target connect and mirror
    let p = project(&format!(r#"to my.upsert("{dst}", key: [id])"#));
    let good = with_params(&url, &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"));
    let mut running = p.spawn_with_env(&[], &[("MY_URL", &good)]);
    assert!(
        wait_until(Duration::from_secs(60), || {
            support::sqlite_count(
                &p.path(".aqueduct/state.db"),
                "select count(*) from aqueduct_state where key like 'mysql:%'",
            )
            .unwrap_or(0)
                > 0
        }),
        "the flow stored its first binlog position\n{}",
        running.stderr()
    );
    mysql(
        &url,
        &format!("INSERT INTO {src} VALUES (1, 'a'), (2, 'b'), (3, 'c')"),
    );
    assert!(
        wait_until(Duration::from_secs(60), || {
            mysql(&url, &format!("SELECT count(*) FROM {dst}")) == "3"
        }),
        "the changes arrive over TLS\n{}",
        running.stderr()
    );
    running.terminate(Duration::from_secs(30));
}
