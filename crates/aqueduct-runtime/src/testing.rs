//! The flow-test runner behind `aqueduct test`.
//!
//! Each [`FlowTest`] runs its flow in-process without touching any system:
//! the `given` records replace the source, `enrich` calls are answered by
//! the test's `stub`s (matched by system, operation and constant
//! arguments; a call without a stub is a test error), and whatever reaches
//! a target (labelled `system.operation` or the channel name), the reply,
//! or an error is captured and compared with the `expect` lines. Retries
//! and rate limits are switched off; everything else runs as in `run`.

mod diff;

use crate::connector::{Ack, Call, ConnectorError, Envelope, ReplyMsg, Target};
use crate::executor::{Input, RunOptions, TargetRef, Wiring, build_flow};
use crate::expr::{Bindings, Compiled, compile};
use crate::value::compare::equals;
use crate::value::{Schemas, Value};
use aqueduct_graph::{Endpoint, Expected, Flow, FlowTest, Graph, ModeKind, OpRef, Stub, Type};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

pub use diff::line_diff;

/// How one test ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// An expectation did not hold.
    Failed {
        /// What did not hold.
        message: String,
        /// Expected vs actual, as a line diff of JSON.
        diff: String,
    },
    /// The test could not run (no stub, unknown flow, bad `given`).
    Error {
        /// Why.
        message: String,
    },
}

/// One test's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TestResult {
    /// Test name.
    pub name: String,
    /// The flow under test.
    pub flow: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Wall time.
    pub millis: u64,
}

/// Results of a test run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TestReport {
    /// Results in declaration order.
    pub tests: Vec<TestResult>,
}

/// Runs the flow tests of `graph` whose name or flow contains `filter`.
/// Starts its own tokio runtime: call it outside one (use
/// [`run_tests_async`] inside).
pub fn run_tests(graph: &Graph, filter: Option<&str>) -> TestReport {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run_tests_async(graph, filter)),
        Err(e) => TestReport {
            tests: vec![TestResult {
                name: "(runtime)".into(),
                flow: String::new(),
                outcome: Outcome::Error {
                    message: format!("cannot start the test runtime: {e}"),
                },
                millis: 0,
            }],
        },
    }
}

/// How tests run: interpreted (the default) or on a generated service's natives.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Native step expressions to run instead of compiling the graph's.
    pub natives: Option<Arc<crate::native::Natives>>,
    /// Make a step without a native implementation a test error.
    pub require_natives: bool,
}

impl TestOptions {
    fn run_options(&self) -> RunOptions {
        RunOptions {
            natives: self.natives.clone(),
            require_natives: self.require_natives,
            ..RunOptions::default()
        }
    }
}

/// [`run_tests`] with [`TestOptions`] (generated services run their
/// project's tests on their natives). Starts its own tokio runtime.
pub fn run_tests_with(graph: &Graph, filter: Option<&str>, options: &TestOptions) -> TestReport {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run_tests_with_async(graph, filter, options)),
        Err(e) => TestReport {
            tests: vec![TestResult {
                name: "(runtime)".into(),
                flow: String::new(),
                outcome: Outcome::Error {
                    message: format!("cannot start the test runtime: {e}"),
                },
                millis: 0,
            }],
        },
    }
}

/// What one test's flow produced, before any comparison: for checking that
/// two implementations of a flow (interpreted, native) behave the same.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CapturedRun {
    /// Test name.
    pub name: String,
    /// Records that reached each target (labelled as in `expect`), as JSON text.
    pub targets: BTreeMap<String, Vec<String>>,
    /// Replies, as JSON text.
    pub replies: Vec<String>,
    /// Errors (dead-letter messages, failed replies, a failed flow).
    pub errors: Vec<String>,
}

