//! The endpoint against clients that do not play by the rules, over raw
//! TCP on loopback: authentication decided on the headers before any body
//! is read, header and body read timeouts, the bound on open connections,
//! the bound on bodies read before their HMAC is verified, the bearer
//! scheme in any case, and 503 with `Retry-After` (not 404) while draining.

mod common;

use aqueduct_connectors::endpoint::{EndpointConnector, hmac_sha256_hex};
use aqueduct_graph::{ConfigValue, Value as GValue};
use aqueduct_runtime::connector::{ConnectorFactory, Envelope};
use common::{block, builder, lit, opt_str, schemas};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Generous: the machine running the tests is loaded.
const PATIENCE: Duration = Duration::from_secs(30);

/// An address for the endpoint, on a port nothing else takes before the
/// endpoint binds it (see `aqueduct_test_support::listen_port`).
fn free_listen() -> String {
    format!("127.0.0.1:{}", aqueduct_test_support::listen_port())
}

fn order_schemas() -> Arc<aqueduct_runtime::value::Schemas> {
    schemas(&[("Order", &[("id", "string")])])
}

fn dur(ms: u64) -> ConfigValue {
    ConfigValue::Literal(GValue::Duration(ms))
}

fn int(n: i64) -> ConfigValue {
    ConfigValue::Literal(GValue::Int(n))
}

/// Starts a source that acknowledges every record at once.
fn serve(cx: &aqueduct_runtime::connector::OpContext) {
    let source = EndpointConnector.source(cx).expect("source");
    let (tx, mut rx) = mpsc::channel::<Envelope>(16);
    tokio::spawn(source.run(tx));
    tokio::spawn(async move {
        while let Some(env) = rx.recv().await {
            env.ack.done();
        }
    });
}

async fn connect(listen: &str) -> TcpStream {
    for _ in 0..200 {
        if let Ok(s) = TcpStream::connect(listen).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("cannot connect to {listen}");
}

/// Reads until the server closes or a whole response head (and a short
/// body) is there; `None` when nothing came within `limit`.
async fn response(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got);
                    if let Some(head_end) = text.find("\r\n\r\n")
                        && text[head_end..].contains('}')
                    {
                        break;
                    }
                }
            }
        }
    };
    let _ = tokio::time::timeout(limit, read).await;
    (!got.is_empty()).then(|| String::from_utf8_lossy(&got).into_owned())
}

/// True once the server has closed the connection (within `limit`).
async fn closed_by_server(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let wait = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(limit, wait).await.unwrap_or(false)
}

fn status(text: &str) -> &str {
    text.split(' ').nth(1).unwrap_or("")
}

