//! A Mosquitto broker of a test's own: the machine's `mosquitto` binary on
//! a free loopback port, with a configuration the test chooses, killed when
//! dropped.
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

impl Mosquitto {
    /// Starts `mosquitto` on a free port of 127.0.0.1 with anonymous access,
    /// no persistence and the lines of `config` added, and waits until it
    /// listens. Fails when no `mosquitto` binary is installed.
    pub fn start(config: &str) -> Result<Mosquitto, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(crate::unique_name("mosquitto"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{config}"),
        )
        .map_err(|e| format!("{}: {e}", conf.display()))?;
        let binary = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
            .into_iter()
            .find(|b| Path::new(b).exists())
            .unwrap_or("mosquitto");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {binary}: {e}"))?;
        let broker = Mosquitto { child, dir, port };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(broker);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "{binary} did not listen on 127.0.0.1:{port} within 10 s"
        ))
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

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
