//! Shared helpers of the `run_*` end-to-end tests: a temporary project
//! ([`Project`]) run through the real `aqueduct` binary, a guard that kills
//! the child process whatever happens ([`Running`]), a loopback HTTP test
//! server with scripted failures that records what it received
//! ([`TestServer`]), a tiny blocking HTTP/1.1 client ([`http`]) and polling
//! with a deadline ([`wait_until`]); the Salesforce emulator as a client
//! sees it ([`salesforce`]), an event-stream client ([`sse`]) and a
//! database of a test's own ([`postgres`]), the MariaDB client ([`mysql`]),
//! the MQTT client ([`mqtt`]), a RabbitMQ channel ([`rabbit`]), a Kafka
//! client ([`kafka`]), the payload-format checks of every broker
//! ([`formats`]), the rows of a batch load ([`big_csv`]) and the moment a
//! crash test kills its run ([`kill`]).
//!
//! Every wait is bounded; nothing sleeps blindly for long.

#![allow(dead_code)]

pub mod cdc;
pub mod drain;
pub mod formats;
pub mod kafka;
pub mod kill;
pub mod mqtt;
pub mod mysql;
pub mod postgres;
pub mod publish;
pub mod rabbit;
pub mod salesforce;
pub mod sse;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest a run to completion may take before the test fails: a guard
/// against hangs, not a timing assertion, so generous enough for a loaded
/// two-core machine (`.ci/loaded` runs these tests beside busy loops).
pub const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Polls `check` every 20 ms until it is true or `limit` passed; true when it became true.
pub fn wait_until(limit: Duration, check: impl FnMut() -> bool) -> bool {
    wait_until_every(limit, Duration::from_millis(20), check)
}

/// [`wait_until`] polling every `every`, for checks that load what they watch.
pub fn wait_until_every(limit: Duration, every: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// Waits until `remaining()` reaches 0, for as long as it keeps going
/// down: fails only when it has not moved for `stalled` (or after
/// `limit`). A catch-up on a loaded machine may be slow; a stuck one is a
/// failure either way. Returns the last value seen.
pub fn wait_converged(
    stalled: Duration,
    limit: Duration,
    mut remaining: impl FnMut() -> usize,
) -> usize {
    let deadline = Instant::now() + limit;
    let mut best = remaining();
    let mut moved = Instant::now();
    while best > 0 && Instant::now() < deadline && moved.elapsed() < stalled {
        std::thread::sleep(Duration::from_millis(100));
        let now = remaining();
        if now < best {
            best = now;
            moved = Instant::now();
        }
    }
    best
}

/// `n` CSV rows `id,name,amount` with `name-ID` and `ID.(ID % 100)`.
pub fn big_csv(n: usize) -> String {
    let mut text = String::with_capacity(n * 28);
    text.push_str("id,name,amount\n");
    for i in 0..n {
        text.push_str(&format!("{i},name-{i},{i}.{:02}\n", i % 100));
    }
    text
}

/// A free loopback port for a listener the test starts a little later
/// (an aqueduct endpoint, a stub server):
/// [`aqueduct_test_support::listen_port`], below the kernel's ephemeral
/// range and never the same twice in one test process.
pub fn free_port() -> u16 {
    aqueduct_test_support::listen_port()
}

/// A temporary project directory.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Default for Project {
    fn default() -> Self {
        Project::new()
    }
}

