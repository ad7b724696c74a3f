//! `mysql` over TLS through `aqueduct run` against the real MariaDB: the
//! URL's `ssl-mode`/`ssl-ca` (or mysql_async's own `require_ssl`, …)
//! decide. Each mode connects and moves records, and the server itself
//! (the session's `Ssl_cipher`, for the source's and the target's
//! sessions) says whether the session is encrypted; a CA that did not
//! sign the server's certificate stops the run at start-up naming the
//! system and the failed verification, without the password.
//!
//! Needs `AQUEDUCT_TEST_MYSQL_URL`, `AQUEDUCT_TEST_TLS_CA` (the CA that
//! signed the server's certificate for 127.0.0.1; `.ci/services` makes
//! both), and the `mariadb` (or `mysql`) and `openssl` command-line tools;
//! without the variables each test prints `SKIP: …` and passes, unless
//! `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use std::path::Path;
use support::Project;

/// The server URL and the test CA, or `None` (a visible skip).
fn setup(test: &str) -> Option<(String, String)> {
    let url = service_url("AQUEDUCT_TEST_MYSQL_URL", test)?;
    let ca = service_url("AQUEDUCT_TEST_TLS_CA", test)?;
    Some((url, ca))
}

/// `url` with `params` added to its query.
fn with_params(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

/// Runs `sql` through the command-line client (its own connection, so the
/// check does not depend on the code under test); rows tab-separated.
fn mysql(url: &str, sql: &str) -> String {
    // mysql://user[:password]@host:port/db
    let rest = url.trim_start_matches("mysql://");
    let (auth, rest) = rest.split_once('@').unwrap_or(("root", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, "test"));
    let db = db.split('?').next().unwrap_or(db);
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    let mut cmd = std::process::Command::new("mysql");
    cmd.args([
        "-N", "-B", "-h", host, "-P", port, "-u", user, db, "-e", sql,
    ]);
    if !password.is_empty() {
        cmd.env("MYSQL_PWD", password);
    }
    let out = cmd.output().expect("runs the mysql client");
    assert!(
        out.status.success(),
        "mysql failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
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

const CIPHER: &str = "(SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS \
    WHERE VARIABLE_NAME = 'Ssl_cipher')";

/// A source table of three rows, a target whose `dst_cipher` column
/// records (through a trigger) the inserting session's cipher, empty when
/// it was not encrypted.
fn tables(url: &str) -> (String, String) {
    let src = unique_name("my_tls_src");
    let dst = unique_name("my_tls_dst");
    mysql(
        url,
        &format!(
            "CREATE TABLE {src} (id INT PRIMARY KEY, name VARCHAR(10) NOT NULL);
             INSERT INTO {src} VALUES (1, 'a'), (2, 'b'), (3, 'c');
             CREATE TABLE {dst} (id INT PRIMARY KEY, name VARCHAR(10) NOT NULL,
               src_cipher VARCHAR(100), dst_cipher VARCHAR(100));
             CREATE TRIGGER {dst}_cipher BEFORE INSERT ON {dst} FOR EACH ROW
               SET NEW.dst_cipher = {CIPHER};"
        ),
    );
    (src, dst)
}

/// The rows of `dst` with whether the source's and the target's sessions
/// were encrypted (`enc`) or not (`plain`), tab-separated.
fn sessions(url: &str, dst: &str) -> String {
    mysql(
        url,
        &format!(
            "SELECT id, name, IF(src_cipher <> '', 'enc', 'plain'), IF(dst_cipher <> '', 'enc', 'plain')
             FROM {dst} ORDER BY id"
        ),
    )
}

/// A flow copying `src` to `dst`, each row carrying its session's cipher.
fn project(src: &str, dst: &str) -> Project {
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system my: mysql {{ url = secret("MY_URL"), pool_size = 2 }}

type Row {{ id: int, name: string, src_cipher: string? }}

flow copy {{
  mode batch
  from my.query("select id, name, {CIPHER} as src_cipher from {src} order by id") as Row
  to my.insert("{dst}")
}}
"#
        ),
    );
    p
}

#[test]
fn every_ssl_mode_connects_and_the_server_confirms_encryption() {
    let Some((url, ca)) = setup("every_ssl_mode_connects_and_the_server_confirms_encryption")
    else {
        return;
    };
    let (src, dst) = tables(&url);
    for (params, encrypted) in [
        ("ssl-mode=DISABLED".to_string(), false),
        // mysql_async's default: plaintext
        (String::new(), false),
        ("ssl-mode=REQUIRED".to_string(), true),
        ("ssl-mode=PREFERRED".to_string(), true),
        (format!("ssl-mode=VERIFY_CA&ssl-ca={ca}"), true),
        (format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"), true),
        (format!("ssl_mode=verify_identity&ssl_ca={ca}"), true),
        // mysql_async's own parameters: TLS, certificate not verified
        ("require_ssl=true&verify_ca=false".to_string(), true),
    ] {
        mysql(&url, &format!("TRUNCATE TABLE {dst}"));
        let p = project(&src, &dst);
        let tls_url = if params.is_empty() {
            url.clone()
        } else {
            with_params(&url, &params)
        };
        let r = p.run_with_env(&[], &[("MY_URL", &tls_url)]);
        assert_eq!(r.code, 0, "{params}: {}", r.stderr);
        assert_eq!(
            r.summary("copy"),
            "copy: 3 in, 3 delivered, 0 filtered, 0 failed, 0 dead-lettered",
            "{params}"
        );
        // the session's Ssl_cipher is empty when it was not encrypted
        let want = if encrypted { "enc" } else { "plain" };
        assert_eq!(
            sessions(&url, &dst),
            format!("1\ta\t{want}\t{want}\n2\tb\t{want}\t{want}\n3\tc\t{want}\t{want}"),
            "{params}: the server saw the source and target sessions encrypted: {encrypted}"
        );
    }
    mysql(&url, &format!("DROP TABLE {src}, {dst}"));
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
    let with_password = url.replacen("root@", &format!("root:{secret}@"), 1);
    for mode in ["VERIFY_IDENTITY", "VERIFY_CA", "REQUIRED"] {
        let bad = with_params(&with_password, &format!("ssl-mode={mode}&ssl-ca={wrong}"));
        let r = p.run_with_env(&[], &[("MY_URL", &bad)]);
        assert_ne!(r.code, 0, "{mode}: the run refuses to start");
        assert!(
            r.stderr.contains("mysql `my`: TLS handshake failed: certificate verification failed (invalid peer certificate: UnknownIssuer): the server's certificate is not signed by a trusted CA; set `ssl-ca` to the file of the CA that signed it"),
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
    assert_eq!(mysql(&url, &format!("SELECT count(*) FROM {dst}")), "0");
    mysql(&url, &format!("DROP TABLE {src}, {dst}"));
}

/// A TCP proxy to the server at `upstream` that makes it look like a
/// server without TLS: in the server's first packet (the initial handshake,
/// HandshakeV10 in MySQL's protocol documentation: protocol version, NUL
/// terminated server version, connection id, 8 bytes of auth data, a
/// filler, then the lower two bytes of the capability flags) it clears
/// `CLIENT_SSL` (0x0800), and passes everything else through unchanged.
/// Returns the port it listens on; it serves until the test process ends.
fn server_without_tls(upstream: &str) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("an address").port();
    let upstream = upstream.to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(mut server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let mut header = [0u8; 4];
            if server.read_exact(&mut header).is_err() {
                continue;
            }
            let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
            let mut greeting = vec![0u8; len];
            if server.read_exact(&mut greeting).is_err() {
                continue;
            }
            if greeting.first() == Some(&0x0a)
                && let Some(nul) = greeting[1..].iter().position(|b| *b == 0)
            {
                // after the version's NUL: id (4), auth data (8), filler (1)
                let flags = 1 + nul + 1 + 4 + 8 + 1;
                if let Some(high) = greeting.get_mut(flags + 1) {
                    *high &= !0x08;
                }
            }
            let mut client = client;
            if client.write_all(&header).is_err() || client.write_all(&greeting).is_err() {
                continue;
            }
            let (Ok(mut c2), Ok(mut s2)) = (client.try_clone(), server.try_clone()) else {
                continue;
            };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client, &mut server);
                let _ = server.shutdown(std::net::Shutdown::Both);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    port
}

#[test]
fn preferred_goes_on_in_plaintext_when_the_server_offers_no_tls_and_required_refuses() {
    let Some((url, _ca)) =
        setup("preferred_goes_on_in_plaintext_when_the_server_offers_no_tls_and_required_refuses")
    else {
        return;
    };
    let (src, dst) = tables(&url);
    // mysql://user@host:port/db: the same server behind the proxy
    let host_port = url
        .trim_start_matches("mysql://")
        .split_once('@')
        .map_or("", |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let port = server_without_tls(&host_port);
    let proxied = url.replacen(&host_port, &format!("127.0.0.1:{port}"), 1);
    let p = project(&src, &dst);

    let r = p.run_with_env(
        &[],
        &[("MY_URL", &with_params(&proxied, "ssl-mode=REQUIRED"))],
    );
    assert_ne!(r.code, 0, "REQUIRED refuses a server without TLS");
    assert!(
        r.stderr.contains("mysql `my`: the URL asks for TLS but the server does not offer it; enable TLS on the server or use ssl-mode=DISABLED"),
        "{}",
        r.stderr
    );
    assert_eq!(mysql(&url, &format!("SELECT count(*) FROM {dst}")), "0");

    let r = p.run_with_env(
        &[],
        &[("MY_URL", &with_params(&proxied, "ssl-mode=PREFERRED"))],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("mysql `my`: the server offers no TLS; ssl-mode=PREFERRED goes on in plaintext (ssl-mode=REQUIRED refuses instead)"),
        "{}",
        r.stderr
    );
    assert_eq!(
        sessions(&url, &dst),
        "1\ta\tplain\tplain\n2\tb\tplain\tplain\n3\tc\tplain\tplain",
        "the server saw plaintext sessions"
    );
    mysql(&url, &format!("DROP TABLE {src}, {dst}"));
}
