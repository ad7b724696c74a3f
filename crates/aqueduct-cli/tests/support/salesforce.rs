//! The Salesforce emulator seen from a test: started in process on a free
//! port, and driven or read through its public APIs the way another
//! Salesforce client would (OAuth client credentials, REST writes, SOQL,
//! and CometD for platform events, which have no records to query).

use aqueduct_emulator::{Config, Emulator, PubSubTls, Seed, serve};
use serde_json::{Value, json};

/// An emulator on a runtime that lives as long as the test, and the
/// connected app the test's own calls use.
pub struct Org {
    /// The emulator (declared first: dropped while its runtime still runs).
    pub emulator: Emulator,
    /// The runtime the emulator (and the test's calls) run on.
    pub rt: tokio::runtime::Runtime,
    client_id: String,
    client_secret: String,
}

impl Org {
    /// Starts an emulator with `seed` on a free loopback port; the test's
    /// calls authenticate as `client_id` / `client_secret` of that seed.
    pub fn start(seed: Seed, client_id: &str, client_secret: &str) -> Org {
        Org::start_with(seed, None, client_id, client_secret)
    }

    /// [`Org::start`], also serving the Pub/Sub API over TLS (on a free
    /// port of its own) when `pubsub_tls` is given.
    pub fn start_with(
        seed: Seed,
        pubsub_tls: Option<PubSubTls>,
        client_id: &str,
        client_secret: &str,
    ) -> Org {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let emulator = rt
            .block_on(serve(Config {
                seed,
                listen: "127.0.0.1:0".parse().expect("address"),
                pubsub_tls,
            }))
            .expect("emulator starts");
        Org {
            emulator,
            rt,
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
        }
    }

    /// Starts an emulator seeded from a YAML file (e.g. an example's seed).
    pub fn from_file(path: &std::path::Path, client_id: &str, client_secret: &str) -> Org {
        let seed = Seed::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Org::start(seed, client_id, client_secret)
    }

    /// The instance URL.
    pub fn url(&self) -> &str {
        self.emulator.instance_url()
    }

    async fn token(&self, http: &reqwest::Client) -> String {
        let token: Value = http
            .post(self.emulator.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.as_str()),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        token["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token in {token}"))
            .to_string()
    }

    /// An access token of the test's app, as the org issues them.
    pub fn access_token(&self) -> String {
        self.rt.block_on(self.token(&reqwest::Client::new()))
    }

    /// `{instance}/services/data/v62.0{path}`.
    fn data(&self, path: &str) -> String {
        format!("{}/services/data/v62.0{path}", self.url())
    }

    /// The records of `soql`.
    pub fn query(&self, soql: &str) -> Vec<Value> {
        self.rt.block_on(async {
            let http = reqwest::Client::new();
            let token = self.token(&http).await;
            let page: Value = http
                .get(self.data("/query"))
                .query(&[("q", soql)])
                .bearer_auth(token)
                .send()
                .await
                .expect("query")
                .json()
                .await
                .expect("query json");
            page["records"].as_array().cloned().unwrap_or_default()
        })
    }

    /// `GET {instance}/services/data/v62.0{path}`: the JSON answer.
    pub fn rest_get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// The `totalSize` of `soql` (e.g. `SELECT COUNT() FROM Contact`).
    pub fn count(&self, soql: &str) -> u64 {
        let (status, page) = self.send(
            reqwest::Method::GET,
            &format!("/query?q={}", soql.replace(' ', "+").replace('\'', "%27")),
            None,
        );
        assert_eq!(status, 200, "{soql}: {page}");
        page["totalSize"].as_u64().unwrap_or_default()
    }

    /// Creates a record through REST; its id.
    pub fn create(&self, object: &str, fields: Value) -> String {
        let (status, body) = self.send(
            reqwest::Method::POST,
            &format!("/sobjects/{object}/"),
            Some(fields),
        );
        assert_eq!(status, 201, "create {object}: {body}");
        body["id"].as_str().unwrap_or_default().to_string()
    }

    /// Updates a record through REST.
    pub fn update(&self, object: &str, id: &str, fields: Value) {
        let (status, body) = self.send(
            reqwest::Method::PATCH,
            &format!("/sobjects/{object}/{id}"),
            Some(fields),
        );
        assert_eq!(status, 204, "update {object} {id}: {body}");
    }

    /// Deletes a record through REST.
    pub fn delete(&self, object: &str, id: &str) {
        let (status, body) = self.send(
            reqwest::Method::DELETE,
            &format!("/sobjects/{object}/{id}"),
            None,
        );
        assert_eq!(status, 204, "delete {object} {id}: {body}");
    }

    /// A call to the emulator's admin API (`/_emulator/{path}`, no token):
    /// the JSON answer, or null when it has no body.
    pub fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        self.rt.block_on(async {
            let url = format!("{}/_emulator/{path}", self.url());
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let reply = reqwest::Client::new()
                .request(method, url)
                .json(&body)
                .send()
                .await
                .expect("admin call");
            reply.json().await.unwrap_or(Value::Null)
        })
    }

    fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.rt.block_on(async {
            let http = reqwest::Client::new();
            let token = self.token(&http).await;
            let mut request = http.request(method, self.data(path)).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.expect("REST call");
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    }

    /// Every retained event of a Streaming API `channel` (e.g.
    /// `/event/Order__e`), read as a CometD client: handshake (keeping the
    /// `BAYEUX_BROWSER` cookie), subscribe with replay -2, one connect. The
    /// emulator answers the first connect at once with what is retained.
    pub fn retained_events(&self, channel: &str) -> Vec<Value> {
        self.rt.block_on(async {
            let http = reqwest::Client::new();
            let token = self.token(&http).await;
            let url = format!("{}/cometd/62.0", self.url());
            let handshake = http
                .post(&url)
                .bearer_auth(&token)
                .json(&json!([{"channel": "/meta/handshake", "version": "1.0",
                    "supportedConnectionTypes": ["long-polling"]}]))
                .send()
                .await
                .expect("handshake");
            let cookie: Vec<String> = handshake
                .headers()
                .get_all(reqwest::header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(|v| v.split(';').next())
                .map(str::to_string)
                .collect();
            let cookie = cookie.join("; ");
            let answer: Value = handshake.json().await.expect("handshake json");
            let client_id = answer[0]["clientId"]
                .as_str()
                .unwrap_or_else(|| panic!("no clientId in {answer}"))
                .to_string();
            let bayeux = |message: Value| {
                let request = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header(reqwest::header::COOKIE, &cookie)
                    .json(&json!([message]));
                async move {
                    let answer: Value = request
                        .send()
                        .await
                        .expect("bayeux")
                        .json()
                        .await
                        .expect("bayeux json");
                    answer.as_array().cloned().unwrap_or_default()
                }
            };
            let subscribed = bayeux(json!({"channel": "/meta/subscribe", "clientId": client_id,
                "subscription": channel, "ext": {"replay": {channel: -2}}}))
            .await;
            assert_eq!(
                subscribed.first().map(|m| m["successful"].clone()),
                Some(json!(true)),
                "subscribe to {channel}: {subscribed:?}"
            );
            let delivered = bayeux(json!({"channel": "/meta/connect", "clientId": client_id,
                "connectionType": "long-polling"}))
            .await;
            let _ = bayeux(json!({"channel": "/meta/disconnect", "clientId": client_id})).await;
            delivered
                .into_iter()
                .filter(|m| m["channel"] == channel)
                .collect()
        })
    }
}
