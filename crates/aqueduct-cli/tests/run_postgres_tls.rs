//! `postgres` over TLS through `aqueduct run` against the real server: the
//! URL's `sslmode`/`sslrootcert` decide, as in libpq. Each mode connects
//! and moves records, and the server itself (`pg_stat_ssl`, for the
//! source's and the target's sessions) says whether the session is
//! encrypted; a CA that did not sign the server's certificate stops the
//! run at start-up naming the system and the failed verification, without
//! the password.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL`, `AQUEDUCT_TEST_TLS_CA` (the CA that
//! signed the server's certificate for 127.0.0.1; `.ci/services` makes
//! both), and the `psql` and `openssl` command-line tools; without the
//! variables each test prints `SKIP: …` and passes, unless
//! `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use std::path::Path;
use support::Project;
use support::postgres::psql;

/// The server URL and the test CA, or `None` (a visible skip).
fn setup(test: &str) -> Option<(String, String)> {
    let url = service_url("AQUEDUCT_TEST_POSTGRES_URL", test)?;
    let ca = service_url("AQUEDUCT_TEST_TLS_CA", test)?;
    Some((url, ca))
}

/// `url` with `params` added to its query.
fn with_params(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

/// A CA of its own that signed nothing the server holds.
fn other_ca(dir: &Path) -> String {
    let key = dir.join("other-ca.key");
    let cert = dir.join("other-ca.crt");
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-new", "-nodes", "-newkey", "ec"])
        .args(["-pkeyopt", "ec_paramgen_curve:P-256", "-days", "2"])
        .args(["-subj", "/CN=not the aqueduct CI test CA"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("runs openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cert.display().to_string()
}

/// A source table of three rows, a target whose `dst_ssl` column records
/// (through a default) whether the inserting session was encrypted.
fn tables(url: &str) -> (String, String) {
    let src = unique_name("pg_tls_src");
    let dst = unique_name("pg_tls_dst");
    psql(
        url,
        &format!(
            // psql runs the statements of one `-c` as one transaction: the
            // advisory lock keeps the tests running beside each other from
            // replacing the function at once (pg_proc's unique index).
            "SELECT pg_advisory_xact_lock(7243001);
             CREATE OR REPLACE FUNCTION aqueduct_test_session_ssl() RETURNS boolean
               LANGUAGE sql AS 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()';
             CREATE TABLE {src} (id integer PRIMARY KEY, name text NOT NULL);
             INSERT INTO {src} VALUES (1, 'a'), (2, 'b'), (3, 'c');
             CREATE TABLE {dst} (id integer PRIMARY KEY, name text NOT NULL, src_ssl boolean,
               src_version text, dst_ssl boolean DEFAULT aqueduct_test_session_ssl());"
        ),
    );
    (src, dst)
}

/// A flow copying `src` to `dst`, each row carrying its session's TLS state.
fn project(src: &str, dst: &str) -> Project {
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL"), pool_size = 2 }}

type Row {{ id: int, name: string, src_ssl: bool, src_version: string? }}

flow copy {{
  mode batch
  from pg.query("select s.id, s.name, t.ssl as src_ssl, t.version as src_version from {src} s, pg_stat_ssl t where t.pid = pg_backend_pid() order by s.id") as Row
  to pg.insert("{dst}")
}}
"#
        ),
    );
    p
}

#[test]
fn every_sslmode_connects_as_libpq_would_and_the_server_confirms_encryption() {
    let Some((url, ca)) =
        setup("every_sslmode_connects_as_libpq_would_and_the_server_confirms_encryption")
    else {
        return;
    };
    let (src, dst) = tables(&url);
    for (params, encrypted) in [
        ("sslmode=disable".to_string(), false),
        // the server offers TLS: libpq's default, prefer, takes it
        (String::new(), true),
        ("sslmode=require".to_string(), true),
        (format!("sslmode=require&sslrootcert={ca}"), true),
        (format!("sslmode=verify-ca&sslrootcert={ca}"), true),
        (format!("sslmode=verify-full&sslrootcert={ca}"), true),
    ] {
        psql(&url, &format!("TRUNCATE {dst}"));
        let p = project(&src, &dst);
        let tls_url = if params.is_empty() {
            url.clone()
        } else {
            with_params(&url, &params)
        };
        let r = p.run_with_env(&[], &[("PG_URL", &tls_url)]);
        assert_eq!(r.code, 0, "{params}: {}", r.stderr);
        assert_eq!(
            r.summary("copy"),
            "copy: 3 in, 3 delivered, 0 filtered, 0 failed, 0 dead-lettered",
            "{params}"
        );
        let want = if encrypted { "t" } else { "f" };
        assert_eq!(
            psql(
                &url,
                &format!("SELECT id, name, src_ssl, dst_ssl FROM {dst} ORDER BY id")
            ),
            format!("1|a|{want}|{want}\n2|b|{want}|{want}\n3|c|{want}|{want}"),
            "{params}: the server saw the source and target sessions encrypted: {encrypted}"
        );
        if encrypted {
            let version = psql(&url, &format!("SELECT DISTINCT src_version FROM {dst}"));
            assert!(version.starts_with("TLSv1."), "{params}: {version}");
        }
    }
    psql(&url, &format!("DROP TABLE {src}, {dst}"));
}

#[test]
fn a_ca_that_did_not_sign_the_server_certificate_stops_the_run_at_start_up() {
    let Some((url, _ca)) =
        setup("a_ca_that_did_not_sign_the_server_certificate_stops_the_run_at_start_up")
    else {
        return;
    };
    let (src, dst) = tables(&url);
    let p = project(&src, &dst);
    let wrong = other_ca(p.root());
    // a password in the URL (the handshake fails before it would be sent)
    // must not show up in what the user sees
    let secret = "tls-test-not-a-password";
    let with_password = url.replacen("postgres@", &format!("postgres:{secret}@"), 1);
    for mode in ["verify-full", "verify-ca", "require"] {
        let bad = with_params(
            &with_password,
            &format!("sslmode={mode}&sslrootcert={wrong}"),
        );
        let r = p.run_with_env(&[], &[("PG_URL", &bad)]);
        assert_ne!(r.code, 0, "{mode}: the run refuses to start");
        assert!(
            r.stderr.contains("postgres `pg`: error performing TLS handshake: certificate verification failed (invalid peer certificate: UnknownIssuer): the server's certificate is not signed by a trusted CA; set `sslrootcert` to the file of the CA that signed it"),
            "{mode}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains(secret),
            "{mode}: password shown: {}",
            r.stderr
        );
        assert!(!r.stdout.contains(secret), "{mode}: password shown");
    }
    assert_eq!(psql(&url, &format!("SELECT count(*) FROM {dst}")), "0");
    psql(&url, &format!("DROP TABLE {src}, {dst}"));
}

#[test]
fn a_missing_root_certificate_file_is_named_at_start_up() {
    let Some((url, _ca)) = setup("a_missing_root_certificate_file_is_named_at_start_up") else {
        return;
    };
    let p = project("no_such_table_src", "no_such_table_dst");
    let missing = p.path("missing-ca.pem").display().to_string();
    let bad = with_params(&url, &format!("sslmode=verify-full&sslrootcert={missing}"));
    let r = p.run_with_env(&[], &[("PG_URL", &bad)]);
    assert_ne!(r.code, 0, "the run refuses to start");
    assert!(
        r.stderr.contains(&format!(
            "postgres `pg`: `sslrootcert` {missing}: cannot be read"
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let Some((url, ca)) = setup("verify_full_checks_the_host_name_and_verify_ca_does_not") else {
        return;
    };
    let (src, dst) = tables(&url);
    // the same server under a name its certificate does not hold:
    // `hostaddr` is where to connect, the host what to verify
    let Some((_, after_host)) = url.split_once("@127.0.0.1") else {
        println!("SKIP: the test URL does not name 127.0.0.1");
        return;
    };
    let user = url.split_once('@').map_or("postgres://", |(u, _)| u);
    let renamed = format!("{user}@db.aqueduct.invalid{after_host}");
    let renamed = with_params(&renamed, &format!("hostaddr=127.0.0.1&sslrootcert={ca}"));
    let p = project(&src, &dst);
    let full = with_params(&renamed, "sslmode=verify-full");
    let r = p.run_with_env(&[], &[("PG_URL", &full)]);
    assert_ne!(r.code, 0, "verify-full refuses the name");
    assert!(
        r.stderr.contains("postgres `pg`: error performing TLS handshake: certificate verification failed (")
            && r.stderr.contains("the server's certificate does not name the host of the URL; connect by a name or address the certificate holds, or use sslmode=verify-ca to check the chain only"),
        "{}",
        r.stderr
    );
    assert_eq!(psql(&url, &format!("SELECT count(*) FROM {dst}")), "0");
    let chain = with_params(&renamed, "sslmode=verify-ca");
    let r = p.run_with_env(&[], &[("PG_URL", &chain)]);
    assert_eq!(r.code, 0, "verify-ca accepts the name: {}", r.stderr);
    assert_eq!(
        psql(
            &url,
            &format!("SELECT count(*) FROM {dst} WHERE src_ssl AND dst_ssl")
        ),
        "3"
    );
    psql(&url, &format!("DROP TABLE {src}, {dst}"));
}