#[tokio::test]
async fn a_client_without_credentials_gets_401_before_sending_its_body() {
    let listen = free_listen();
    let schemas = order_schemas();
    let ctx = builder("endpoint", "post", "Order", &schemas)
        .option("listen", opt_str(&listen))
        .option("max_body", int(10 << 20))
        .option("auth", block("bearer", &[("token", "t0ken-value")]))
        .arg("path", lit("/orders"))
        .build();
    serve(&ctx.cx);
    for auth in ["", "Authorization: Bearer wrong\r\n"] {
        let mut stream = connect(&listen).await;
        // 9.9 MB announced, not one byte of it sent: the answer must not wait for it
        let head = format!(
            "POST /orders HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 9900000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let answer = response(&mut stream, PATIENCE).await.expect("an answer");
        assert_eq!(status(&answer), "401", "{answer}");
        assert!(answer.contains("unauthorized"), "{answer}");
    }
    // the scheme name is case-insensitive (RFC 7235)
    let mut stream = connect(&listen).await;
    let body = r#"{"id":"1"}"#;
    let head = format!(
        "POST /orders HTTP/1.1\r\nHost: x\r\nauthorization: bearer t0ken-value\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let answer = response(&mut stream, PATIENCE).await.expect("an answer");
    assert_eq!(status(&answer), "202", "{answer}");
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let listen = free_listen();
    let schemas = order_schemas();
    let ctx = builder("endpoint", "post", "Order", &schemas)
        .option("listen", opt_str(&listen))
        .option("header_timeout", dur(500))
        .option("body_timeout", dur(500))
        .arg("path", lit("/orders"))
        .build();
    serve(&ctx.cx);
    // headers that never end: the connection is closed
    let mut slow = connect(&listen).await;
    slow.write_all(b"POST /orders HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    assert!(closed_by_server(&mut slow, PATIENCE).await);
    // a client that connects and sends nothing: closed too
    let mut idle = connect(&listen).await;
    assert!(closed_by_server(&mut idle, PATIENCE).await);
    // a body that never ends: 408
    let mut stream = connect(&listen).await;
    stream
        .write_all(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id\"")
        .await
        .expect("write");
    let answer = response(&mut stream, PATIENCE).await.expect("an answer");
    assert_eq!(status(&answer), "408", "{answer}");
    assert!(
        answer.contains("the body did not arrive within")
            && answer.contains(r#""code":"request_timeout""#),
        "{answer}"
    );
}

#[tokio::test]
async fn open_connections_are_bounded_and_freed_slots_are_reused() {
    let listen = free_listen();
    let schemas = order_schemas();
    let ctx = builder("endpoint", "post", "Order", &schemas)
        .option("listen", opt_str(&listen))
        .option("max_connections", int(2))
        .option("header_timeout", dur(60_000))
        .arg("path", lit("/orders"))
        .build();
    serve(&ctx.cx);
    let body = r#"{"id":"1"}"#;
    let request = format!(
        "POST /orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // the server works
    let mut first = connect(&listen).await;
    first.write_all(request.as_bytes()).await.expect("write");
    let answer = response(&mut first, PATIENCE).await.expect("an answer");
    assert_eq!(status(&answer), "202", "{answer}");
    drop(first);
    // two idle clients take both slots ...
    let hog1 = connect(&listen).await;
    let hog2 = connect(&listen).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ... so a third is not served while they stay
    let mut waiting = connect(&listen).await;
    waiting.write_all(request.as_bytes()).await.expect("write");
    assert_eq!(
        response(&mut waiting, Duration::from_millis(700)).await,
        None,
        "served past max_connections"
    );
    // one leaves: the waiting client is served
    drop(hog1);
    let answer = response(&mut waiting, PATIENCE).await.expect("an answer");
    assert_eq!(status(&answer), "202", "{answer}");
    drop(hog2);
}

#[tokio::test]
async fn unverified_hmac_bodies_are_read_a_bounded_number_at_a_time() {
    let listen = free_listen();
    let schemas = order_schemas();
    let ctx = builder("endpoint", "post", "Order", &schemas)
        .option("listen", opt_str(&listen))
        .option("max_unverified_bodies", int(1))
        .option("body_timeout", dur(1_000))
        .option(
            "auth",
            block("hmac", &[("header", "X-Signature"), ("secret", "whsec")]),
        )
        .arg("path", lit("/hooks"))
        .build();
    serve(&ctx.cx);
    // a client without the signature header is refused before its body
    let mut unsigned = connect(&listen).await;
    unsigned
        .write_all(b"POST /hooks HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000\r\n\r\n")
        .await
        .expect("write");
    let answer = response(&mut unsigned, PATIENCE).await.expect("an answer");
    assert_eq!(status(&answer), "401", "{answer}");
    // one signed client sends its body slowly and holds the only slot ...
    let mut holder = connect(&listen).await;
    holder
        .write_all(
            b"POST /hooks HTTP/1.1\r\nHost: x\r\nX-Signature: 00\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ... so another signed request gets 503 with Retry-After, not a wait without end
    let body = r#"{"id":"1"}"#;
    let signature = hmac_sha256_hex(b"whsec", body.as_bytes());
    let mut other = connect(&listen).await;
    other
        .write_all(
            format!(
                "POST /hooks HTTP/1.1\r\nHost: x\r\nX-Signature: {signature}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let answer = response(&mut other, PATIENCE).await.expect("an answer");
    assert!(
        status(&answer) == "503" || status(&answer) == "202",
        "{answer}"
    );
    if status(&answer) == "503" {
        assert!(
            answer.to_ascii_lowercase().contains("retry-after: 5"),
            "{answer}"
        );
    }
    // the holder times out (408) and frees the slot: signed requests pass again
    let answer = response(&mut holder, PATIENCE).await.expect("an answer");
    assert_eq!(status(&answer), "408", "{answer}");
    let mut again = connect(&listen).await;
    again
        .write_all(
            format!(
                "POST /hooks HTTP/1.1\r\nHost: x\r\nX-Signature: sha256={signature}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let answer = response(&mut again, PATIENCE).await.expect("an answer");
    assert_eq!(status(&answer), "202", "{answer}");
}

#[tokio::test]
async fn a_route_gone_during_the_drain_answers_503_with_retry_after() {
    let listen = free_listen();
    let schemas = order_schemas();
    let a = builder("endpoint", "post", "Order", &schemas)
        .option("listen", opt_str(&listen))
        .arg("path", lit("/a"))
        .build();
    let b = builder("endpoint", "post", "Order", &schemas)
        .option("listen", opt_str(&listen))
        .arg("path", lit("/b"))
        .build();
    let source_a = EndpointConnector.source(&a.cx).expect("a");
    // b keeps the server (and its listener) open while a's route goes away
    let _source_b = EndpointConnector.source(&b.cx).expect("b");
    let request = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    // SIGTERM: the shutdown signal, then a's source is dropped with its route
    a.stop.send(true).expect("signal");
    b.stop.send(true).expect("signal");
    drop(source_a);
    let mut stream = connect(&listen).await;
    stream.write_all(request.as_bytes()).await.expect("write");
    let answer = response(&mut stream, PATIENCE).await.expect("an answer");
    assert_eq!(status(&answer), "503", "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 5"),
        "{answer}"
    );
    assert!(
        answer.contains(r#""error":"the service is shutting down; try again""#)
            && answer.contains(r#""code":"unavailable""#),
        "{answer}"
    );
}
