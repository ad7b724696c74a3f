//! Helpers shared by the emulator's integration tests: start an emulator
//! in process, get a token, and a small HTTP client that keeps cookies (as
//! CometD clients must).

#![allow(dead_code)]

use aqueduct_emulator::{Config, Emulator, Seed, serve};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

/// Starts an emulator on a free loopback port.
pub async fn start(seed: Seed) -> Emulator {
    serve(Config {
        seed,
        listen: "127.0.0.1:0".parse().expect("address"),
        pubsub_tls: None,
    })
    .await
    .expect("emulator starts")
}

/// Starts an emulator from seed YAML.
pub async fn start_yaml(yaml: &str) -> Emulator {
    start(Seed::parse(yaml, "test seed").expect("seed parses")).await
}

/// An HTTP client that keeps the cookies a server sets.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    cookies: Mutex<HashMap<String, String>>,
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder().build().expect("client"),
            base: base.to_string(),
            cookies: Mutex::new(HashMap::new()),
        }
    }

    pub fn cookie_header(&self) -> Option<String> {
        let jar = self.cookies.lock().expect("jar");
        (!jar.is_empty()).then(|| {
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    pub fn clear_cookies(&self) {
        self.cookies.lock().expect("jar").clear();
    }

    /// Sends a request; `with_cookies` adds the jar's cookies.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: Option<(String, Vec<u8>)>,
        with_cookies: bool,
    ) -> Reply {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.http.request(method, url);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        if with_cookies && let Some(c) = self.cookie_header() {
            rb = rb.header("cookie", c);
        }
        if let Some((content_type, bytes)) = body {
            rb = rb.header("content-type", content_type).body(bytes);
        }
        let resp = rb.send().await.expect("request is answered");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        for v in headers.get_all("set-cookie") {
            if let Some((k, rest)) = v.to_str().unwrap_or("").split_once('=') {
                let value = rest.split(';').next().unwrap_or("").to_string();
                self.cookies
                    .lock()
                    .expect("jar")
                    .insert(k.trim().to_string(), value);
            }
        }
        let text = resp.text().await.expect("body");
        Reply {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send("GET", path, &[auth(token)], None, true).await
    }

    pub async fn json(&self, method: &str, path: &str, token: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("json");
        self.send(
            method,
            path,
            &[auth(token)],
            Some(("application/json".into(), bytes)),
            true,
        )
        .await
    }
}

pub fn auth(token: &str) -> (String, String) {
    ("authorization".to_string(), format!("Bearer {token}"))
}

/// A client-credentials token from the built-in app.
pub async fn token(client: &Client) -> String {
    let body =
        b"grant_type=client_credentials&client_id=aqueduct-emulator&client_secret=emulator-secret"
            .to_vec();
    let r = client
        .send(
            "POST",
            "/services/oauth2/token",
            &[],
            Some(("application/x-www-form-urlencoded".into(), body)),
            false,
        )
        .await;
    assert_eq!(r.status, 200, "token: {}", r.text);
    r.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}
