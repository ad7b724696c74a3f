//! A Mosquitto broker of a test's own: the machine's `mosquitto` binary on
//! a free loopback port, with a configuration the test chooses, restarted
//! on demand, killed when dropped.
//!
//! The shared broker keeps Mosquitto's defaults, and one of them loses
//! messages on purpose: a session holds at most `max_queued_messages`
//! (1000) and the broker drops the rest ("Outgoing messages are being
//! dropped for client …" in its log). Tests of aqueduct's own guarantees
//! (a subscriber killed or cut off, a backlog drained) need a broker that
//! keeps everything, so that a message missing at the end is aqueduct's
//! fault and nothing else's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private `mosquitto` process.
pub struct Mosquitto {
    child: Child,
    dir: PathBuf,
    port: u16,
}

/// The configuration under which a session keeps every message.
pub const KEEP_EVERYTHING: &str = "max_queued_messages 0\nmax_queued_bytes 0\n";

/// The configuration under which sessions and their messages outlive a
/// restart ([`Mosquitto::restart`]): saved into the broker's directory
/// (`DIR` stands for it) when it stops. `user root` keeps a broker started
/// by root from changing to the `mosquitto` user, who could not write
/// there (it is ignored otherwise).
pub const PERSISTENT: &str = "persistence true\npersistence_location DIR/\nuser root\n";

impl Mosquitto {
    /// Starts `mosquitto` on a free port of 127.0.0.1 with anonymous access,
    /// no persistence (unless `config` turns it on) and the lines of
    /// `config` added, and waits until it listens. Fails when no
    /// `mosquitto` binary is installed.
    pub fn start(config: &str) -> Result<Mosquitto, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(crate::unique_name("mosquitto"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let conf = dir.join("mosquitto.conf");
        let persistence = if config.contains("persistence true") {
            ""
        } else {
            "persistence false\n"
        };
        let config = config.replace("DIR", &dir.display().to_string());
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n{persistence}{config}"),
        )
        .map_err(|e| format!("{}: {e}", conf.display()))?;
        let child = spawn(&conf, port)?;
        Ok(Mosquitto { child, dir, port })
    }

    /// Stops the broker as a service manager would (SIGTERM: it saves its
    /// persistent state, see [`PERSISTENT`]) and starts it again on the
    /// same port with the same configuration; returns once it listens.
    pub fn restart(&mut self) -> Result<(), String> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        self.child = spawn(&self.dir.join("mosquitto.conf"), self.port)?;
        Ok(())
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL, `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

/// Starts `mosquitto -c conf` and waits until it listens on `port`.
fn spawn(conf: &Path, port: u16) -> Result<Child, String> {
    let binary = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
        .into_iter()
        .find(|b| Path::new(b).exists())
        .unwrap_or("mosquitto");
    let mut child = Command::new(binary)
        .arg("-c")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {binary}: {e}"))?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!(
        "{binary} did not listen on 127.0.0.1:{port} within 10 s"
    ))
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
