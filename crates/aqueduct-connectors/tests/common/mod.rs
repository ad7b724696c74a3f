//! Test helpers: building `OpContext`s, expressions and records, and
//! collecting what a source sends.
#![allow(dead_code)]

use aqueduct_graph::{
    ConfigValue, Expr, ExprKind, FieldType, ModeKind, OpRef, Origin, System, Type, Value as GValue,
};
use aqueduct_runtime::connector::{
    ConfigResolver, ConnectorError, Envelope, OpContext, StateStore,
};
use aqueduct_runtime::state::MemoryStore;
use aqueduct_runtime::value::{Layout, Record, Schemas, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Resolves literals and `env()`/`secret()` from the environment.
pub struct EnvConfig;

impl ConfigResolver for EnvConfig {
    fn string(&self, system: &System, option: &str) -> Result<Option<String>, ConnectorError> {
        Ok(match system.option(option) {
            None => None,
            Some(ConfigValue::Literal(GValue::String(s))) | Some(ConfigValue::Enum(s)) => {
                Some(s.clone())
            }
            Some(ConfigValue::Env { name, default }) => {
                std::env::var(name).ok().or_else(|| default.clone())
            }
            Some(ConfigValue::Secret { name }) => std::env::var(name).ok(),
            Some(other) => {
                return Err(ConnectorError::Config(format!(
                    "option {option}: unsupported {other:?}"
                )));
            }
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

/// A record of `ty` from slot values.
pub fn slots(schemas: &Schemas, ty: &str, values: Vec<Value>) -> Value {
    Value::Record(Arc::new(Record {
        layout: schemas.layout(ty).expect("layout").clone(),
        slots: values,
    }))
}

pub fn s(text: &str) -> Value {
    Value::String(Arc::from(text))
}

/// A string literal.
pub fn lit(text: &str) -> Expr {
    Expr {
        kind: ExprKind::Lit(GValue::String(text.to_string())),
        ty: Type::String,
    }
}

/// A duration literal.
pub fn dur(ms: u64) -> Expr {
    Expr {
        kind: ExprKind::Lit(GValue::Duration(ms)),
        ty: Type::Duration,
    }
}

/// A boolean literal.
pub fn boolean(b: bool) -> Expr {
    Expr {
        kind: ExprKind::Lit(GValue::Bool(b)),
        ty: Type::Bool,
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

pub fn block(kind: &str, options: &[(&str, &str)]) -> ConfigValue {
    ConfigValue::Block {
        kind: Some(kind.to_string()),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), opt_str(v)))
            .collect(),
    }
}

/// A context and the handle that signals shutdown.
pub struct Ctx {
    pub cx: OpContext,
    pub stop: watch::Sender<bool>,
    pub state: Arc<MemoryStore>,
}

/// Builds contexts.
pub struct Builder {
    pub kind: String,
    pub options: Vec<(String, ConfigValue)>,
    pub op: String,
    pub args: Vec<(String, Expr)>,
    pub ty: Type,
    pub schemas: Arc<Schemas>,
    pub mode: ModeKind,
    pub chunk: usize,
    pub state: Arc<MemoryStore>,
    pub flow: String,
    pub batched: bool,
}

pub fn builder(kind: &str, op: &str, ty: &str, schemas: &Arc<Schemas>) -> Builder {
    Builder {
        kind: kind.to_string(),
        options: Vec::new(),
        op: op.to_string(),
        args: Vec::new(),
        ty: Type::parse(ty).expect("type"),
        schemas: schemas.clone(),
        mode: ModeKind::Async,
        chunk: 1000,
        state: Arc::new(MemoryStore::default()),
        flow: "test_flow".to_string(),
        batched: false,
    }
}

impl Builder {
    pub fn option(mut self, name: &str, value: ConfigValue) -> Self {
        self.options.push((name.to_string(), value));
        self
    }

    pub fn arg(mut self, name: &str, value: Expr) -> Self {
        self.args.push((name.to_string(), value));
        self
    }

    pub fn mode(mut self, mode: ModeKind) -> Self {
        self.mode = mode;
        self
    }

    pub fn chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk;
        self
    }

    /// A target after a `batch` step.
    pub fn batched(mut self) -> Self {
        self.batched = true;
        self
    }

    pub fn state(mut self, state: &Arc<MemoryStore>) -> Self {
        self.state = state.clone();
        self
    }

    pub fn build(self) -> Ctx {
        let (stop, shutdown) = watch::channel(false);
        let system = System {
            name: "sys".to_string(),
            kind: self.kind.clone(),
            options: self.options,
            doc: Vec::new(),
            origin: Origin::default(),
        };
        let op = OpRef {
            system: "sys".to_string(),
            connector: self.kind,
            operation: self.op,
            args: self
                .args
                .into_iter()
                .map(|(name, value)| aqueduct_graph::Arg { name, value })
                .collect(),
            origin: Origin::default(),
        };
        let state: Arc<dyn StateStore> = self.state.clone();
        let cx = OpContext {
            flow: self.flow,
            system: Arc::new(system),
            op,
            record_type: self.ty,
            schemas: self.schemas,
            mode: self.mode,
            chunk: self.chunk,
            state,
            config: Arc::new(EnvConfig),
            shutdown,
            // a run already started, unless a test holds it back
            started: watch::channel(true).1,
            batched: self.batched,
            warnings: Arc::default(),
        };
        Ctx {
            cx,
            stop,
            state: self.state,
        }
    }
}

/// Receives the next envelope, failing after five seconds.
pub async fn next(rx: &mut mpsc::Receiver<Envelope>) -> Envelope {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("timed out waiting for a record")
        .expect("source ended")
}

/// The record of an envelope as JSON text.
pub fn json_of(env: &Envelope) -> String {
    env.record
        .as_ref()
        .expect("decoded record")
        .to_json_string()
}
