//! A server process of a test's own (a `nats-server`, a `redis-server`, a
//! RabbitMQ node): the
//! machine's binary on a free loopback port with a data directory of its
//! own, restarted on demand, killed when dropped. For testing what a
//! connector does when its server restarts, without restarting a server
//! other tests share.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private server process.
pub struct Daemon {
    child: Child,
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: PathBuf,
    port: u16,
}

impl Daemon {
    /// Starts the first of `binaries` that exists with `args`, in which
    /// `{port}` stands for a free port of 127.0.0.1 and `{dir}` for a new
    /// empty directory, and waits until it listens on that port.
    pub fn start(binaries: &[&str], args: &[&str]) -> Result<Daemon, String> {
        Daemon::start_with(binaries, args, |_, _| Ok(()))
    }

    /// [`Daemon::start`], with `prepare` called with the port and the
    /// directory before the server starts (to write its configuration).
    pub fn start_with(
        binaries: &[&str],
        args: &[&str],
        prepare: impl FnOnce(u16, &Path) -> Result<(), String>,
    ) -> Result<Daemon, String> {
        Daemon::start_with_env(binaries, args, &[], prepare)
    }

    /// [`Daemon::start_with`], with environment variables set for the
    /// server; in their values (as in `args`) `{port}` and `{dir}` are
    /// replaced, and `{port2}` by a second free port (for a server that
    /// listens on two).
    pub fn start_with_env(
        binaries: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
        prepare: impl FnOnce(u16, &Path) -> Result<(), String>,
    ) -> Result<Daemon, String> {
        let binary = binaries
            .iter()
            .find(|b| Path::new(b).exists())
            .ok_or_else(|| format!("none of {binaries:?} is installed"))?;
        // below the ephemeral range, so nothing takes them before the
        // server binds them, and never the same twice (see `crate::port`)
        let port = crate::listen_port();
        let port2 = crate::listen_port();
        let dir = std::env::temp_dir().join(crate::unique_name("daemon"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let fill = |a: &str| {
            a.replace("{port}", &port.to_string())
                .replace("{port2}", &port2.to_string())
                .replace("{dir}", &dir.display().to_string())
        };
        let args: Vec<String> = args.iter().map(|a| fill(a)).collect();
        let env: Vec<(String, String)> =
            env.iter().map(|(k, v)| (k.to_string(), fill(v))).collect();
        prepare(port, &dir)?;
        let binary = PathBuf::from(binary);
        let child = spawn(&binary, &args, &env, port)?;
        Ok(Daemon {
            child,
            binary,
            args,
            env,
            dir,
            port,
        })
    }

    /// Stops the server as a service manager would (SIGTERM, so it saves
    /// what it keeps on disk) and starts it again with the same arguments;
    /// returns once it listens again.
    pub fn restart(&mut self) -> Result<(), String> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        self.child = spawn(&self.binary, &self.args, &self.env, self.port)?;
        Ok(())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// How long a server may take to listen: a RabbitMQ node takes 10 s on
/// the loaded 2-core test machine.
const START_LIMIT: Duration = Duration::from_secs(60);

/// Starts `binary args` with `env` and waits until it listens on `port`.
fn spawn(
    binary: &Path,
    args: &[String],
    env: &[(String, String)],
    port: u16,
) -> Result<Child, String> {
    let mut child = Command::new(binary)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let started = Instant::now();
    while started.elapsed() < START_LIMIT {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{} exited ({status})", binary.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!(
        "{} did not listen on 127.0.0.1:{port} within {START_LIMIT:?}",
        binary.display()
    ))
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
