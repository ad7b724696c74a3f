//! Every step, run through the executor with mock connectors.

mod common;

use aqueduct_graph::*;
use aqueduct_runtime::executor::{RunOptions, build};
use aqueduct_runtime::test_util::mock::*;
use common::*;
use std::sync::Arc;
use std::sync::atomic::Ordering;

async fn run(g: &Graph, factory: MockFactory) -> aqueduct_runtime::executor::RunReport {
    let pieces = build(g, &registry(factory), RunOptions::default()).expect("builds");
    pieces.spawn().wait().await
}

#[tokio::test]
async fn where_map_to_and_acks() {
    let map = StepKind::Map {
        ty: "Out".into(),
        fields: vec![
            order_field("id"),
            bin(
                BinaryOp::Mul,
                order_field("amount"),
                dec("2"),
                Type::Decimal,
            ),
        ],
    };
    let f = flow(
        "f",
        ModeKind::Async,
        ep("m", "read"),
        rec("Order"),
        vec![
            step("s1", amount_over("10"), rec("Order")),
            step("s2", map, rec("Out")),
            step("s3", StepKind::To(ep("m", "write")), rec("Out")),
        ],
    );
    let g = graph(vec![f]);
    let records = orders(&g, &[("a", "5"), ("b", "10.10"), ("c", "0.1")]);
    let (source, acked) = VecSource::new(records);
    let out = CollectTarget::default();
    let source = std::sync::Mutex::new(Some(source));
    let factory = MockFactory::new("mock")
        .source("read", move || {
            Box::new(source.lock().expect("lock").take().expect("one run"))
        })
        .target("write", Arc::new(out.clone()));
    let report = run(&g, factory).await;
    assert!(report.ok(), "{report}");
    assert_eq!(out.json(), vec![r#"{"ref":"b","doubled":20.20}"#]);
    assert_eq!(
        acked.load(Ordering::SeqCst),
        3,
        "filtered records are acked too"
    );
    let r = report.flow("f").expect("flow");
    assert_eq!((r.received, r.delivered, r.filtered), (3, 1, 2));
}

fn once(
    source: VecSource,
) -> impl Fn() -> Box<dyn aqueduct_runtime::connector::Source> + Send + Sync {
    let cell = std::sync::Mutex::new(Some(source));
    move || match cell.lock().expect("lock").take() {
        Some(s) => Box::new(s),
        None => Box::new(VecSource::new(vec![]).0),
    }
}

#[tokio::test]
async fn let_enrich_split_and_batch() {
    let tags = order_field("tags");
    let steps = vec![
        step(
            "s1",
            StepKind::Let {
                name: "x".into(),
                value: order_field("id"),
            },
            rec("Order"),
        ),
        step(
            "s2",
            StepKind::Enrich {
                name: "info".into(),
                call: op("m", "lookup"),
                ty: Type::Json,
            },
            rec("Order"),
        ),
        step(
            "s3",
            StepKind::Split {
                list: tags,
                ty: Type::String,
            },
            Type::String,
        ),
        step(
            "s4",
            StepKind::Batch {
                size: 2,
                within_ms: None,
            },
            Type::String,
        ),
        step("s5", StepKind::To(ep("m", "write")), Type::String),
    ];
    let g = graph(vec![flow(
        "f",
        ModeKind::Async,
        ep("m", "read"),
        rec("Order"),
        steps,
    )]);
    let schemas = aqueduct_runtime::value::Schemas::new(&g);
    let o = |id: &str, tags: &[&str]| {
        aqueduct_runtime::value::Value::from_json(
            &serde_json::json!({"id": id, "amount": 1, "tags": tags}),
            &rec("Order"),
            &schemas,
        )
        .expect("order")
    };
    let (source, acked) = VecSource::new(vec![o("a", &["t1", "t2", "t3"]), o("b", &["t4", "t5"])]);
    let out = CollectTarget::default();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c2 = calls.clone();
    let call = FnCall(Box::new(move |_| {
        c2.fetch_add(1, Ordering::SeqCst);
        Ok(aqueduct_runtime::value::Value::Null)
    }));
    let factory = MockFactory::new("mock")
        .source("read", once(source))
        .target("write", Arc::new(out.clone()))
        .call("lookup", Arc::new(call));
    let report = run(&g, factory).await;
    assert!(report.ok(), "{report}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        out.json(),
        vec![r#""t1""#, r#""t2""#, r#""t3""#, r#""t4""#, r#""t5""#]
    );
    assert_eq!(
        *out.writes.lock().expect("lock"),
        vec![2, 2, 1],
        "groups of two, the rest at the end"
    );
    assert_eq!(acked.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn dedupe_tap_route_and_fan_out() {
    let route = StepKind::Route(vec![
        RouteArm {
            condition: Some(bin(
                BinaryOp::Gt,
                order_field("amount"),
                dec("100"),
                Type::Bool,
            )),
            steps: vec![step("s3.0.0", StepKind::To(ep("m", "big")), rec("Order"))],
        },
        RouteArm {
            condition: None,
            steps: vec![step("s3.1.0", StepKind::To(ep("m", "small")), rec("Order"))],
        },
    ]);
    let steps = vec![
        step(
            "s1",
            StepKind::Dedupe {
                key: order_field("id"),
                within_ms: Some(60_000),
            },
            rec("Order"),
        ),
        step("s2", StepKind::Tap(ep("m", "audit")), rec("Order")),
        step("s3", route, rec("Order")),
        step("s4", StepKind::To(ep("m", "all")), rec("Order")),
        step("s5", StepKind::To(ep("m", "all2")), rec("Order")),
    ];
    let g = graph(vec![flow(
        "f",
        ModeKind::Async,
        ep("m", "read"),
        rec("Order"),
        steps,
    )]);
    let (source, _acked) = VecSource::new(orders(
        &g,
        &[("a", "500"), ("b", "1"), ("a", "500"), ("c", "101")],
    ));
    let [audit, big, small, all, all2] = std::array::from_fn(|_| CollectTarget::default());
    let factory = MockFactory::new("mock")
        .source("read", once(source))
        .target("audit", Arc::new(audit.clone()))
        .target("big", Arc::new(big.clone()))
        .target("small", Arc::new(small.clone()))
        .target("all", Arc::new(all.clone()))
        .target("all2", Arc::new(all2.clone()));
    let report = run(&g, factory).await;
    assert!(report.ok(), "{report}");
    let ids = |t: &CollectTarget| {
        t.records
            .lock()
            .expect("lock")
            .iter()
            .map(|r| r.field("id").to_text())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&audit), ["a", "b", "c"], "the repeated `a` was dropped");
    assert_eq!(ids(&big), ["a", "c"]);
    assert_eq!(ids(&small), ["b"]);
    assert_eq!(ids(&all), ["a", "b", "c"], "steps after a route continue");
    assert_eq!(ids(&all2), ["a", "b", "c"]);
    assert_eq!(report.flow("f").expect("f").filtered, 1);
}

#[tokio::test]
async fn dedupe_window_persists_in_the_state_store() {
    let steps = vec![
        step(
            "s1",
            StepKind::Dedupe {
                key: order_field("id"),
                within_ms: Some(3_600_000),
            },
            rec("Order"),
        ),
        step("s2", StepKind::To(ep("m", "write")), rec("Order")),
    ];
    let g = graph(vec![flow(
        "f",
        ModeKind::Batch,
        ep("m", "read"),
        rec("Order"),
        steps,
    )]);
    let state: Arc<dyn aqueduct_runtime::connector::StateStore> =
        Arc::new(aqueduct_runtime::state::MemoryStore::default());
    for (run_no, expected) in [(1, vec!["a"]), (2, vec![])] {
        let (source, _) = VecSource::new(orders(&g, &[("a", "1")]));
        let out = CollectTarget::default();
        let factory = MockFactory::new("mock")
            .source("read", once(source))
            .target("write", Arc::new(out.clone()));
        let opts = RunOptions {
            state: state.clone(),
            ..RunOptions::default()
        };
        let report = build(&g, &registry(factory), opts)
            .expect("builds")
            .spawn()
            .wait()
            .await;
        assert!(report.ok());
        let ids: Vec<String> = out
            .records
            .lock()
            .expect("lock")
            .iter()
            .map(|r| r.field("id").to_text())
            .collect();
        assert_eq!(ids, expected, "run {run_no}");
    }
}

#[tokio::test]
async fn channels_join_flows_and_close_when_producers_end() {
    let producer = flow(
        "p",
        ModeKind::Batch,
        ep("m", "read"),
        rec("Order"),
        vec![step(
            "s1",
            StepKind::To(Endpoint::Channel("c".into())),
            rec("Order"),
        )],
    );
    let consumer = flow(
        "q",
        ModeKind::Async,
        Endpoint::Channel("c".into()),
        rec("Order"),
        vec![step("s1", StepKind::To(ep("m", "write")), rec("Order"))],
    );
    let mut g = graph(vec![producer, consumer]);
    g.channels.push(Channel {
        name: "c".into(),
        ty: rec("Order"),
        via: None,
        producers: vec!["p".into()],
        consumers: vec!["q".into()],
        doc: vec![],
        origin: Origin::default(),
    });
    let (source, _) = VecSource::new(orders(&g, &[("a", "1"), ("b", "2")]));
    let out = CollectTarget::default();
    let factory = MockFactory::new("mock")
        .source("read", once(source))
        .target("write", Arc::new(out.clone()));
    let report = tokio::time::timeout(std::time::Duration::from_secs(10), run(&g, factory))
        .await
        .expect("the run ends");
    assert!(report.ok(), "{report}");
    assert_eq!(out.records.lock().expect("lock").len(), 2);
    assert_eq!(report.flow("q").expect("q").received, 2);
}

#[tokio::test]
async fn missing_connectors_are_all_reported_at_build() {
    let mut f = flow(
        "x",
        ModeKind::Async,
        ep("m", "read"),
        rec("Order"),
        vec![step("s1", StepKind::To(ep("m", "write")), rec("Order"))],
    );
    if let Endpoint::Op(o) = &mut f.source.endpoint {
        o.connector = "salesforce".into();
    }
    let g = graph(vec![f]);
    let errors = build(
        &g,
        &aqueduct_runtime::connector::Registry::default(),
        RunOptions::default(),
    )
    .err()
    .expect("fails");
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "connector `salesforce` cannot run in this build of aqueduct yet",
            "connector `mock` cannot run in this build of aqueduct yet"
        ]
    );
}

#[tokio::test]
async fn a_failing_tap_is_counted_and_a_record_no_route_arm_takes_is_filtered() {
    // both with a group of records (batch mode) and one record at a time (async)
    for mode in [ModeKind::Batch, ModeKind::Async] {
        let route = StepKind::Route(vec![RouteArm {
            condition: Some(bin(
                BinaryOp::Gt,
                order_field("amount"),
                dec("100"),
                Type::Bool,
            )),
            steps: vec![step("s2.0.0", StepKind::To(ep("m", "big")), rec("Order"))],
        }]);
        let steps = vec![
            step("s1", StepKind::Tap(ep("m", "audit")), rec("Order")),
            step("s2", route, rec("Order")),
        ];
        let g = graph(vec![flow("f", mode, ep("m", "read"), rec("Order"), steps)]);
        let (source, acked) = VecSource::new(orders(&g, &[("a", "500"), ("b", "1"), ("c", "101")]));
        let audit = Arc::new(FailingTarget::with_error(
            u32::MAX,
            aqueduct_runtime::connector::ConnectorError::Permanent("audit is down".into()),
        ));
        let big = CollectTarget::default();
        let factory = MockFactory::new("mock")
            .source("read", once(source))
            .target("audit", audit.clone())
            .target("big", Arc::new(big.clone()));
        let opts = RunOptions::default();
        let metrics = opts.metrics.clone();
        let report = build(&g, &registry(factory), opts)
            .expect("builds")
            .spawn()
            .wait()
            .await;
        assert!(report.ok(), "{mode:?}: {report}");
        assert_eq!(audit.attempts.load(Ordering::SeqCst), 3, "{mode:?}");
        let ids: Vec<String> = big
            .records
            .lock()
            .expect("lock")
            .iter()
            .map(|r| r.field("id").to_text())
            .collect();
        assert_eq!(
            ids,
            ["a", "c"],
            "{mode:?}: the records went on after the tap"
        );
        assert_eq!(acked.load(Ordering::SeqCst), 3, "{mode:?}");
        let f = report.flow("f").expect("f");
        assert_eq!(
            (f.delivered, f.filtered, f.failed, f.dead_lettered),
            (2, 1, 0, 0),
            "{mode:?}"
        );
        let text = metrics.render();
        for series in [
            "aqueduct_records_failed_total{flow=\"f\",step=\"s1\"} 3",
            "aqueduct_records_out_total{flow=\"f\",step=\"s1\"} 3",
            "aqueduct_records_filtered_total{flow=\"f\",step=\"s2\"} 1",
        ] {
            assert!(text.contains(series), "{mode:?}: no `{series}` in\n{text}");
        }
    }
}

/// Counts the acks of its records that were done, and those let go (done
/// or dropped).
struct ReleasingSource {
    records: Vec<aqueduct_runtime::value::Value>,
    acked: Arc<std::sync::atomic::AtomicUsize>,
    released: Arc<std::sync::atomic::AtomicUsize>,
}

/// Dropped with the ack that holds it.
struct Released(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Released {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl aqueduct_runtime::connector::Source for ReleasingSource {
    fn run(
        self: Box<Self>,
        out: tokio::sync::mpsc::Sender<aqueduct_runtime::connector::Envelope>,
    ) -> futures::future::BoxFuture<'static, Result<(), aqueduct_runtime::connector::ConnectorError>>
    {
        Box::pin(async move {
            for record in self.records {
                let (mut ack, _rx) = aqueduct_runtime::connector::Ack::new();
                let held = Released(self.released.clone());
                let acked = self.acked.clone();
                ack.then(Box::pin(async move {
                    acked.fetch_add(1, Ordering::SeqCst);
                    drop(held)
                }));
                let envelope = aqueduct_runtime::connector::Envelope::new(Ok(record), ack);
                if out.send(envelope).await.is_err() {
                    break;
                }
            }
            Ok(())
        })
    }
}

/// A flow that fails while a record waits in a `batch` group lets go of
/// that record (unacknowledged): nothing keeps it, or the flow's steps,
/// alive after the run.
#[tokio::test]
async fn a_failed_flow_lets_go_of_the_records_waiting_in_a_batch_group() {
    let route = StepKind::Route(vec![
        RouteArm {
            condition: Some(bin(
                BinaryOp::Gt,
                order_field("amount"),
                dec("100"),
                Type::Bool,
            )),
            steps: vec![step("s1.0.0", StepKind::To(ep("m", "big")), rec("Order"))],
        },
        RouteArm {
            condition: None,
            steps: vec![
                step(
                    "s1.1.0",
                    StepKind::Batch {
                        size: 2,
                        within_ms: None,
                    },
                    rec("Order"),
                ),
                step("s1.1.1", StepKind::To(ep("m", "small")), rec("Order")),
            ],
        },
    ]);
    let g = graph(vec![flow(
        "f",
        ModeKind::Async,
        ep("m", "read"),
        rec("Order"),
        vec![step("s1", route, rec("Order"))],
    )]);
    // "a" waits in the batch group when "b" fails the flow (no dead letter)
    let released = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let acked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let source = ReleasingSource {
        records: orders(&g, &[("a", "1"), ("b", "500")]),
        acked: acked.clone(),
        released: released.clone(),
    };
    let big = Arc::new(FailingTarget::with_error(
        u32::MAX,
        aqueduct_runtime::connector::ConnectorError::Permanent("big is down".into()),
    ));
    let small = CollectTarget::default();
    let cell = std::sync::Mutex::new(Some(source));
    let factory = MockFactory::new("mock")
        .source("read", move || {
            Box::new(cell.lock().expect("lock").take().expect("one run"))
        })
        .target("big", big)
        .target("small", Arc::new(small.clone()));
    let report = run(&g, factory).await;
    assert!(!report.ok(), "the flow fails: {report}");
    assert!(small.json().is_empty(), "the group was never sent");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while released.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        released.load(Ordering::SeqCst),
        2,
        "every record is let go once the run is over"
    );
    assert_eq!(acked.load(Ordering::SeqCst), 0, "and none acknowledged");
}