impl Project {
    /// An empty project.
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().expect("creates a temporary directory"),
        }
    }

    /// The project directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` inside the project.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (creating its directories).
    pub fn file(&self, rel: &str, text: impl AsRef<[u8]>) -> &Project {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, text).expect("writes a project file");
        self
    }

    /// The text of a file ("" when it does not exist).
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// The JSON lines of a file (none when it does not exist).
    pub fn jsonl(&self, rel: &str) -> Vec<serde_json::Value> {
        self.read(rel)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{rel}: `{l}` is not JSON: {e}"))
            })
            .collect()
    }

    /// The rows of `sql` in the SQLite file `rel`, each column as JSON.
    pub fn sqlite(&self, rel: &str, sql: &str) -> Vec<Vec<serde_json::Value>> {
        sqlite_rows(&self.path(rel), sql)
    }

    /// The command `aqueduct run <project> ARGS…`, output into files.
    fn command(&self, args: &[&str], tag: &str) -> (Command, PathBuf, PathBuf) {
        let logs = self.path(".test-logs");
        std::fs::create_dir_all(&logs).expect("mkdir logs");
        let out = logs.join(format!("{tag}.stdout"));
        let err = logs.join(format!("{tag}.stderr"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aqueduct"));
        cmd.arg("run")
            .arg(self.root())
            .args(args)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"));
        (cmd, out, err)
    }

    /// Starts `aqueduct run` in the background; the guard kills it on drop.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_with_env(args, &[])
    }

    /// [`Project::spawn`] with extra environment variables.
    pub fn spawn_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (mut cmd, stdout, stderr) = self.command(args, &format!("run{n}"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("starts the aqueduct binary");
        Running {
            child,
            stdout,
            stderr,
            status: None,
        }
    }

    /// Runs `aqueduct run` to its end (at most [`RUN_LIMIT`]).
    pub fn run(&self, args: &[&str]) -> Outcome {
        self.run_with_env(args, &[])
    }

    /// Runs `aqueduct check --connect` on the project (the start-up
    /// preflight without running anything) with extra environment
    /// variables, the systems' secrets.
    pub fn check_connect(&self, env: &[(&str, &str)]) -> Outcome {
        let out = Command::new(env!("CARGO_BIN_EXE_aqueduct"))
            .args(["check", "--connect"])
            .arg(self.root())
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .output()
            .expect("runs aqueduct check");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// [`Project::run`] with extra environment variables.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        let mut running = self.spawn_with_env(args, env);
        let Some(status) = running.wait_exit(RUN_LIMIT) else {
            panic!(
                "`aqueduct run` did not end within {RUN_LIMIT:?}; stderr:\n{}",
                running.stderr()
            );
        };
        Outcome {
            code: status.code().unwrap_or(-1),
            stdout: running.stdout(),
            stderr: running.stderr(),
        }
    }
}

/// The rows of `sql` in the SQLite file at `path`, each column as JSON.
pub fn sqlite_rows(path: &Path, sql: &str) -> Vec<Vec<serde_json::Value>> {
    use rusqlite::types::ValueRef;
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("opens {}: {e}", path.display()));
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    let mut stmt = conn
        .prepare(sql)
        .unwrap_or_else(|e| panic!("prepares `{sql}`: {e}"));
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |row| {
            (0..n)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        ValueRef::Null => serde_json::Value::Null,
                        ValueRef::Integer(v) => serde_json::Value::from(v),
                        ValueRef::Real(v) => serde_json::Value::from(v),
                        ValueRef::Text(t) => {
                            serde_json::Value::from(String::from_utf8_lossy(t).into_owned())
                        }
                        ValueRef::Blob(b) => serde_json::Value::from(b.len()),
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap_or_else(|e| panic!("runs `{sql}`: {e}"));
    rows.map(|r| r.expect("reads a row")).collect()
}

/// The distinct ids in the `items` tables of `dbs` together.
pub fn union_of_ids(dbs: &[std::path::PathBuf]) -> std::collections::BTreeSet<i64> {
    let mut ids = std::collections::BTreeSet::new();
    for db in dbs {
        if !db.exists() {
            continue;
        }
        for row in sqlite_rows(db, "select id from items") {
            if let Some(id) = row[0].as_i64() {
                ids.insert(id);
            }
        }
    }
    ids
}

/// How many times each `id` is in the jsonl file at `path` so far. Only
/// lines ended by a newline count: a line still being written (or cut by a
/// kill, before the next run moves it aside) is not a record yet. A whole
/// line that is not JSON — a record glued onto a cut one — fails the test.
#[allow(dead_code)]
pub fn jsonl_ids(path: &Path) -> std::collections::BTreeMap<i64, u32> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut seen = std::collections::BTreeMap::new();
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        let Some(line) = line.strip_suffix(b"\n") else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_slice(line).unwrap_or_else(|e| {
            panic!(
                "a spoilt line {:?} in {}: {e}",
                String::from_utf8_lossy(line),
                path.display()
            )
        });
        let id = v["id"].as_i64().expect("an id");
        *seen.entry(id).or_insert(0) += 1;
    }
    seen
}

