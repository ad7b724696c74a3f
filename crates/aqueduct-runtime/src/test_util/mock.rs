//! Mock connectors: a vec source that counts acks, a collecting target, a
//! target failing N times, a slow target, a scripted call, and a factory
//! serving them under one connector kind.

use crate::connector::{
    Ack, Call, ConnectorError, ConnectorFactory, DecodeError, Envelope, OpContext, Source, Target,
};
use crate::value::Value;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Sends its records, then waits for their acks (up to a second after the
/// last one) and counts them in `acked`.
pub struct VecSource {
    /// What to send.
    pub records: Vec<Result<Value, DecodeError>>,
    /// Acks received.
    pub acked: Arc<AtomicUsize>,
}

impl VecSource {
    /// A source of `records`, and its ack counter.
    pub fn new(records: Vec<Value>) -> (VecSource, Arc<AtomicUsize>) {
        let acked = Arc::new(AtomicUsize::new(0));
        (
            VecSource {
                records: records.into_iter().map(Ok).collect(),
                acked: acked.clone(),
            },
            acked,
        )
    }
}

impl Source for VecSource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let mut waits = Vec::new();
            for record in self.records {
                let (ack, rx) = Ack::new();
                if out.send(Envelope::new(record, ack)).await.is_err() {
                    break;
                }
                waits.push(rx);
            }
            drop(out);
            for rx in waits {
                if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(2), rx).await {
                    self.acked.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(())
        })
    }
}

/// Keeps every record written, and the size of each write.
#[derive(Default, Clone)]
pub struct CollectTarget {
    /// Records in arrival order.
    pub records: Arc<Mutex<Vec<Value>>>,
    /// Group size of each write.
    pub writes: Arc<Mutex<Vec<usize>>>,
    /// Flushes seen.
    pub flushes: Arc<AtomicUsize>,
}

impl CollectTarget {
    /// The records as JSON text, in order.
    pub fn json(&self) -> Vec<String> {
        self.records
            .lock()
            .map(|r| r.iter().map(Value::to_json_string).collect())
            .unwrap_or_default()
    }
}

impl Target for CollectTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        if let (Ok(mut r), Ok(mut w)) = (self.records.lock(), self.writes.lock()) {
            r.extend(records.iter().cloned());
            w.push(records.len());
        }
        Box::pin(async { Ok(()) })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

/// Fails the first `failures` writes with `error`, then collects.
pub struct FailingTarget {
    /// Failures left.
    pub failures: AtomicU32,
    /// The error returned.
    pub error: ConnectorError,
    /// Where successful writes go.
    pub inner: CollectTarget,
    /// Write attempts seen.
    pub attempts: Arc<AtomicU32>,
}

impl FailingTarget {
    /// Fails `failures` times with a transient error.
    pub fn new(failures: u32) -> FailingTarget {
        FailingTarget::with_error(
            failures,
            ConnectorError::Transient("HTTP 503 from mock".into()),
        )
    }

    /// Fails `failures` times with `error`.
    pub fn with_error(failures: u32, error: ConnectorError) -> FailingTarget {
        FailingTarget {
            failures: AtomicU32::new(failures),
            error,
            inner: CollectTarget::default(),
            attempts: Arc::default(),
        }
    }
}

impl Target for FailingTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let fail = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            let e = self.error.clone();
            return Box::pin(async move { Err(e) });
        }
        self.inner.write(records)
    }
}

/// Waits `delay` before each write.
pub struct SlowTarget {
    /// The wait.
    pub delay: Duration,
    /// Where writes go.
    pub inner: CollectTarget,
}

impl Target for SlowTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.inner.write(records).await
        })
    }
}

/// Answers calls with a function.
pub struct FnCall(pub CallFn);

/// The function behind a [`FnCall`].
pub type CallFn = Box<dyn Fn(&Value) -> Result<Value, ConnectorError> + Send + Sync>;

impl Call for FnCall {
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        let r = (self.0)(record);
        Box::pin(async move { r })
    }
}

type SourceFn = Box<dyn Fn() -> Box<dyn Source> + Send + Sync>;

/// A connector kind serving mock pieces by operation name.
pub struct MockFactory {
    kind: &'static str,
    sources: Mutex<BTreeMap<String, SourceFn>>,
    targets: BTreeMap<String, Arc<dyn Target>>,
    calls: BTreeMap<String, Arc<dyn Call>>,
}

impl MockFactory {
    /// An empty factory for connector kind `kind`.
    pub fn new(kind: &'static str) -> MockFactory {
        MockFactory {
            kind,
            sources: Mutex::default(),
            targets: BTreeMap::new(),
            calls: BTreeMap::new(),
        }
    }

    /// Serves `make()` as the source of operation `op`.
    pub fn source(
        self,
        op: &str,
        make: impl Fn() -> Box<dyn Source> + Send + Sync + 'static,
    ) -> MockFactory {
        if let Ok(mut s) = self.sources.lock() {
            s.insert(op.to_string(), Box::new(make));
        }
        self
    }

    /// Serves `target` for operation `op`.
    pub fn target(mut self, op: &str, target: Arc<dyn Target>) -> MockFactory {
        self.targets.insert(op.to_string(), target);
        self
    }

    /// Serves `call` for operation `op`.
    pub fn call(mut self, op: &str, call: Arc<dyn Call>) -> MockFactory {
        self.calls.insert(op.to_string(), call);
        self
    }
}

fn missing(kind: &str, cx: &OpContext, role: &str) -> ConnectorError {
    ConnectorError::Config(format!("mock `{kind}` has no {role} `{}`", cx.op.operation))
}

impl ConnectorFactory for MockFactory {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        let s = self
            .sources
            .lock()
            .map_err(|_| missing(self.kind, cx, "source"))?;
        s.get(&cx.op.operation)
            .map(|make| make())
            .ok_or_else(|| missing(self.kind, cx, "source"))
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        self.targets
            .get(&cx.op.operation)
            .cloned()
            .ok_or_else(|| missing(self.kind, cx, "target"))
    }

    fn call(&self, cx: &OpContext) -> Result<Arc<dyn Call>, ConnectorError> {
        self.calls
            .get(&cx.op.operation)
            .cloned()
            .ok_or_else(|| missing(self.kind, cx, "call"))
    }
}
