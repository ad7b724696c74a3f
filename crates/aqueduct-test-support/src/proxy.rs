//! A loopback TCP proxy between a client under test and a real server, that
//! cuts every open connection on demand and can refuse new ones for a while:
//! a network fault without restarting a server other tests share.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A proxy on `127.0.0.1:<port>` forwarding to an upstream address.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: SocketAddr,
    /// Both halves of every open connection, to shut down on [`FaultProxy::cut`].
    open: Mutex<Vec<TcpStream>>,
    blocked: AtomicBool,
    accepted: AtomicUsize,
    stopped: AtomicBool,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`"127.0.0.1:5432"`, or a `host:port`).
    ///
    /// # Panics
    /// When the upstream address does not resolve or no loopback port is free
    /// (test set-up failures).
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| panic!("upstream address `{upstream}` does not resolve"));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local address: {e}"));
        let shared = Arc::new(Shared {
            upstream,
            open: Mutex::new(Vec::new()),
            blocked: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        thread::spawn(move || accept_loop(listener, accept_shared));
        FaultProxy { addr, shared }
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Closes every open connection at once (both directions), as a network
    /// cut or a server crash would look to the client.
    pub fn cut(&self) {
        let streams = std::mem::take(&mut *lock(&self.shared.open));
        for stream in streams {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// While blocked, new connections are accepted and closed at once
    /// (a server that is down); open ones are not touched.
    pub fn set_blocked(&self, blocked: bool) {
        self.shared.blocked.store(blocked, Ordering::SeqCst);
    }

    /// How many client connections were accepted so far (including refused ones).
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// How many proxied connections are open now.
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.open).len() / 2
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.cut();
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        if shared.blocked.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(5))
        else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        ) else {
            continue;
        };
        lock(&shared.open).extend([c3, s3]);
        thread::spawn(move || pump(client, server));
        thread::spawn(move || pump(s2, c2));
    }
}

/// Copies `from` into `to` until either side closes, then closes both.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut s = stream;
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn forwards_then_cuts_then_refuses_then_forwards_again() {
        let proxy = FaultProxy::start(&echo_server().to_string());
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        c.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");

        proxy.cut();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(
            matches!(c.read(&mut buf), Ok(0) | Err(_)),
            "cut closes the connection"
        );

        proxy.set_blocked(true);
        let mut refused = TcpStream::connect(proxy.addr()).unwrap();
        refused
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert!(
            matches!(refused.read(&mut buf), Ok(0) | Err(_)),
            "blocked refuses"
        );

        proxy.set_blocked(false);
        let mut again = TcpStream::connect(proxy.addr()).unwrap();
        again.write_all(b"pong").unwrap();
        again.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
        assert_eq!(proxy.accepted(), 3);
    }
}