/// A count query on a SQLite file: `None` while the file or table is missing.
pub fn sqlite_count(path: &Path, sql: &str) -> Option<i64> {
    if !path.exists() {
        return None;
    }
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.busy_timeout(Duration::from_secs(2)).ok()?;
    conn.query_row(sql, [], |r| r.get::<_, i64>(0)).ok()
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error (logs and the per-flow summary).
    pub stderr: String,
}

impl Outcome {
    /// The summary line of `flow` (`flow: N in, …`).
    pub fn summary(&self, flow: &str) -> String {
        summary_line(&self.stderr, flow)
    }

    /// The `N` of `flow: N in, …`: how many records the flow read.
    pub fn received(&self, flow: &str) -> i64 {
        let summary = self.summary(flow);
        summary
            .strip_prefix(&format!("{flow}: "))
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a count in `{summary}`"))
    }

    /// Standard output and error as one line: diagnostics are wrapped to
    /// the terminal and framed by `│`, so messages are compared unwrapped.
    pub fn unwrapped(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The summary line of `flow` in a run's stderr.
pub fn summary_line(stderr: &str, flow: &str) -> String {
    let prefix = format!("{flow}: ");
    stderr
        .lines()
        .rev()
        .find(|l| l.starts_with(&prefix) && l.contains(" in, "))
        .unwrap_or_else(|| panic!("no summary line for `{flow}` in:\n{stderr}"))
        .to_string()
}

/// A running `aqueduct run`; killed (SIGKILL) and reaped on drop.
pub struct Running {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl Running {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `KILL`, `INT`) with `kill(1)`;
    /// nothing once the process has exited and was reaped: its pid may
    /// belong to another process by then (pid_max is 32,768 on these
    /// machines, and the tests start thousands of processes).
    pub fn signal(&mut self, name: &str) {
        if !self.is_running() {
            return;
        }
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("runs kill");
        assert!(status.success(), "kill -{name} {} failed", self.child.id());
    }

    /// Waits at most `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        if let Some(s) = self.status {
            return Some(s);
        }
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().expect("polls the child") {
                self.status = Some(s);
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process runs (a process that exited is reaped here
    /// and its status kept).
    pub fn is_running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                self.status = Some(status);
                false
            }
            Err(_) => false,
        }
    }

    /// Standard output so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Standard error so far (logs, then the summary at the end).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until `addr` accepts connections (the endpoint is up), or panics.
    pub fn wait_listening(&mut self, port: u16) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let up = wait_until(Duration::from_secs(20), || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        assert!(
            up,
            "nothing listens on {addr} (running: {}); stderr:\n{}",
            self.is_running(),
            self.stderr()
        );
    }

    /// Waits until the endpoint route `path` on `port` hands requests to its
    /// flow (the port listens before the flows start; a request made then
    /// waits for its flow, at most 10 s, then gets 503). Probes with a
    /// malformed JSON body, which a running route refuses with 400 without
    /// making a record.
    pub fn wait_serving(&mut self, port: u16, path: &str) {
        self.wait_listening(port);
        let mut last = None;
        let ok = wait_until(Duration::from_secs(20), || {
            last = try_http(port, "POST", path, "{", &[])
                .ok()
                .map(|r| r.status);
            last.is_some_and(|s| s != 503)
        });
        assert!(
            ok,
            "the route {path} on port {port} does not serve (last status {last:?}); stderr:\n{}",
            self.stderr()
        );
    }

