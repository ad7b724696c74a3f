//! The in-call backoff on 429, 503 and `REQUEST_LIMIT_EXCEEDED`: that the
//! client really waits between attempts (doubling from the base, the
//! limit's own base, a `Retry-After`), and that it stops after the
//! documented four retries with the error reported.
//!
//! The waits are measured at a loopback server that stamps each request
//! as it arrives (the emulator does not answer 429, which Salesforce's
//! REST API does not document); the cap is checked against the emulator's
//! faults as well. Only lower bounds on time are asserted: a loaded
//! machine may be slower, never faster.

mod common;

use aqueduct_salesforce::{Backoff, SalesforceConnector};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One scripted answer: status, `Retry-After`, body.
type Answer = (u16, Option<&'static str>, &'static str);

const BUSY: &str = r#"[{"message":"Server unavailable","errorCode":"SERVER_UNAVAILABLE"}]"#;
const LIMIT: &str =
    r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
const TOO_MANY: &str = r#"[{"message":"Too many requests","errorCode":"TOO_MANY_REQUESTS"}]"#;
const EMPTY_PAGE: &str = r#"{"totalSize":0,"done":true,"records":[]}"#;

/// The queries' answers, in order (then `fallback` for ever), and the
/// arrival time of every query.
struct Script {
    answers: Mutex<Vec<Answer>>,
    fallback: Answer,
    arrivals: Mutex<Vec<Instant>>,
}

impl Script {
    fn new(answers: Vec<Answer>, fallback: Answer) -> Arc<Script> {
        Arc::new(Script {
            answers: Mutex::new(answers.into_iter().rev().collect()),
            fallback,
            arrivals: Mutex::default(),
        })
    }

    /// The time between consecutive queries.
    fn gaps(&self) -> Vec<Duration> {
        let arrivals = self.arrivals.lock().expect("arrivals");
        arrivals.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn queries(&self) -> usize {
        self.arrivals.lock().expect("arrivals").len()
    }
}

fn answer((status, retry_after, body): Answer) -> Response {
    let mut response = (
        StatusCode::from_u16(status).expect("status"),
        [("content-type", "application/json")],
        body,
    )
        .into_response();
    if let Some(after) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", after.parse().expect("header"));
    }
    response
}