/// Runs the flows of the tests matching `filter` on their `given` records
/// and returns what came out, without comparing it with the `expect` lines.
pub async fn capture_tests(
    graph: &Graph,
    filter: Option<&str>,
    options: &TestOptions,
) -> Vec<CapturedRun> {
    let schemas = Arc::new(Schemas::new(graph));
    let mut out = Vec::new();
    for test in graph
        .tests
        .iter()
        .filter(|t| filter.is_none_or(|f| t.name.contains(f) || t.flow.contains(f)))
    {
        let mut run = CapturedRun {
            name: test.name.clone(),
            ..CapturedRun::default()
        };
        match graph.flow(&test.flow) {
            None => run
                .errors
                .push(format!("there is no flow named `{}`", test.flow)),
            Some(flow) => match execute(flow, test, &schemas, options).await {
                Ok((cap, _)) => {
                    let json = |v: &Vec<Value>| v.iter().map(Value::to_json_string).collect();
                    run.targets = cap
                        .targets
                        .iter()
                        .map(|(l, v)| (l.clone(), json(v)))
                        .collect();
                    run.replies = json(&cap.replies);
                    run.errors = cap.errors;
                }
                Err(Outcome::Error { message }) => run.errors.push(message),
                Err(other) => run.errors.push(format!("{other:?}")),
            },
        }
        out.push(run);
    }
    out
}

/// [`run_tests`] inside a tokio runtime.
pub async fn run_tests_async(graph: &Graph, filter: Option<&str>) -> TestReport {
    run_tests_with_async(graph, filter, &TestOptions::default()).await
}

/// [`run_tests_with`] inside a tokio runtime.
pub async fn run_tests_with_async(
    graph: &Graph,
    filter: Option<&str>,
    options: &TestOptions,
) -> TestReport {
    let schemas = Arc::new(Schemas::new(graph));
    let mut tests = Vec::new();
    for test in graph
        .tests
        .iter()
        .filter(|t| filter.is_none_or(|f| t.name.contains(f) || t.flow.contains(f)))
    {
        let started = Instant::now();
        let outcome = match graph.flow(&test.flow) {
            None => Outcome::Error {
                message: format!("there is no flow named `{}`", test.flow),
            },
            Some(flow) => run_one(flow, test, &schemas, options).await,
        };
        tests.push(TestResult {
            name: test.name.clone(),
            flow: test.flow.clone(),
            outcome,
            millis: started.elapsed().as_millis() as u64,
        });
    }
    TestReport { tests }
}

/// What a test run produced.
#[derive(Default)]
struct Captured {
    targets: BTreeMap<String, Vec<Value>>,
    order: Vec<String>,
    replies: Vec<Value>,
    /// The status of each reply, in order.
    statuses: Vec<u16>,
    errors: Vec<String>,
}

async fn run_one(
    flow: &Flow,
    test: &FlowTest,
    schemas: &Arc<Schemas>,
    options: &TestOptions,
) -> Outcome {
    match execute(flow, test, schemas, options).await {
        Ok((cap, flow)) => compare(test, &cap, schemas, &flow),
        Err(outcome) => outcome,
    }
}