    /// Waits until GET `path` on `port` is answered by its flow (see
    /// [`Running::wait_serving`]), or panics with the log.
    pub fn wait_answering_get(&mut self, port: u16, path: &str) {
        self.wait_listening(port);
        let ok = wait_until(Duration::from_secs(20), || {
            try_http(port, "GET", path, "", &[]).is_ok_and(|r| r.status != 503)
        });
        assert!(ok, "{}", self.stderr());
    }

    /// SIGTERM, then waits at most `limit` for the exit; panics when it does not come.
    pub fn terminate(&mut self, limit: Duration) -> Outcome {
        self.signal("TERM");
        let Some(status) = self.wait_exit(limit) else {
            panic!(
                "`aqueduct run` did not exit within {limit:?} of SIGTERM; stderr:\n{}",
                self.stderr()
            );
        };
        Outcome {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// A blocking HTTP/1.1 client (one request per connection).

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the body `{}` is not JSON: {e}", self.body))
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request to `127.0.0.1:port` and reads the whole answer (at most 30 s).
pub fn http(port: u16, method: &str, path: &str, body: &str) -> Response {
    try_http(port, method, path, body, &[])
        .unwrap_or_else(|e| panic!("{method} {path} on port {port}: {e}"))
}

/// [`http`] with extra headers, returning I/O errors.
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    // the server may answer (413) before reading the whole body
    let _ = s.write_all(body.as_bytes());
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
    out
}

// ---------------------------------------------------------------------------
// The loopback test server.

/// One request the test server received.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Method.
    pub method: String,
    /// Path (without the query).
    pub path: String,
    /// Body text.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Hit {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the body `{}` is not JSON: {e}", self.body))
    }
}

/// Builds the 2xx answer of a rule from the request.
pub type Responder = Arc<dyn Fn(&Hit) -> serde_json::Value + Send + Sync>;

/// How the server answers requests whose path starts with `prefix`.
#[derive(Clone)]
pub struct Rule {
    prefix: String,
    fail_first: usize,
    fail_status: u16,
    retry_after: Option<u64>,
    delay: Duration,
    delay_first: usize,
    respond: Option<Responder>,
    fail_when: Option<Predicate>,
}

/// Picks the requests a rule fails.
pub type Predicate = Arc<dyn Fn(&Hit) -> bool + Send + Sync>;

impl Rule {
    /// Answers 200 `{"ok": true}` to every request under `prefix`.
    pub fn new(prefix: &str) -> Rule {
        Rule {
            prefix: prefix.to_string(),
            fail_first: 0,
            fail_status: 503,
            retry_after: None,
            delay: Duration::ZERO,
            delay_first: usize::MAX,
            respond: None,
            fail_when: None,
        }
    }

    /// The first `n` requests fail (with [`Rule::status`], default 503).
    pub fn fail_first(mut self, n: usize) -> Rule {
        self.fail_first = n;
        self
    }

    /// Every request fails.
    pub fn always_fail(self) -> Rule {
        self.fail_first(usize::MAX)
    }

    /// Requests for which `pred` holds fail.
    pub fn fail_when(mut self, pred: impl Fn(&Hit) -> bool + Send + Sync + 'static) -> Rule {
        self.fail_when = Some(Arc::new(pred));
        self
    }

    /// The status of failures.
    pub fn status(mut self, status: u16) -> Rule {
        self.fail_status = status;
        self
    }

    /// Failures carry `Retry-After: secs`.
    pub fn retry_after(mut self, secs: u64) -> Rule {
        self.retry_after = Some(secs);
        self
    }

    /// Every answer waits this long first.
    pub fn delay(mut self, d: Duration) -> Rule {
        self.delay = d;
        self
    }

    /// Only the first `n` answers wait `d` first.
    pub fn slow_first(mut self, n: usize, d: Duration) -> Rule {
        self.delay = d;
        self.delay_first = n;
        self
    }

    /// The JSON body of successful answers.
    pub fn respond(
        mut self,
        f: impl Fn(&Hit) -> serde_json::Value + Send + Sync + 'static,
    ) -> Rule {
        self.respond = Some(Arc::new(f));
        self
    }
}

