//! Retry, dead letter, circuit breaker, rate limit, timeout, acks, sync replies.

mod common;

use aqueduct_graph::*;
use aqueduct_runtime::connector::{Ack, ConnectorError, DecodeError, Envelope, ReplyMsg, Source};
use aqueduct_runtime::executor::{RunOptions, RunReport, build};
use aqueduct_runtime::test_util::mock::*;
use common::*;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn once(source: VecSource) -> impl Fn() -> Box<dyn Source> + Send + Sync {
    let cell = std::sync::Mutex::new(Some(source));
    move || match cell.lock().expect("lock").take() {
        Some(s) => Box::new(s),
        None => Box::new(VecSource::new(vec![]).0),
    }
}

fn to_flow(policies: Policies) -> Graph {
    let mut f = flow(
        "f",
        ModeKind::Async,
        ep("m", "read"),
        rec("Order"),
        vec![step("s1", StepKind::To(ep("m", "write")), rec("Order"))],
    );
    f.policies = policies;
    graph(vec![f])
}

fn retry(n: u32) -> Option<Retry> {
    Some(Retry {
        attempts: n,
        backoff: Backoff::Fixed { delay_ms: 1 },
    })
}

async fn run_with(
    g: &Graph,
    source: VecSource,
    target: Arc<dyn aqueduct_runtime::connector::Target>,
    dl: Option<CollectTarget>,
) -> (RunReport, Arc<aqueduct_runtime::metrics::Metrics>) {
    let mut factory = MockFactory::new("mock")
        .source("read", once(source))
        .target("write", target);
    if let Some(dl) = dl {
        factory = factory.target("dlq", Arc::new(dl));
    }
    let opts = RunOptions::default();
    let metrics = opts.metrics.clone();
    let report = build(g, &registry(factory), opts)
        .expect("builds")
        .spawn()
        .wait()
        .await;
    (report, metrics)
}