/// Runs the test's flow on its `given` records and captures what came out.
async fn execute(
    flow: &Flow,
    test: &FlowTest,
    schemas: &Arc<Schemas>,
    options: &TestOptions,
) -> Result<(Captured, Flow), Outcome> {
    let mut flow = flow.clone();
    flow.policies.retry = None;
    flow.policies.rate_limit = None;
    let (tx, rx) = mpsc::channel(test.given.len().max(1));
    let mut wiring = TestWiring {
        captures: Vec::new(),
        stubs: test.stubs.clone(),
        schemas: schemas.clone(),
    };
    let opts = options.run_options();
    let rt = match build_flow(&flow, &mut wiring, &opts, schemas) {
        Ok((rt, _input)) => rt,
        Err(errors) => {
            return Err(Outcome::Error {
                message: errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
    };
    let mut replies = Vec::new();
    for given in &test.given {
        let record = match Value::from_constant(given, &flow.source.record_type, schemas) {
            Ok(v) => v,
            Err(e) => {
                return Err(Outcome::Error {
                    message: format!("`given` is not a {}: {e}", flow.source.record_type),
                });
            }
        };
        let (reply, rx) = if flow.mode.kind == ModeKind::Sync {
            let (t, r) = oneshot::channel();
            (Some(t), Some(r))
        } else {
            (None, None)
        };
        replies.extend(rx);
        if tx
            .send(Envelope {
                record: Ok(record),
                ack: Ack::none(),
                reply,
            })
            .await
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let processed = tokio::time::timeout(
        Duration::from_secs(30),
        rt.process(crate::executor::inbox_of(rx)),
    )
    .await;
    let mut cap = Captured::default();
    match processed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => cap.errors.push(e),
        Err(_) => {
            return Err(Outcome::Error {
                message: "the flow did not finish within 30 s".into(),
            });
        }
    }
    for r in replies {
        match r.await {
            Ok(ReplyMsg::Ok(v)) => {
                cap.replies.push(v);
                cap.statuses.push(200);
            }
            Ok(ReplyMsg::Status { status, value }) => {
                cap.replies.push(value);
                cap.statuses.push(status);
            }
            Ok(ReplyMsg::Err {
                status,
                message,
                detail,
                ..
            }) => cap.errors.push(match detail {
                Some(detail) => format!("{status}: {message}: {detail}"),
                None => format!("{status}: {message}"),
            }),
            Err(_) => {}
        }
    }
    for (label, target) in &wiring.captures {
        let records = target.records.lock().map(|r| r.clone()).unwrap_or_default();
        if label == DEAD_LETTER {
            cap.errors
                .extend(records.iter().map(|r| r.field("error").to_text()));
            continue;
        }
        cap.order.push(label.clone());
        cap.targets
            .entry(label.clone())
            .or_default()
            .extend(records);
    }
    if let Some(e) = cap.errors.iter().find(|e| e.contains(NO_STUB)) {
        // just the stub message, without the step and dead-letter context around it
        let start = e.find(NO_STUB).unwrap_or(0);
        let end = e[start..]
            .find(STUB_HINT_END)
            .map(|i| start + i + STUB_HINT_END.len())
            .unwrap_or(e.len());
        return Err(Outcome::Error {
            message: e[start..end].to_string(),
        });
    }
    Ok((cap, flow))
}

fn compare(test: &FlowTest, cap: &Captured, schemas: &Schemas, flow: &Flow) -> Outcome {
    let mut expected: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut expected_replies = Vec::new();
    let mut expected_statuses: Vec<u16> = Vec::new();
    let mut expected_errors = Vec::new();
    let mut nothing: Vec<Option<String>> = Vec::new();
    for e in &test.expects {
        let label = match &e.target {
            Some(t) => t.clone(),
            None if cap.order.len() == 1 => cap.order[0].clone(),
            None => cap.order.first().cloned().unwrap_or_default(),
        };
        match &e.what {
            Expected::Record(v) => {
                let ty = constant_type(v, flow);
                match Value::from_constant(v, &ty, schemas) {
                    Ok(v) => expected.entry(label).or_default().push(v),
                    Err(err) => {
                        return Outcome::Error {
                            message: format!("expected record: {err}"),
                        };
                    }
                }
            }
            Expected::Nothing => nothing.push(e.target.clone()),
            Expected::Reply(v) | Expected::ReplyWith { value: v, .. } => {
                match Value::from_constant(v, &constant_type(v, flow), schemas) {
                    Ok(v) => {
                        expected_replies.push(v);
                        expected_statuses.push(match &e.what {
                            Expected::ReplyWith { status, .. } => *status,
                            _ => 200,
                        });
                    }
                    Err(err) => {
                        return Outcome::Error {
                            message: format!("expected reply: {err}"),
                        };
                    }
                }
            }
            Expected::Error(text) => expected_errors.push(text.clone()),
        }
    }
    for (label, want) in &expected {
        let got = cap.targets.get(label).cloned().unwrap_or_default();
        if !same(want, &got) {
            return mismatch(&format!("records reaching `{label}` differ"), want, &got);
        }
    }
    for target in &nothing {
        let got: Vec<Value> = match target {
            Some(t) => cap.targets.get(t).cloned().unwrap_or_default(),
            None => cap.targets.values().flatten().cloned().collect(),
        };
        if !got.is_empty() {
            let what = target
                .as_ref()
                .map(|t| format!("`{t}`"))
                .unwrap_or_else(|| "any target".into());
            return mismatch(&format!("expected nothing to reach {what}"), &[], &got);
        }
    }
    if !expected_replies.is_empty() && !same(&expected_replies, &cap.replies) {
        return mismatch("the reply differs", &expected_replies, &cap.replies);
    }
    if !expected_statuses.is_empty() && expected_statuses != cap.statuses {
        let list = |s: &[u16]| s.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        return Outcome::Failed {
            message: format!(
                "the reply status differs: expected {}, got {}",
                list(&expected_statuses),
                list(&cap.statuses)
            ),
            diff: String::new(),
        };
    }
    for text in &expected_errors {
        if !cap.errors.iter().any(|e| e.contains(text.as_str())) {
            let got = if cap.errors.is_empty() {
                "no error".to_string()
            } else {
                cap.errors.join("\n")
            };
            return Outcome::Failed {
                message: format!("expected an error containing \"{text}\""),
                diff: line_diff(text, &got),
            };
        }
    }
    if expected_errors.is_empty()
        && let Some(e) = cap.errors.first()
        && !(flow.mode.kind == ModeKind::Sync
            && !expected_replies.is_empty()
            && cap.replies.len() == expected_replies.len())
    {
        return Outcome::Failed {
            message: format!("unexpected error: {e}"),
            diff: String::new(),
        };
    }
    Outcome::Passed
}

/// The type an expected constant is read as (its own record type, else json).
fn constant_type(v: &aqueduct_graph::Value, _flow: &Flow) -> Type {
    match v {
        aqueduct_graph::Value::Record { ty, .. } => Type::Record(ty.clone()),
        _ => Type::Json,
    }
}

fn same(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equals(x, y))
}

fn pretty(values: &[Value]) -> String {
    let json = serde_json::Value::Array(values.iter().map(Value::to_json).collect());
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

fn mismatch(message: &str, want: &[Value], got: &[Value]) -> Outcome {
    Outcome::Failed {
        message: message.to_string(),
        diff: line_diff(&pretty(want), &pretty(got)),
    }
}

const DEAD_LETTER: &str = "dead_letter";
const NO_STUB: &str = "no stub for ";
const STUB_HINT_END: &str = " to the test";

struct TestWiring {
    captures: Vec<(String, Capture)>,
    stubs: Vec<Stub>,
    schemas: Arc<Schemas>,
}

impl TestWiring {
    fn capture(&mut self, label: String) -> TargetRef {
        let existing = self
            .captures
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, c)| c.clone());
        let capture = existing.unwrap_or_else(|| {
            let c = Capture::default();
            self.captures.push((label.clone(), c.clone()));
            c
        });
        TargetRef {
            label,
            system: None,
            target: Arc::new(capture),
            channel: None,
        }
    }
}

impl Wiring for TestWiring {
    fn input(&mut self, _flow: &Flow) -> Result<Input, String> {
        Ok(Input::Fed(mpsc::channel(1).1))
    }

    fn target(&mut self, _flow: &Flow, ep: &Endpoint, _ty: &Type) -> Result<TargetRef, String> {
        Ok(self.capture(ep.label()))
    }

    fn dead_letter(&mut self, _flow: &Flow, _ep: &Endpoint) -> Result<TargetRef, String> {
        Ok(self.capture(DEAD_LETTER.into()))
    }

    fn call(&mut self, _flow: &Flow, op: &OpRef, ty: &Type) -> Result<Arc<dyn Call>, String> {
        let args = op
            .args
            .iter()
            .map(|a| (a.name.clone(), compile(&a.value, &self.schemas)))
            .collect();
        let stubs = self
            .stubs
            .iter()
            .filter(|s| s.system == op.system && s.operation == op.operation)
            .cloned()
            .collect();
        Ok(Arc::new(StubCall {
            op: op.clone(),
            args,
            stubs,
            ty: ty.clone(),
            schemas: self.schemas.clone(),
        }))
    }
}

/// Answers `enrich` calls from the test's stubs.
struct StubCall {
    op: OpRef,
    args: Vec<(String, Compiled)>,
    stubs: Vec<Stub>,
    ty: Type,
    schemas: Arc<Schemas>,
}

impl StubCall {
    fn answer(&self, record: &Value) -> Result<Value, ConnectorError> {
        let mut actual = Vec::new();
        for (name, c) in &self.args {
            let v = c
                .eval(record, &Bindings::new())
                .map_err(|e| ConnectorError::Permanent(e.message))?;
            actual.push((name.clone(), v));
        }
        let matches = |stub: &Stub| {
            stub.args.iter().all(|(name, want)| {
                actual.iter().any(|(n, got)| {
                    n == name
                        && Value::from_constant(want, &Type::Json, &self.schemas)
                            .map(|w| equals(&w, got))
                            .unwrap_or(false)
                })
            })
        };
        match self.stubs.iter().find(|s| matches(s)) {
            Some(stub) => Value::from_constant(&stub.value, &self.ty, &self.schemas)
                .map_err(ConnectorError::Permanent),
            None => {
                let shown: Vec<String> = actual
                    .iter()
                    .map(|(n, v)| format!("{n}: {}", v.to_json_string()))
                    .collect();
                Err(ConnectorError::Permanent(format!(
                    "no stub for {}.{}({}); add `stub {}.{}(…) => {{ … }}` to the test",
                    self.op.system,
                    self.op.operation,
                    shown.join(", "),
                    self.op.system,
                    self.op.operation
                )))
            }
        }
    }
}

impl Call for StubCall {
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        let r = self.answer(record);
        Box::pin(async move { r })
    }
}

