//! `aqueduct emulate salesforce` through the real binary: it prints where
//! it listens and the credentials it accepts, serves the OAuth and REST
//! APIs from the built-in or a given seed, stops cleanly on SIGTERM, and
//! refuses a bad seed with its place and a help line.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{free_port, try_http, wait_until};

/// `aqueduct emulate salesforce ARGS…` in `dir`, output into files; killed on drop.
struct Emulator {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Emulator {
    fn start(dir: &Path, args: &[&str]) -> Emulator {
        let (out, err) = (dir.join("emulate.stdout"), dir.join("emulate.stderr"));
        let child = Command::new(env!("CARGO_BIN_EXE_aqueduct"))
            .args(["emulate", "salesforce"])
            .args(args)
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("starts aqueduct");
        Emulator { child, out, err }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn wait_listening(&self, port: u16) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let up = wait_until(Duration::from_secs(30), || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        assert!(up, "nothing listens on {addr}; stderr:\n{}", self.stderr());
    }

    /// Waits for the exit (at most `limit`); the exit code.
    fn wait(&mut self, limit: Duration) -> i32 {
        let mut code = None;
        wait_until(limit, || {
            code = self
                .child
                .try_wait()
                .ok()
                .flatten()
                .map(|s| s.code().unwrap_or(-1));
            code.is_some()
        });
        code.unwrap_or_else(|| {
            panic!(
                "aqueduct emulate did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            )
        })
    }

    /// SIGTERM, then the exit code.
    fn terminate(&mut self) -> i32 {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("runs kill");
        assert!(status.success());
        self.wait(Duration::from_secs(20))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `aqueduct emulate salesforce ARGS…` to its end: (exit code, stderr).
fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut e = Emulator::start(dir, args);
    let code = e.wait(Duration::from_secs(30));
    (code, e.stderr())
}

#[test]
fn serves_the_builtin_org_until_terminated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut running = Emulator::start(dir.path(), &["--listen", &listen]);
    running.wait_listening(port);
    assert!(
        wait_until(Duration::from_secs(10), || running
            .stdout()
            .contains("admin API")),
        "stdout: {}",
        running.stdout()
    );
    let out = running.stdout();
    for line in [
        format!("Salesforce emulator listening on 127.0.0.1:{port}"),
        format!("  instance URL  http://127.0.0.1:{port}"),
        format!("  token URL     http://127.0.0.1:{port}/services/oauth2/token"),
        "  API version   62.0".to_string(),
        "  org id        00D000000000001EAA".to_string(),
        "  client        client_id aqueduct-emulator / client_secret emulator-secret (runs as integration@emulator.local)".to_string(),
        format!("  Pub/Sub API   http://127.0.0.1:{port} (gRPC without TLS: the system's pubsub_url)"),
    ] {
        assert!(out.contains(&line), "missing `{line}` in:\n{out}");
    }
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let token = try_http(
        port,
        "POST",
        "/services/oauth2/token",
        "grant_type=client_credentials&client_id=aqueduct-emulator&client_secret=emulator-secret",
        &form,
    )
    .expect("token answer");
    assert_eq!(token.status, 200, "{}", token.body);
    let access = token.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    assert_eq!(
        token.json()["instance_url"],
        format!("http://127.0.0.1:{port}")
    );
    let bearer = format!("Bearer {access}");
    let q = try_http(
        port,
        "GET",
        "/services/data/v62.0/query?q=SELECT+Name+FROM+Account+ORDER+BY+Name",
        "",
        &[("authorization", &bearer)],
    )
    .expect("query answer");
    assert_eq!(q.status, 200, "{}", q.body);
    assert_eq!(q.json()["totalSize"], 3);
    assert_eq!(q.header("sforce-limit-info"), Some("api-usage=1/15000"));
    assert_eq!(running.terminate(), 0, "stderr: {}", running.stderr());
    assert!(
        running.stderr().contains("Salesforce emulator stopped."),
        "{}",
        running.stderr()
    );
}

#[test]
fn serves_a_seed_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("org.yaml"),
        "auth:\n  clients: [{client_id: my-app, client_secret: s3cret, username: me@example.com}]\nobjects:\n  - name: Invoice__c\n    fields: [{name: Number__c, type: string}]\n    records: [{Number__c: INV-1}]\n",
    )
    .expect("write seed");
    let port = free_port();
    let mut running = Emulator::start(
        dir.path(),
        &[
            "--seed",
            "org.yaml",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ],
    );
    running.wait_listening(port);
    let token = try_http(
        port,
        "POST",
        "/services/oauth2/token",
        "grant_type=client_credentials&client_id=my-app&client_secret=s3cret",
        &[("content-type", "application/x-www-form-urlencoded")],
    )
    .expect("token");
    let bearer = format!(
        "Bearer {}",
        token.json()["access_token"].as_str().expect("token")
    );
    let r = try_http(
        port,
        "GET",
        "/services/data/v62.0/sobjects/Invoice__c/a00000000000001AAA",
        "",
        &[("authorization", &bearer)],
    )
    .expect("read");
    assert_eq!(r.json()["Number__c"], "INV-1", "{}", r.body);
    assert!(
        running
            .stdout()
            .contains("client_id my-app / client_secret s3cret (runs as me@example.com)")
    );
    assert_eq!(running.terminate(), 0);
}

#[test]
fn a_bad_seed_is_refused_with_its_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "objects:\n  - name: A\n    fields: [{name: X, type: strng}]\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("typo.yaml"), "org:\n  nme: x\n").expect("write");
    let (code, stderr) = run(dir.path(), &["--seed", "bad.yaml"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("error: bad.yaml: field `A.X`: unknown type `strng`"),
        "{stderr}"
    );
    assert!(stderr.contains("help: see docs/emulator.md"), "{stderr}");
    let (code, stderr) = run(dir.path(), &["--seed", "typo.yaml"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error: typo.yaml:2:3: org: unknown field `nme`"),
        "{stderr}"
    );
    let (code, stderr) = run(dir.path(), &["--seed", "missing.yaml"]);
    assert_eq!(code, 2, "a missing file is an I/O error");
    assert!(
        stderr.contains("error: cannot read `missing.yaml`: No such file or directory"),
        "{stderr}"
    );
    let (code, stderr) = run(dir.path(), &["--listen", "nowhere"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("`nowhere` is not an address such as 127.0.0.1:8943"),
        "{stderr}"
    );
}

#[test]
fn serves_pubsub_over_tls_with_a_given_certificate() {
    let Some(ca) = aqueduct_test_support::service_url(
        "AQUEDUCT_TEST_TLS_CA",
        "serves_pubsub_over_tls_with_a_given_certificate",
    ) else {
        return;
    };
    let tls = Path::new(&ca).parent().expect("the CA's directory");
    let dir = tempfile::tempdir().expect("temp dir");
    let (port, tls_port) = (free_port(), free_port());
    let (cert, key) = (tls.join("server.crt"), tls.join("server.key"));
    let mut running = Emulator::start(
        dir.path(),
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--pubsub-tls-cert",
            &cert.display().to_string(),
            "--pubsub-tls-key",
            &key.display().to_string(),
            "--pubsub-tls-listen",
            &format!("127.0.0.1:{tls_port}"),
        ],
    );
    running.wait_listening(port);
    running.wait_listening(tls_port);
    assert!(
        wait_until(Duration::from_secs(10), || running
            .stdout()
            .contains("admin API")),
        "stdout: {}",
        running.stdout()
    );
    let line = format!(
        "  Pub/Sub TLS   https://127.0.0.1:{tls_port} (gRPC over TLS: pubsub_url, with pubsub_ca naming the CA of the certificate)"
    );
    assert!(running.stdout().contains(&line), "{}", running.stdout());
    assert_eq!(running.terminate(), 0, "stderr: {}", running.stderr());
}

#[test]
fn a_pubsub_tls_certificate_that_cannot_be_read_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("server.key"), "not a key\n").expect("write");
    let listen = format!("127.0.0.1:{}", free_port());
    let (code, stderr) = run(
        dir.path(),
        &[
            "--listen",
            &listen,
            "--pubsub-tls-cert",
            "missing.crt",
            "--pubsub-tls-key",
            "server.key",
        ],
    );
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("the Pub/Sub TLS certificate missing.crt: No such file or directory"),
        "{stderr}"
    );
    // a certificate without its key (and the other way round) is a usage error
    let (code, stderr) = run(dir.path(), &["--pubsub-tls-cert", "missing.crt"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--pubsub-tls-key <FILE>"), "{stderr}");
}