async fn serve(script: Arc<Script>) -> String {
    let app = Router::new()
        .route(
            "/services/oauth2/token",
            post(|| async {
                answer((
                    200,
                    None,
                    r#"{"access_token":"00DXX0000000001!AQ4AQtoken","instance_url":"https://acme.my.salesforce.com","token_type":"Bearer","issued_at":"1708058728442","scope":"api"}"#,
                ))
            }),
        )
        .route(
            "/services/data/v62.0/query",
            get(|State(script): State<Arc<Script>>| async move {
                script.arrivals.lock().expect("arrivals").push(Instant::now());
                let next = script.answers.lock().expect("answers").pop();
                answer(next.unwrap_or(script.fallback))
            }),
        )
        .with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Runs `SELECT Id FROM Account` against `base` with `backoff`.
async fn query(
    base: &str,
    backoff: Backoff,
) -> Result<usize, aqueduct_runtime::connector::ConnectorError> {
    let s = schemas(&[("Account", &[("Id", "string")])]);
    let (cx, _stop) = context(
        client_credentials(base),
        "query",
        vec![("soql", lit("SELECT Id FROM Account"))],
        "Account",
        &s,
        false,
    );
    let f = SalesforceConnector::with_backoff(backoff);
    drain(source(&f, &cx)).await.map(|rows| rows.len())
}

/// The jitter takes at most a fifth off a wait.
fn at_least(wait: Duration) -> Duration {
    wait.mul_f64(0.8)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_and_429_answers_are_waited_out_doubling_from_the_base() {
    let script = Script::new(
        vec![(503, None, BUSY), (429, None, TOO_MANY), (503, None, BUSY)],
        (200, None, EMPTY_PAGE),
    );
    let base = serve(script.clone()).await;
    let backoff = Backoff {
        retries: 4,
        base: Duration::from_millis(150),
        limit_base: Duration::from_secs(30),
        max: Duration::from_secs(30),
    };
    let rows = query(&base, backoff).await.expect("answered after retries");
    assert_eq!(rows, 0);
    assert_eq!(script.queries(), 4, "three refusals, then the answer");
    let gaps = script.gaps();
    for (i, gap) in gaps.iter().enumerate() {
        let wait = at_least(Duration::from_millis(150 << i));
        assert!(
            gap >= &wait,
            "wait {i} was {gap:?}, less than {wait:?}: {gaps:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_and_the_request_limit_wait_longer_than_the_base() {
    let script = Script::new(
        vec![(429, Some("1"), TOO_MANY), (403, None, LIMIT)],
        (200, None, EMPTY_PAGE),
    );
    let base = serve(script.clone()).await;
    let backoff = Backoff {
        retries: 4,
        base: Duration::from_millis(10),
        limit_base: Duration::from_millis(400),
        max: Duration::from_secs(30),
    };
    query(&base, backoff).await.expect("answered after retries");
    let gaps = script.gaps();
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    // `Retry-After: 1` (seconds) beats the 10 ms base
    assert!(gaps[0] >= Duration::from_secs(1), "{gaps:?}");
    // REQUEST_LIMIT_EXCEEDED waits from its own base (second attempt: 2×)
    assert!(gaps[1] >= at_least(Duration::from_millis(800)), "{gaps:?}");
}

/// Short waits with the default number of retries (the documented four).
fn quick_default_retries() -> Backoff {
    Backoff {
        base: Duration::from_millis(10),
        limit_base: Duration::from_millis(20),
        max: Duration::from_millis(100),
        ..Backoff::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_that_does_not_end_is_tried_five_times_then_reported() {
    let script = Script::new(Vec::new(), (429, None, TOO_MANY));
    let base = serve(script.clone()).await;
    let e = query(&base, quick_default_retries())
        .await
        .expect_err("never answered");
    assert_eq!(script.queries(), 5, "the first try and four retries");
    assert_eq!(
        e.to_string(),
        "`crm`: query: HTTP 429 TOO_MANY_REQUESTS: Too many requests"
    );
    assert!(e.is_retryable(), "the flow's retry policy takes over: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulators_unending_503_and_limit_stop_after_four_retries() {
    for (fault, status) in [
        ("service_unavailable", 503),
        ("request_limit_exceeded", 403),
    ] {
        let emulator = start(aqueduct_emulator::Seed::builtin()).await;
        admin(
            &emulator,
            "POST",
            "faults",
            serde_json::json!({"fault": fault, "path": "/services/data/*/query", "times": "always"}),
        )
        .await;
        let started = Instant::now();
        let e = query(emulator.instance_url(), quick_default_retries())
            .await
            .expect_err("never answered");
        let elapsed = started.elapsed();
        let rules = admin(&emulator, "GET", "faults", serde_json::Value::Null).await;
        assert_eq!(
            rules[0]["fired"], 5,
            "{fault}: one try, four retries: {rules}"
        );
        let text = e.to_string();
        let expected = if status == 503 {
            "`crm`: query: HTTP 503 SERVER_UNAVAILABLE: Service temporarily unavailable (the emulator's service_unavailable fault)"
        } else {
            "`crm`: query: HTTP 403 REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."
        };
        assert_eq!(text, expected);
        assert!(e.is_retryable(), "{text}");
        // four waits, doubling from the base, each at most `max`
        let b = quick_default_retries();
        let base = if status == 403 { b.limit_base } else { b.base };
        let least: Duration = (0..4).map(|i| at_least(base * (1 << i)).min(b.max)).sum();
        assert!(elapsed >= least, "{fault}: {elapsed:?} < {least:?}");
        eprintln!("{fault}: {text} after {elapsed:?}");
    }
}