#[tokio::test]
async fn retry_then_success() {
    let g = to_flow(Policies {
        retry: retry(3),
        ..Policies::default()
    });
    let (source, acked) = VecSource::new(orders(&g, &[("a", "1")]));
    let target = Arc::new(FailingTarget::new(2));
    let (report, metrics) = run_with(&g, source, target.clone(), None).await;
    assert!(report.ok(), "{report}");
    assert_eq!(target.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(target.inner.records.lock().expect("lock").len(), 1);
    assert_eq!(acked.load(Ordering::SeqCst), 1);
    assert!(
        metrics
            .render()
            .contains("aqueduct_records_retried_total{flow=\"f\",step=\"s1\"} 2")
    );
}

#[tokio::test]
async fn retries_exhausted_go_to_the_dead_letter() {
    let g = to_flow(Policies {
        retry: retry(2),
        dead_letter: Some(ep("m", "dlq")),
        ..Policies::default()
    });
    let (source, acked) = VecSource::new(orders(&g, &[("a", "1"), ("b", "2")]));
    let dl = CollectTarget::default();
    let (report, _) = run_with(
        &g,
        source,
        Arc::new(FailingTarget::new(3)),
        Some(dl.clone()),
    )
    .await;
    assert!(report.ok(), "{report}");
    let entries = dl.json();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry: serde_json::Value = serde_json::from_str(&entries[0]).expect("json");
    assert_eq!(
        entry["record"],
        serde_json::json!({"id": "a", "amount": 1, "tags": null})
    );
    assert_eq!(entry["error"], "m.write: HTTP 503 from mock");
    assert_eq!(
        (
            entry["flow"].as_str(),
            entry["step"].as_str(),
            entry["attempts"].as_u64()
        ),
        (Some("f"), Some("s1"), Some(3))
    );
    assert!(entry["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        acked.load(Ordering::SeqCst),
        2,
        "dead-lettered records are acked"
    );
    assert_eq!(report.flow("f").expect("f").dead_lettered, 1);
}

#[tokio::test]
async fn without_a_dead_letter_the_flow_fails_and_the_ack_stays_undone() {
    let g = to_flow(Policies::default());
    let (source, acked) = VecSource::new(orders(&g, &[("a", "1")]));
    let target =
        FailingTarget::with_error(1, ConnectorError::Permanent("constraint violated".into()));
    let (report, _) = run_with(&g, source, Arc::new(target), None).await;
    let error = report
        .flow("f")
        .and_then(|f| f.error.clone())
        .expect("the flow failed");
    assert!(
        error.contains("m.write: constraint violated; the flow has no dead_letter"),
        "{error}"
    );
    assert_eq!(acked.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn circuit_breaker_opens_and_fails_fast() {
    let g = to_flow(Policies {
        dead_letter: Some(ep("m", "dlq")),
        circuit_breaker: Some(CircuitBreaker {
            failures: 2,
            reset_ms: 60_000,
        }),
        ..Policies::default()
    });
    let (source, _) = VecSource::new(orders(
        &g,
        &[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")],
    ));
    let target = Arc::new(FailingTarget::new(100));
    let dl = CollectTarget::default();
    let (report, metrics) = run_with(&g, source, target.clone(), Some(dl.clone())).await;
    assert!(report.ok(), "{report}");
    assert_eq!(
        target.attempts.load(Ordering::SeqCst),
        2,
        "calls stop once open"
    );
    assert_eq!(dl.records.lock().expect("lock").len(), 4);
    assert!(dl.json()[3].contains("circuit breaker for `m` is open"));
    assert!(
        metrics
            .render()
            .contains("aqueduct_circuit_breaker_state{flow=\"f\",system=\"m\"} 2")
    );
}

#[tokio::test]
async fn rate_limit_spaces_records() {
    let g = to_flow(Policies {
        rate_limit: Some(RateLimit {
            count: 2,
            per_ms: 100,
        }),
        ..Policies::default()
    });
    let (source, _) = VecSource::new(orders(
        &g,
        &[
            ("a", "1"),
            ("b", "1"),
            ("c", "1"),
            ("d", "1"),
            ("e", "1"),
            ("f", "1"),
        ],
    ));
    let start = Instant::now();
    let (report, _) = run_with(&g, source, Arc::new(CollectTarget::default()), None).await;
    assert!(report.ok());
    let took = start.elapsed();
    // two at once, then one every 50 ms: about 200 ms for six
    assert!(took >= Duration::from_millis(150), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn timeout_bounds_each_write() {
    let g = to_flow(Policies {
        timeout_ms: Some(20),
        dead_letter: Some(ep("m", "dlq")),
        ..Policies::default()
    });
    let (source, _) = VecSource::new(orders(&g, &[("a", "1")]));
    let slow = SlowTarget {
        delay: Duration::from_millis(500),
        inner: CollectTarget::default(),
    };
    let dl = CollectTarget::default();
    let (report, _) = run_with(&g, source, Arc::new(slow), Some(dl.clone())).await;
    assert!(report.ok());
    assert!(
        dl.json()[0].contains("m.write: timed out after 20ms"),
        "{:?}",
        dl.json()
    );
}

#[tokio::test]
async fn concurrency_keeps_several_records_in_flight() {
    let g = to_flow(Policies {
        concurrency: Some(4),
        ..Policies::default()
    });
    let (source, acked) = VecSource::new(orders(
        &g,
        &[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")],
    ));
    let slow = SlowTarget {
        delay: Duration::from_millis(100),
        inner: CollectTarget::default(),
    };
    let start = Instant::now();
    let (report, _) = run_with(&g, source, Arc::new(slow), None).await;
    assert!(report.ok());
    assert!(
        start.elapsed() < Duration::from_millis(350),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(acked.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn bad_records_go_to_the_dead_letter_and_the_flow_continues() {
    let div = bin(
        BinaryOp::Div,
        order_field("amount"),
        dec("0"),
        Type::Decimal,
    );
    let mut f = flow(
        "f",
        ModeKind::Async,
        ep("m", "read"),
        rec("Order"),
        vec![
            step(
                "s1",
                StepKind::Where(bin(BinaryOp::Gt, div, dec("1"), Type::Bool)),
                rec("Order"),
            ),
            step("s2", StepKind::To(ep("m", "write")), rec("Order")),
        ],
    );
    f.policies.dead_letter = Some(ep("m", "dlq"));
    let g = graph(vec![f]);
    let mut source = VecSource::new(orders(&g, &[("a", "1")])).0;
    source.records.push(Err(DecodeError::text(
        "{not json",
        "expected value at line 1",
    )));
    let dl = CollectTarget::default();
    let (report, _) = run_with(
        &g,
        source,
        Arc::new(CollectTarget::default()),
        Some(dl.clone()),
    )
    .await;
    assert!(report.ok(), "{report}");
    let entries = dl.json();
    assert!(
        entries[0].contains(r#""error":"division by zero","flow":"f","step":"s1""#),
        "{entries:?}"
    );
    assert!(
        entries[1].starts_with(
            r#"{"raw":"{not json","error":"expected value at line 1","flow":"f","step":"source""#
        ),
        "{entries:?}"
    );
}

/// A request-reply source: sends its records with reply channels and keeps the answers.
struct SyncSource {
    records: Vec<aqueduct_runtime::value::Value>,
    replies: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Source for SyncSource {
    fn run(
        self: Box<Self>,
        out: tokio::sync::mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            for record in self.records {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let _ = out
                    .send(Envelope {
                        record: Ok(record),
                        ack: Ack::none(),
                        reply: Some(tx),
                    })
                    .await;
                let answer = match rx.await {
                    Ok(ReplyMsg::Ok(v)) => format!("200 {}", v.to_json_string()),
                    Ok(ReplyMsg::Status { status, value }) => {
                        format!("{status} {}", value.to_json_string())
                    }
                    Ok(ReplyMsg::Err {
                        status,
                        code,
                        message,
                        ..
                    }) => format!("{status} {code}: {message}"),
                    Err(_) => "dropped".into(),
                };
                self.replies.lock().expect("lock").push(answer);
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn sync_flows_reply_reject_and_time_out() {
    let mut f = flow(
        "api",
        ModeKind::Sync,
        ep("m", "post"),
        rec("Order"),
        vec![
            step("s1", amount_over("10"), rec("Order")),
            step("s2", StepKind::To(ep("m", "write")), rec("Order")),
            step("s3", StepKind::Reply(order_field("id")), rec("Order")),
        ],
    );
    f.steps[0].origin = Origin {
        file: "flows.aq".into(),
        start: 6,
        end: 10,
    };
    f.policies.timeout_ms = Some(100);
    let g = graph(vec![f]);
    let replies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let source = SyncSource {
        records: orders(&g, &[("ok", "50"), ("small", "1"), ("slow", "60")]),
        replies: replies.clone(),
    };
    let cell = std::sync::Mutex::new(Some(source));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    struct SlowSecond(Arc<std::sync::atomic::AtomicUsize>);
    impl aqueduct_runtime::connector::Target for SlowSecond {
        fn write<'a>(
            &'a self,
            _: &'a [aqueduct_runtime::value::Value],
        ) -> BoxFuture<'a, Result<(), ConnectorError>> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n == 1 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok(())
            })
        }
    }
    let factory = MockFactory::new("mock")
        .source("post", move || {
            Box::new(cell.lock().expect("lock").take().expect("one run"))
        })
        .target("write", Arc::new(SlowSecond(calls)));
    let mut sources = std::collections::BTreeMap::new();
    sources.insert("flows.aq".to_string(), Arc::<str>::from("flow\napi {"));
    let opts = RunOptions {
        sources,
        ..RunOptions::default()
    };
    let report = build(&g, &registry(factory), opts)
        .expect("builds")
        .spawn()
        .wait()
        .await;
    assert!(report.ok(), "{report}");
    assert_eq!(
        *replies.lock().expect("lock"),
        [
            "200 \"ok\"",
            // no project file or line goes to the caller
            "422 rejected: request rejected by `where`",
            "504 timeout: the flow did not answer within 100ms"
        ]
    );
}

#[tokio::test]
async fn shutdown_stops_a_scheduled_flow() {
    let mut f = flow(
        "f",
        ModeKind::Batch,
        ep("m", "read"),
        rec("Order"),
        vec![step("s1", StepKind::To(ep("m", "write")), rec("Order"))],
    );
    f.mode.schedule = Some(Schedule::Every(20));
    let g = graph(vec![f]);
    let out = CollectTarget::default();
    let order = orders(&g, &[("a", "1")]);
    let factory = MockFactory::new("mock")
        .source("read", move || Box::new(VecSource::new(order.clone()).0))
        .target("write", Arc::new(out.clone()));
    let running = build(&g, &registry(factory), RunOptions::default())
        .expect("builds")
        .spawn();
    let handle = running.shutdown_handle();
    tokio::time::sleep(Duration::from_millis(110)).await;
    handle.trigger();
    let report = tokio::time::timeout(Duration::from_secs(5), running.wait())
        .await
        .expect("stops");
    assert!(report.ok(), "{report}");
    let n = out.records.lock().expect("lock").len();
    assert!((3..=8).contains(&n), "ran about every 20 ms: {n}");
}