impl TestReport {
    /// Tests that passed.
    pub fn passed(&self) -> usize {
        self.tests
            .iter()
            .filter(|t| t.outcome == Outcome::Passed)
            .count()
    }

    /// True when every test passed.
    pub fn ok(&self) -> bool {
        self.passed() == self.tests.len()
    }

    /// Human text: one line per test, details of failures, a summary line.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for t in &self.tests {
            let status = match &t.outcome {
                Outcome::Passed => "ok",
                Outcome::Failed { .. } => "FAILED",
                Outcome::Error { .. } => "ERROR",
            };
            out.push_str(&format!("test {} ({}) ... {status}\n", t.name, t.flow));
        }
        for t in &self.tests {
            match &t.outcome {
                Outcome::Passed => {}
                Outcome::Failed { message, diff } => {
                    out.push_str(&format!("\n---- {} ----\n{message}\n", t.name));
                    if !diff.is_empty() {
                        out.push_str("(- expected, + actual)\n");
                        out.push_str(diff);
                    }
                }
                Outcome::Error { message } => {
                    out.push_str(&format!("\n---- {} ----\nerror: {message}\n", t.name))
                }
            }
        }
        let failed = self.tests.len() - self.passed();
        out.push_str(&format!("\n{} passed, {failed} failed\n", self.passed()));
        out
    }

    /// JUnit XML, one `testsuite` for the project.
    pub fn render_junit(&self) -> String {
        let failures = self
            .tests
            .iter()
            .filter(|t| matches!(t.outcome, Outcome::Failed { .. }))
            .count();
        let errors = self
            .tests
            .iter()
            .filter(|t| matches!(t.outcome, Outcome::Error { .. }))
            .count();
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"aqueduct\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">\n",
            self.tests.len()
        );
        for t in &self.tests {
            let head = format!(
                "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml(&t.flow),
                xml(&t.name),
                t.millis as f64 / 1000.0
            );
            match &t.outcome {
                Outcome::Passed => out.push_str(&format!("{head}/>\n")),
                Outcome::Failed { message, diff } => out.push_str(&format!(
                    "{head}>\n    <failure message=\"{}\">{}</failure>\n  </testcase>\n",
                    xml(message),
                    xml(diff)
                )),
                Outcome::Error { message } => out.push_str(&format!(
                    "{head}>\n    <error message=\"{}\"/>\n  </testcase>\n",
                    xml(message)
                )),
            }
        }
        out.push_str("</testsuite>\n");
        out
    }

    /// JSON: `{"tests": [{"name", "flow", "status", "message"?, "diff"?, "millis"}], "passed", "failed"}`.
    pub fn render_json(&self) -> String {
        let json = serde_json::json!({
            "tests": self.tests,
            "passed": self.passed(),
            "failed": self.tests.len() - self.passed(),
        });
        serde_json::to_string_pretty(&json).unwrap_or_default()
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A target that keeps what it receives.
#[derive(Debug, Default, Clone)]
pub struct Capture {
    /// Records in arrival order.
    pub records: Arc<Mutex<Vec<Value>>>,
}

impl Target for Capture {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        if let Ok(mut r) = self.records.lock() {
            r.extend(records.iter().cloned());
        }
        Box::pin(async { Ok(()) })
    }
}
