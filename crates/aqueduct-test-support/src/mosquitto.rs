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

use crate::Daemon;

/// A private `mosquitto` process.
pub struct Mosquitto {
    daemon: Daemon,
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
        let daemon = Daemon::start_with(
            &["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"],
            &["-c", "{dir}/mosquitto.conf"],
            |port, dir| {
                let persistence = if config.contains("persistence true") {
                    ""
                } else {
                    "persistence false\n"
                };
                let config = config.replace("DIR", &dir.display().to_string());
                let conf = dir.join("mosquitto.conf");
                std::fs::write(
                    &conf,
                    format!(
                        "listener {port} 127.0.0.1\nallow_anonymous true\n{persistence}{config}"
                    ),
                )
                .map_err(|e| format!("{}: {e}", conf.display()))
            },
        )?;
        Ok(Mosquitto { daemon })
    }

    /// Stops the broker as a service manager would (SIGTERM: it saves its
    /// persistent state, see [`PERSISTENT`]) and starts it again on the
    /// same port with the same configuration; returns once it listens.
    pub fn restart(&mut self) -> Result<(), String> {
        self.daemon.restart()
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.daemon.port()
    }

    /// Its URL, `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port())
    }
}
