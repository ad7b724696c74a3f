//! `http` against a local axum server on loopback: error classification,
//! Retry-After, OAuth 2.0 token caching and refresh, calls and polling.

mod common;

use aqueduct_connectors::http::{HttpConnector, parse_retry_after};
use aqueduct_runtime::connector::{ConnectorError, ConnectorFactory};
use aqueduct_runtime::value::Value;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::{block, builder, json_of, lit, next, opt_str, record, schemas, template};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Default)]
struct Seen {
    posts: AtomicUsize,
    tokens: AtomicUsize,
    bodies: Mutex<Vec<String>>,
    current_token: Mutex<String>,
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

fn test_router(seen: Arc<Seen>) -> Router {
    Router::new()
        .route(
            "/flaky",
            post(|State(seen): State<Arc<Seen>>, body: String| async move {
                let n = seen.posts.fetch_add(1, Ordering::SeqCst);
                if n < 2 {
                    return (StatusCode::SERVICE_UNAVAILABLE, "warming up").into_response();
                }
                seen.bodies.lock().expect("lock").push(body);
                StatusCode::CREATED.into_response()
            }),
        )
        .route(
            "/limited",
            post(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "7")],
                    "slow down",
                )
                    .into_response()
            }),
        )
        .route(
            "/invalid",
            post(|| async {
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "field `name` is required\nmore details",
                )
                    .into_response()
            }),
        )
        .route(
            "/items/{id}",
            get(|Path(id): Path<String>| async move {
                if id == "missing" {
                    StatusCode::NOT_FOUND.into_response()
                } else {
                    axum::Json(json!({"id": id, "name": format!("item {id}")})).into_response()
                }
            }),
        )
        .route(
            "/token",
            post(|State(seen): State<Arc<Seen>>, body: String| async move {
                assert!(body.contains("grant_type=client_credentials"), "{body}");
                assert!(body.contains("client_secret=s3cret"), "{body}");
                let n = seen.tokens.fetch_add(1, Ordering::SeqCst) + 1;
                let token = format!("tok{n}");
                *seen.current_token.lock().expect("lock") = token.clone();
                axum::Json(
                    json!({"access_token": token, "expires_in": 3600, "token_type": "Bearer"}),
                )
            }),
        )
        .route(
            "/secure",
            post(
                |State(seen): State<Arc<Seen>>, headers: HeaderMap| async move {
                    let expected = format!("Bearer {}", seen.current_token.lock().expect("lock"));
                    let given = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if given == expected {
                        StatusCode::OK
                    } else {
                        StatusCode::UNAUTHORIZED
                    }
                },
            ),
        )
        .route(
            "/feed",
            get(|| async {
                axum::Json(json!([{"id": "1", "name": "a"}, {"id": "2", "name": "b"}, {"id": 3}]))
            }),
        )
        .with_state(seen)
}

fn item_schemas() -> Arc<aqueduct_runtime::value::Schemas> {
    schemas(&[("Item", &[("id", "string"), ("name", "string")])])
}

