//! The flow-test runner: pass, fail with a diff, missing stubs, replies, errors, renderers.

mod common;

use aqueduct_graph::*;
use aqueduct_runtime::testing::{Outcome, run_tests};
use common::*;

fn order(id: &str, amount: &str) -> Value {
    Value::Record {
        ty: "Order".into(),
        fields: vec![
            Value::String(id.into()),
            Value::Decimal(amount.into()),
            Value::Null,
        ],
    }
}

fn out(r: &str, doubled: &str) -> Value {
    Value::Record {
        ty: "Out".into(),
        fields: vec![Value::String(r.into()), Value::Decimal(doubled.into())],
    }
}

fn expect(what: Expected) -> Expect {
    Expect {
        target: None,
        what,
        origin: Origin::default(),
    }
}

fn test(name: &str, given: Vec<Value>, expects: Vec<Expect>, stubs: Vec<Stub>) -> FlowTest {
    FlowTest {
        name: name.into(),
        flow: "f".into(),
        doc: vec![],
        given,
        stubs,
        expects,
        origin: Origin::default(),
    }
}

fn project(tests: Vec<FlowTest>) -> Graph {
    let rate = e(
        ExprKind::Field {
            base: Box::new(e(ExprKind::Binding("rate".into()), Type::Json)),
            name: "factor".into(),
            slot: None,
        },
        Type::Json,
    );
    let factor = e(
        ExprKind::Convert {
            to: Type::Decimal,
            expr: Box::new(rate),
        },
        Type::Decimal,
    );
    let mut call = op("m", "rates");
    call.args.push(Arg {
        name: "path".into(),
        value: e(
            ExprKind::Interpolate(vec![
                lit(Value::String("/r/".into()), Type::String),
                order_field("id"),
            ]),
            Type::String,
        ),
    });
    let steps = vec![
        step("s1", amount_over("10"), rec("Order")),
        step(
            "s2",
            StepKind::Enrich {
                name: "rate".into(),
                call,
                ty: Type::Json,
            },
            rec("Order"),
        ),
        step(
            "s3",
            StepKind::Map {
                ty: "Out".into(),
                fields: vec![
                    order_field("id"),
                    bin(BinaryOp::Mul, order_field("amount"), factor, Type::Decimal),
                ],
            },
            rec("Out"),
        ),
        step("s4", StepKind::To(ep("m", "write")), rec("Out")),
    ];
    let mut g = graph(vec![flow(
        "f",
        ModeKind::Async,
        ep("m", "read"),
        rec("Order"),
        steps,
    )]);
    g.tests = tests;
    g
}

fn stub(path: &str, factor: i64) -> Stub {
    Stub {
        system: "m".into(),
        operation: "rates".into(),
        args: vec![("path".into(), Value::String(path.into()))],
        value: Value::Object(vec![("factor".into(), Value::Int(factor))]),
    }
}

#[test]
fn passing_failing_and_erroring_tests() {
    let g = project(vec![
        test(
            "doubles",
            vec![order("a", "20.5")],
            vec![expect(Expected::Record(out("a", "41.0")))],
            vec![stub("/r/a", 2)],
        ),
        test(
            "drops_small",
            vec![order("b", "1")],
            vec![expect(Expected::Nothing)],
            vec![],
        ),
        test(
            "wrong",
            vec![order("a", "20")],
            vec![expect(Expected::Record(out("a", "99")))],
            vec![stub("/r/a", 2)],
        ),
        test(
            "no_stub",
            vec![order("z", "20")],
            vec![expect(Expected::Nothing)],
            vec![stub("/r/a", 2)],
        ),
    ]);
    let report = run_tests(&g, None);
    let outcomes: Vec<(&str, &Outcome)> = report
        .tests
        .iter()
        .map(|t| (t.name.as_str(), &t.outcome))
        .collect();
    assert_eq!(outcomes[0], ("doubles", &Outcome::Passed));
    assert_eq!(outcomes[1], ("drops_small", &Outcome::Passed));
    let Outcome::Failed { message, diff } = outcomes[2].1 else {
        panic!("{:?}", outcomes[2])
    };
    assert_eq!(message, "records reaching `m.write` differ");
    assert!(
        diff.contains("-     \"doubled\": 99") && diff.contains("+     \"doubled\": 40"),
        "{diff}"
    );
    let Outcome::Error { message } = outcomes[3].1 else {
        panic!("{:?}", outcomes[3])
    };
    assert!(
        message.starts_with("no stub for m.rates(path: \"/r/z\")"),
        "{message}"
    );
    assert_eq!(report.passed(), 2);
    let text = report.render_text();
    assert!(
        text.contains("test wrong (f) ... FAILED") && text.ends_with("\n2 passed, 2 failed\n"),
        "{text}"
    );
    let junit = report.render_junit();
    assert!(
        junit.contains(r#"<testsuite name="aqueduct" tests="4" failures="1" errors="1">"#),
        "{junit}"
    );
    let json: serde_json::Value = serde_json::from_str(&report.render_json()).expect("json");
    assert_eq!(json["tests"][2]["status"], "failed");
    assert_eq!(json["passed"], 2);
    assert_eq!(run_tests(&g, Some("drops")).tests.len(), 1);
}

#[test]
fn expected_errors_and_replies() {
    let mut g = project(vec![test(
        "fails",
        vec![order("a", "20")],
        vec![expect(Expected::Error("HTTP 500".into()))],
        vec![],
    )]);
    // a stub answering with an error is written as no stub; use a failing expression instead
    g.flows[0].steps.remove(1);
    g.flows[0].steps[1].kind = StepKind::Map {
        ty: "Out".into(),
        fields: vec![
            order_field("id"),
            bin(
                BinaryOp::Div,
                order_field("amount"),
                dec("0"),
                Type::Decimal,
            ),
        ],
    };
    g.tests[0].expects = vec![expect(Expected::Error("division by zero".into()))];
    g.flows[0].policies.dead_letter = Some(ep("m", "dlq"));
    let r = run_tests(&g, None);
    assert_eq!(r.tests[0].outcome, Outcome::Passed, "{}", r.render_text());

    // a sync flow's reply
    let mut sync = g.clone();
    sync.flows[0].mode.kind = ModeKind::Sync;
    sync.flows[0].policies.dead_letter = None;
    sync.flows[0].steps = vec![step("s1", StepKind::Reply(order_field("id")), rec("Order"))];
    sync.tests[0].expects = vec![expect(Expected::Reply(Value::String("a".into())))];
    let r = run_tests(&sync, None);
    assert_eq!(r.tests[0].outcome, Outcome::Passed, "{}", r.render_text());
    sync.tests[0].expects = vec![expect(Expected::Reply(Value::String("b".into())))];
    let r = run_tests(&sync, None);
    assert!(
        matches!(&r.tests[0].outcome, Outcome::Failed { message, .. } if message == "the reply differs"),
        "{}",
        r.render_text()
    );
}
