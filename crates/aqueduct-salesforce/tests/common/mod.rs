//! Test helpers: an emulator started in process, `OpContext`s for the
//! connector's operations, admin calls, and collecting a source's records.
//!
//! The tests run on a multi-threaded runtime: building an operation runs the
//! start-up preflight (a `describe` of the sObject) on a thread of its own
//! and waits for it, and the emulator in this process must go on answering
//! on another worker meanwhile.
#![allow(dead_code, clippy::unwrap_used)]

use aqueduct_emulator::{Config, Emulator, Seed, serve};
use aqueduct_graph::{
    ConfigValue, Expr, ExprKind, FieldType, ModeKind, OpRef, Origin, System, Type, Value as GValue,
};
use aqueduct_runtime::connector::{
    Call, ConfigResolver, ConnectorError, ConnectorFactory, OpContext, Source, StateStore, Target,
};
use aqueduct_runtime::state::MemoryStore;
use aqueduct_runtime::value::{Layout, Schemas, Value};
use aqueduct_salesforce::{Backoff, SalesforceConnector};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

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

/// A connector with short backoffs (tests must not wait seconds).
pub fn connector() -> SalesforceConnector {
    SalesforceConnector::with_backoff(Backoff {
        retries: 4,
        base: Duration::from_millis(20),
        limit_base: Duration::from_millis(50),
        max: Duration::from_millis(500),
    })
}

/// Resolves literals only (tests pass secrets as literals).
pub struct Literals;

impl ConfigResolver for Literals {
    fn string(&self, system: &System, option: &str) -> Result<Option<String>, ConnectorError> {
        Ok(match system.option(option) {
            Some(ConfigValue::Literal(GValue::String(s))) | Some(ConfigValue::Enum(s)) => {
                Some(s.clone())
            }
            _ => None,
        })
    }
}

/// Record layouts from `(type, [(field, type)])`.
pub fn schemas(types: &[(&str, &[(&str, &str)])]) -> Arc<Schemas> {
    let mut schemas = Schemas::default();
    for (name, fields) in types {
        let fields = fields
            .iter()
            .map(|(f, t)| FieldType {
                name: f.to_string(),
                ty: Type::parse(t).expect("type"),
                doc: Vec::new(),
            })
            .collect();
        schemas.layouts.insert(
            name.to_string(),
            Arc::new(Layout {
                name: name.to_string(),
                fields,
            }),
        );
    }
    Arc::new(schemas)
}

/// A record of `ty` from JSON.
pub fn record(schemas: &Schemas, ty: &str, json: serde_json::Value) -> Value {
    Value::from_json(&json, &Type::Record(ty.to_string()), schemas).expect("record")
}

/// A string literal.
pub fn lit(text: &str) -> Expr {
    Expr {
        kind: ExprKind::Lit(GValue::String(text.to_string())),
        ty: Type::String,
    }
}

/// A field list `[a, b]`.
pub fn fields(names: &[&str]) -> Expr {
    Expr {
        kind: ExprKind::List(names.iter().map(|n| lit(n)).collect()),
        ty: Type::List(Box::new(Type::String)),
    }
}