#[tokio::test]
async fn server_errors_are_transient_until_the_server_recovers() {
    let seen = Arc::new(Seen::default());
    let base = serve(test_router(seen.clone())).await;
    let schemas = item_schemas();
    let ctx = builder("http", "post", "Item", &schemas)
        .option("base_url", opt_str(&base))
        .arg("path", lit("/flaky"))
        .build();
    let target = HttpConnector.target(&ctx.cx).expect("target");
    let item = record(&schemas, "Item", json!({"id": "1", "name": "a"}));
    for _ in 0..2 {
        let err = target
            .write(std::slice::from_ref(&item))
            .await
            .expect_err("503");
        assert!(matches!(err, ConnectorError::Transient(_)), "{err:?}");
        assert!(err.to_string().contains("HTTP 503"), "{err}");
        assert!(err.to_string().contains("warming up"), "{err}");
    }
    let other = record(&schemas, "Item", json!({"id": "2", "name": "b"}));
    target
        .write(&[item, other])
        .await
        .expect("third time works");
    assert_eq!(
        *seen.bodies.lock().expect("lock"),
        vec![r#"[{"id":"1","name":"a"},{"id":"2","name":"b"}]"#.to_string()]
    );
}

#[tokio::test]
async fn after_a_batch_step_a_group_of_one_is_still_an_array() {
    let seen = Arc::new(Seen::default());
    seen.posts.store(2, Ordering::SeqCst); // `/flaky` accepts from now on
    let base = serve(test_router(seen.clone())).await;
    let schemas = item_schemas();
    let item = record(&schemas, "Item", json!({"id": "1", "name": "a"}));
    for batched in [false, true] {
        let mut b = builder("http", "post", "Item", &schemas)
            .option("base_url", opt_str(&base))
            .arg("path", lit("/flaky"));
        if batched {
            b = b.batched();
        }
        let target = HttpConnector.target(&b.build().cx).expect("target");
        target
            .write(std::slice::from_ref(&item))
            .await
            .expect("accepted");
    }
    assert_eq!(
        *seen.bodies.lock().expect("lock"),
        vec![
            r#"{"id":"1","name":"a"}"#.to_string(),
            r#"[{"id":"1","name":"a"}]"#.to_string()
        ]
    );
}

#[tokio::test]
async fn statuses_map_to_retry_after_and_permanent_errors_without_secrets() {
    let base = serve(test_router(Arc::default())).await;
    let schemas = item_schemas();
    let build = |path: &str| {
        builder("http", "post", "Item", &schemas)
            .option("base_url", opt_str(&base))
            .option("auth", block("bearer", &[("token", "very-secret-token")]))
            .arg("path", lit(path))
            .build()
    };
    let item = record(&schemas, "Item", json!({"id": "1", "name": "a"}));
    let limited = HttpConnector.target(&build("/limited").cx).expect("target");
    match limited.write(std::slice::from_ref(&item)).await {
        Err(ConnectorError::RetryAfter { after, message }) => {
            assert_eq!(after, Duration::from_secs(7));
            assert!(message.contains("429"), "{message}");
        }
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    let invalid = HttpConnector.target(&build("/invalid").cx).expect("target");
    let err = invalid.write(&[item]).await.expect_err("422");
    assert!(matches!(err, ConnectorError::Permanent(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 422") && text.contains("field `name` is required more details"),
        "{text}"
    );
    assert!(!text.contains("very-secret-token"), "{text}");

    let unreachable = builder("http", "post", "Item", &schemas)
        .option("base_url", opt_str("http://127.0.0.1:9"))
        .arg("path", lit("/x"))
        .build();
    let err = HttpConnector
        .target(&unreachable.cx)
        .expect("target")
        .write(&[])
        .await;
    assert!(err.is_ok(), "an empty batch sends nothing");
}

#[tokio::test]
async fn connection_failures_are_transient() {
    let schemas = item_schemas();
    let ctx = builder("http", "post", "Item", &schemas)
        .option("base_url", opt_str("http://127.0.0.1:9"))
        .arg("path", lit("/x"))
        .build();
    let item = record(&schemas, "Item", json!({"id": "1", "name": "a"}));
    let err = HttpConnector
        .target(&ctx.cx)
        .expect("target")
        .write(&[item])
        .await
        .expect_err("refused");
    assert!(err.is_retryable(), "{err:?}");
}

#[test]
fn retry_after_accepts_seconds_and_http_dates() {
    assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
        Some(Duration::ZERO),
        "a past date means now"
    );
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
    let wait = parse_retry_after(&soon).expect("date");
    assert!(
        wait > Duration::from_secs(80) && wait <= Duration::from_secs(90),
        "{wait:?}"
    );
    assert_eq!(parse_retry_after("soon"), None);
}

#[tokio::test]
async fn oauth2_tokens_are_cached_and_refreshed_on_401() {
    let seen = Arc::new(Seen::default());
    let base = serve(test_router(seen.clone())).await;
    let schemas = item_schemas();
    let ctx = builder("http", "post", "Item", &schemas)
        .option("base_url", opt_str(&base))
        .option(
            "auth",
            block(
                "oauth2_client_credentials",
                &[
                    ("token_url", &format!("{base}/token")),
                    ("client_id", "me"),
                    ("client_secret", "s3cret"),
                ],
            ),
        )
        .arg("path", lit("/secure"))
        .build();
    let target = HttpConnector.target(&ctx.cx).expect("target");
    let item = record(&schemas, "Item", json!({"id": "1", "name": "a"}));
    target
        .write(std::slice::from_ref(&item))
        .await
        .expect("first");
    target
        .write(std::slice::from_ref(&item))
        .await
        .expect("second");
    assert_eq!(seen.tokens.load(Ordering::SeqCst), 1, "the token is cached");
    // The server revokes the token: the next request gets 401, refreshes, succeeds.
    *seen.current_token.lock().expect("lock") = "rotated".to_string();
    target
        .write(std::slice::from_ref(&item))
        .await
        .expect("after refresh");
    assert_eq!(
        seen.tokens.load(Ordering::SeqCst),
        2,
        "one refresh after the 401"
    );
}

#[tokio::test]
async fn get_calls_answer_typed_records_and_null_on_404() {
    let base = serve(test_router(Arc::default())).await;
    let schemas = item_schemas();
    let ctx = builder("http", "get", "Item?", &schemas)
        .option("base_url", opt_str(&format!("{base}/")))
        .arg("path", template("/items/{.id}"))
        .build();
    let call = HttpConnector.call(&ctx.cx).expect("call");
    let key = |id: &str| record(&schemas, "Item", json!({"id": id, "name": ""}));
    assert_eq!(
        call.call(&key("a b"))
            .await
            .expect("found")
            .to_json_string(),
        r#"{"id":"a b","name":"item a b"}"#
    );
    assert_eq!(call.call(&key("missing")).await.expect("404"), Value::Null);
}

#[tokio::test]
async fn poll_turns_array_answers_into_records() {
    let base = serve(test_router(Arc::default())).await;
    let schemas = item_schemas();
    let ctx = builder("http", "poll", "Item", &schemas)
        .option("base_url", opt_str(&base))
        .arg("path", lit("/feed"))
        .arg("every", common::dur(60_000))
        .build();
    let (tx, mut rx) = mpsc::channel(16);
    let run = tokio::spawn(HttpConnector.source(&ctx.cx).expect("source").run(tx));
    assert_eq!(json_of(&next(&mut rx).await), r#"{"id":"1","name":"a"}"#);
    assert_eq!(json_of(&next(&mut rx).await), r#"{"id":"2","name":"b"}"#);
    let bad = next(&mut rx).await;
    assert!(
        bad.record.is_err(),
        "an element that does not fit is a decode error"
    );
    ctx.stop.send(true).expect("stop");
    run.await.expect("join").expect("run");
}

/// An error body that echoes a secret right where the 200-byte excerpt is
/// cut, and a token endpoint that echoes the form body it got: neither may
/// leak the secret (or a prefix of it) in any encoding.
#[tokio::test]
async fn error_excerpts_never_leak_a_secret_or_its_prefix_in_any_encoding() {
    let token = "tok-Straddle-9f8e7d6c5b4a";
    let client_secret = "cs/With+Special chars&=ü";
    aqueduct_runtime::secrets::Secret::new(token.to_string());
    aqueduct_runtime::secrets::Secret::new(client_secret.to_string());
    let router = Router::new()
        .route(
            "/echo",
            post(|headers: HeaderMap| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                // "Bearer " + token straddles byte 200 of the body
                let body = format!("{}{auth} trailing text", "x".repeat(200 - 12));
                (StatusCode::BAD_REQUEST, body).into_response()
            }),
        )
        .route(
            "/basic",
            post(|headers: HeaderMap| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                (StatusCode::BAD_REQUEST, format!("bad credentials {auth}")).into_response()
            }),
        )
        .route(
            "/token",
            post(|body: String| async move {
                let json = serde_json::to_string(&body).unwrap_or_default();
                (
                    StatusCode::UNAUTHORIZED,
                    format!("invalid_client for {body} (as json: {json})"),
                )
                    .into_response()
            }),
        );
    let base = serve(router).await;
    let schemas = item_schemas();
    let item = record(&schemas, "Item", json!({"id": "1", "name": "a"}));
    let leaks = |text: &str, secret: &str| -> Option<String> {
        // any four-character piece of the secret is too much
        let chars: Vec<char> = secret.chars().collect();
        chars
            .windows(4)
            .map(|w| w.iter().collect::<String>())
            .find(|piece| text.contains(piece.as_str()))
    };

    let bearer = builder("http", "post", "Item", &schemas)
        .option("base_url", opt_str(&base))
        .option("auth", block("bearer", &[("token", token)]))
        .arg("path", lit("/echo"))
        .build();
    let err = HttpConnector
        .target(&bearer.cx)
        .expect("target")
        .write(std::slice::from_ref(&item))
        .await
        .expect_err("400");
    // what a dead letter or a 502 reply would carry
    let text = aqueduct_runtime::secrets::redact(&err.to_string());
    assert!(text.contains("HTTP 400"), "{text}");
    assert_eq!(leaks(&text, token), None, "{text}");

    let basic = builder("http", "post", "Item", &schemas)
        .option("base_url", opt_str(&base))
        .option(
            "auth",
            block("basic", &[("username", "svc"), ("password", client_secret)]),
        )
        .arg("path", lit("/basic"))
        .build();
    let err = HttpConnector
        .target(&basic.cx)
        .expect("target")
        .write(std::slice::from_ref(&item))
        .await
        .expect_err("400");
    let text = aqueduct_runtime::secrets::redact(&err.to_string());
    assert!(text.contains("bad credentials Basic ***"), "{text}");

    let oauth = builder("http", "post", "Item", &schemas)
        .option("base_url", opt_str(&base))
        .option(
            "auth",
            block(
                "oauth2_client_credentials",
                &[
                    ("token_url", &format!("{base}/token")),
                    ("client_id", "me"),
                    ("client_secret", client_secret),
                ],
            ),
        )
        .arg("path", lit("/echo"))
        .build();
    let err = HttpConnector
        .target(&oauth.cx)
        .expect("target")
        .write(std::slice::from_ref(&item))
        .await
        .expect_err("401 from the token endpoint");
    let text = aqueduct_runtime::secrets::redact(&err.to_string());
    assert!(text.contains("client_secret=***"), "{text}");
    assert_eq!(leaks(&text, client_secret), None, "{text}");
    assert!(!text.contains("%2F"), "{text}");
}