#[derive(Default)]
struct ServerState {
    hits: Mutex<Vec<Hit>>,
    rules: Mutex<Vec<(Rule, usize)>>,
    /// Requests being answered now, and the most ever at once.
    in_flight: Mutex<(usize, usize)>,
}

/// Counts a request as in flight while it lives.
struct InFlight<'a>(&'a Mutex<(usize, usize)>);

impl<'a> InFlight<'a> {
    fn enter(m: &'a Mutex<(usize, usize)>) -> InFlight<'a> {
        if let Ok(mut g) = m.lock() {
            g.0 += 1;
            g.1 = g.1.max(g.0);
        }
        InFlight(m)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut g) = self.0.lock() {
            g.0 -= 1;
        }
    }
}

/// A loopback HTTP server on an ephemeral port, with scripted answers.
pub struct TestServer {
    /// The bound address.
    pub addr: SocketAddr,
    state: Arc<ServerState>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    /// Starts a server answering by `rules` (first matching prefix wins;
    /// unmatched paths get 404).
    pub fn start(rules: Vec<Rule>) -> TestServer {
        TestServer::start_on(0, rules)
    }

    /// [`TestServer::start`] on a given loopback port (0: any).
    pub fn start_on(port: u16, rules: Vec<Rule>) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime for the test server");
        let state = Arc::new(ServerState {
            hits: Mutex::new(Vec::new()),
            rules: Mutex::new(rules.into_iter().map(|r| (r, 0)).collect()),
            in_flight: Mutex::new((0, 0)),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .expect("binds the test server");
        let addr = listener.local_addr().expect("has an address");
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(state.clone());
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer {
            addr,
            state,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received under `prefix`, in arrival order.
    pub fn hits(&self, prefix: &str) -> Vec<Hit> {
        self.state
            .hits
            .lock()
            .expect("hits lock")
            .iter()
            .filter(|h| h.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The most requests the server was answering at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.in_flight.lock().expect("in-flight lock").1
    }

    /// Replaces the rules (counters start again).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.state.rules.lock().expect("rules lock") = rules.into_iter().map(|r| (r, 0)).collect();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn answer(
    axum::extract::State(state): axum::extract::State<Arc<ServerState>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let body = axum::body::to_bytes(request.into_body(), 16 << 20)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let hit = Hit {
        method,
        path,
        body,
        at: Instant::now(),
    };
    state.hits.lock().expect("hits lock").push(hit.clone());
    let _in_flight = InFlight::enter(&state.in_flight);
    let decision = {
        let mut rules = state.rules.lock().expect("rules lock");
        rules
            .iter_mut()
            .find(|(r, _)| hit.path.starts_with(&r.prefix))
            .map(|(rule, seen)| {
                *seen += 1;
                let fail = *seen <= rule.fail_first
                    || rule.fail_when.as_ref().is_some_and(|pred| pred(&hit));
                (rule.clone(), fail, *seen)
            })
    };
    let Some((rule, fail, seen)) = decision else {
        return (axum::http::StatusCode::NOT_FOUND, "no rule").into_response();
    };
    if !rule.delay.is_zero() && seen <= rule.delay_first {
        tokio::time::sleep(rule.delay).await;
    }
    let json = |status: u16, value: serde_json::Value| {
        let mut r = (
            axum::http::StatusCode::from_u16(status).expect("a status"),
            value.to_string(),
        )
            .into_response();
        r.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        );
        r
    };
    if fail {
        let mut r = json(
            rule.fail_status,
            serde_json::json!({"error": "scripted failure"}),
        );
        if let Some(secs) = rule.retry_after {
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_str(&secs.to_string()).expect("a header value"),
            );
        }
        return r;
    }
    let value = rule
        .respond
        .as_ref()
        .map(|f| f(&hit))
        .unwrap_or_else(|| serde_json::json!({"ok": true}));
    json(200, value)
}

/// The value of a Prometheus sample line `name{labels} value` (labels must match exactly).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