/// A template: `{.name}` reads a field of the record, the rest is literal.
pub fn template(text: &str) -> Expr {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{.") {
        if start > 0 {
            parts.push(lit(&rest[..start]));
        }
        let end = rest[start..].find('}').expect("closing brace") + start;
        let name = &rest[start + 2..end];
        parts.push(Expr {
            kind: ExprKind::Field {
                base: Box::new(Expr {
                    kind: ExprKind::Current,
                    ty: Type::Json,
                }),
                name: name.to_string(),
                slot: None,
            },
            ty: Type::String,
        });
        rest = &rest[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(lit(rest));
    }
    Expr {
        kind: ExprKind::Interpolate(parts),
        ty: Type::String,
    }
}

pub fn opt_str(text: &str) -> ConfigValue {
    ConfigValue::Literal(GValue::String(text.to_string()))
}

/// The system options for the emulator with `auth = kind { options }`.
pub fn system_options(
    instance_url: &str,
    kind: &str,
    auth: &[(&str, &str)],
) -> Vec<(String, ConfigValue)> {
    vec![
        ("instance_url".to_string(), opt_str(instance_url)),
        ("api_version".to_string(), opt_str("62.0")),
        (
            "auth".to_string(),
            ConfigValue::Block {
                kind: Some(kind.to_string()),
                options: auth
                    .iter()
                    .map(|(k, v)| (k.to_string(), opt_str(v)))
                    .collect(),
            },
        ),
    ]
}

/// Client-credentials options for the default seed's connected app.
pub fn client_credentials(instance_url: &str) -> Vec<(String, ConfigValue)> {
    system_options(
        instance_url,
        "oauth2_client_credentials",
        &[
            ("client_id", "aqueduct-emulator"),
            ("client_secret", "emulator-secret"),
        ],
    )
}

/// Builds an `OpContext`.
pub fn context(
    options: Vec<(String, ConfigValue)>,
    op: &str,
    args: Vec<(&str, Expr)>,
    ty: &str,
    schemas: &Arc<Schemas>,
    batched: bool,
) -> (OpContext, watch::Sender<bool>) {
    context_with_state(
        options,
        op,
        args,
        ty,
        schemas,
        batched,
        Arc::new(MemoryStore::default()),
    )
}

/// [`context`] with the state store given (positions across runs).
pub fn context_with_state(
    options: Vec<(String, ConfigValue)>,
    op: &str,
    args: Vec<(&str, Expr)>,
    ty: &str,
    schemas: &Arc<Schemas>,
    batched: bool,
    state: Arc<MemoryStore>,
) -> (OpContext, watch::Sender<bool>) {
    let (stop, shutdown) = watch::channel(false);
    let system = System {
        name: "crm".to_string(),
        kind: "salesforce".to_string(),
        options,
        doc: Vec::new(),
        origin: Origin::default(),
    };
    let op = OpRef {
        system: "crm".to_string(),
        connector: "salesforce".to_string(),
        operation: op.to_string(),
        args: args
            .into_iter()
            .map(|(name, value)| aqueduct_graph::Arg {
                name: name.to_string(),
                value,
            })
            .collect(),
        origin: Origin::default(),
    };
    let state: Arc<dyn StateStore> = state;
    let cx = OpContext {
        flow: "test_flow".to_string(),
        system: Arc::new(system),
        op,
        record_type: Type::parse(ty).expect("type"),
        schemas: schemas.clone(),
        mode: ModeKind::Batch,
        chunk: 1000,
        state,
        config: Arc::new(Literals),
        shutdown,
        started: tokio::sync::watch::channel(true).1,
        batched,
        warnings: Arc::default(),
    };
    (cx, stop)
}

/// Runs a source to its end; every record (decoded or not).
pub async fn drain(source: Box<dyn Source>) -> Result<Vec<Result<Value, String>>, ConnectorError> {
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(source.run(tx));
    let mut out = Vec::new();
    while let Some(env) = rx.recv().await {
        out.push(env.record.map_err(|e| e.reason));
    }
    run.await.expect("source task")?;
    Ok(out)
}

pub fn source(f: &SalesforceConnector, cx: &OpContext) -> Box<dyn Source> {
    match f.source(cx) {
        Ok(s) => s,
        Err(e) => panic!("source: {e}"),
    }
}

pub fn target(f: &SalesforceConnector, cx: &OpContext) -> Arc<dyn Target> {
    match f.target(cx) {
        Ok(s) => s,
        Err(e) => panic!("target: {e}"),
    }
}

pub fn call(f: &SalesforceConnector, cx: &OpContext) -> Arc<dyn Call> {
    match f.call(cx) {
        Ok(s) => s,
        Err(e) => panic!("call: {e}"),
    }
}

/// A JSON request to the emulator's admin API; the answer's JSON.
pub async fn admin(
    emulator: &Emulator,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let url = format!("{}/_emulator/{path}", emulator.instance_url());
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let reply = reqwest::Client::new()
        .request(method, url)
        .json(&body)
        .send()
        .await
        .expect("admin call");
    reply.json().await.unwrap_or(serde_json::Value::Null)
}

/// A SOQL query straight against the emulator (client credentials); the records.
pub async fn soql(emulator: &Emulator, q: &str) -> Vec<serde_json::Value> {
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(emulator.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "aqueduct-emulator"),
            ("client_secret", "emulator-secret"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let token = token["access_token"]
        .as_str()
        .expect("access token")
        .to_string();
    let mut out = Vec::new();
    let mut url = format!("{}/services/data/v62.0/query", emulator.instance_url());
    let mut first = true;
    loop {
        let mut req = http.get(&url).bearer_auth(&token);
        if first {
            req = req.query(&[("q", q)]);
        }
        let page: serde_json::Value = req.send().await.expect("query").json().await.expect("json");
        out.extend(page["records"].as_array().cloned().unwrap_or_default());
        match page["nextRecordsUrl"].as_str() {
            Some(next) => {
                url = format!("{}{next}", emulator.instance_url());
                first = false;
            }
            None => return out,
        }
    }
}

/// The `Contact` layout the write tests use: `Id` and the three seeded
/// fields, all optional.
pub fn contact_schemas() -> Arc<Schemas> {
    schemas(&[(
        "Contact",
        &[
            ("Id", "string?"),
            ("FirstName", "string?"),
            ("LastName", "string?"),
            ("Ext_Id__c", "string?"),
        ],
    )])
}

/// A `Contact` target for `op` against `emulator` (client-credentials
/// login), with `extra` arguments after `object`.
pub fn contact_writer(
    emulator: &Emulator,
    op: &str,
    extra: Vec<(&str, Expr)>,
    s: &Arc<Schemas>,
) -> Arc<dyn Target> {
    let mut args = vec![("object", lit("Contact"))];
    args.extend(extra);
    let (cx, stop) = context(
        client_credentials(emulator.instance_url()),
        op,
        args,
        "Contact",
        s,
        true,
    );
    // a dropped sender reads as a shutdown; the target serves the whole test
    std::mem::forget(stop);
    target(&connector(), &cx)
}

/// Writes one `ty` record made of `json` through `op` (with `args`), as
/// another application using the org would; panics naming `op` when the
/// write fails.
pub async fn write_one(
    emulator: &Emulator,
    f: &SalesforceConnector,
    op: &str,
    args: Vec<(&str, Expr)>,
    ty: &str,
    s: &Arc<Schemas>,
    json: serde_json::Value,
) {
    let (cx, _stop) = context(
        client_credentials(emulator.instance_url()),
        op,
        args,
        ty,
        s,
        false,
    );
    target(f, &cx)
        .write(&[record(s, ty, json)])
        .await
        .expect(op);
}

/// `n` `Contact` records: contact `i` has `first(i)` and `last(i)` (no
/// LastName when `None`) and the external id `E-i`.
pub fn contact_records(
    s: &Schemas,
    n: usize,
    first: impl Fn(usize) -> String,
    last: impl Fn(usize) -> Option<String>,
) -> Vec<Value> {
    (0..n)
        .map(|i| {
            record(
                s,
                "Contact",
                serde_json::json!({"FirstName": first(i), "LastName": last(i), "Ext_Id__c": format!("E-{i}")}),
            )
        })
        .collect()
}
