//! Responses written from the wire examples of the Salesforce reference
//! (/work/shared/reference/salesforce.md, from Salesforce's documentation),
//! served by a loopback server, not by the emulator: so the connector is
//! not only tested against a twin built by the same hands.
//!
//! Covered: the token answer (§1), the `INVALID_SESSION_ID` 401 and a
//! replay with a new token (§1), a query page with `nextRecordsUrl` and
//! `attributes` (§2.5), `Sforce-Limit-Info` (§2.1), `REQUEST_LIMIT_EXCEEDED`
//! (§2.3), the collections per-record failures under `statusCode` (§2.6),
//! a Bulk 2.0 result page ending in the literal `null` locator (§3.2), and
//! the start-up preflight against a documented `describe` answer (§2.4).

mod common;

use aqueduct_runtime::connector::ConnectorFactory;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Default)]
struct Seen {
    tokens: AtomicUsize,
    queries: AtomicUsize,
    collections: AtomicUsize,
}

fn token_answer(n: usize) -> String {
    format!(
        r#"{{"access_token":"00DXX0000000001!AQ4AQ{n}","instance_url":"https://acme.my.salesforce.com","id":"https://login.salesforce.com/id/00DXX0000000001EAA/005XX000001SvAAA","token_type":"Bearer","issued_at":"1708058728442","signature":"HfBA4...=","scope":"api"}}"#
    )
}

fn json(status: StatusCode, headers: &[(&'static str, &'static str)], body: &str) -> Response {
    let mut map = HeaderMap::new();
    map.insert("content-type", "application/json".parse().expect("header"));
    for (k, v) in headers {
        map.insert(*k, v.parse().expect("header"));
    }
    (status, map, body.to_string()).into_response()
}

const INVALID_SESSION: &str =
    r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn router(seen: Arc<Seen>) -> Router {
    Router::new()
        .route(
            "/services/oauth2/token",
            post(|State(seen): State<Arc<Seen>>| async move {
                let n = seen.tokens.fetch_add(1, Ordering::SeqCst) + 1;
                json(StatusCode::OK, &[], &token_answer(n))
            }),
        )
        .route(
            "/services/data/v62.0/query",
            get(|State(seen): State<Arc<Seen>>, headers: HeaderMap| async move {
                // The first token "expires" before its first use.
                if bearer(&headers).ends_with("AQ4AQ1") {
                    return json(StatusCode::UNAUTHORIZED, &[], INVALID_SESSION);
                }
                seen.queries.fetch_add(1, Ordering::SeqCst);
                json(
                    StatusCode::OK,
                    &[("sforce-limit-info", "api-usage=18/15000")],
                    r#"{"totalSize":3,"done":false,"nextRecordsUrl":"/services/data/v62.0/query/01gXX0000002HU6KIAW-2000","records":[{"attributes":{"type":"Account","url":"/services/data/v62.0/sobjects/Account/001XX000003DGb2AAG"},"Id":"001XX000003DGb2AAG","Name":"Acme","LastModifiedDate":"2023-10-04T18:35:13.000+0000","Owner":{"attributes":{"type":"User","url":"/services/data/v62.0/sobjects/User/005XX000001SvAAA"},"Name":"Jo"}}]}"#,
                )
            }),
        )
        .route(
            "/services/data/v62.0/query/01gXX0000002HU6KIAW-2000",
            get(|| async {
                json(
                    StatusCode::OK,
                    &[("sforce-limit-info", "api-usage=19/15000")],
                    r#"{"totalSize":3,"done":true,"records":[{"attributes":{"type":"Account","url":"/services/data/v62.0/sobjects/Account/001XX000003DGb3AAG"},"Id":"001XX000003DGb3AAG","Name":"Globex","LastModifiedDate":"2023-10-05T08:00:00.000+0000","Owner":null}]}"#,
                )
            }),
        )
        .route(
            "/services/data/v62.0/sobjects/Account/describe",
            get(|| async {
                json(
                    StatusCode::OK,
                    &[],
                    include_str!("fixtures/account_describe.json"),
                )
            }),
        )
        .route(
            "/services/data/v62.0/composite/sobjects",
            post(|State(seen): State<Arc<Seen>>| async move {
                if seen.collections.fetch_add(1, Ordering::SeqCst) == 0 {
                    return json(
                        StatusCode::FORBIDDEN,
                        &[],
                        r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
                    );
                }
                json(
                    StatusCode::OK,
                    &[],
                    r#"[{"id":"001XX000003DGb4AAG","success":true,"errors":[]},{"success":false,"errors":[{"statusCode":"DUPLICATES_DETECTED","message":"Use one of these records?","fields":[]}]},{"success":false,"errors":[{"statusCode":"ALL_OR_NONE_OPERATION_ROLLED_BACK","message":"Record rolled back because not all records were valid and the request was using AllOrNone header","fields":[]}]}]"#,
                )
            }),
        )
        .route(
            "/services/data/v62.0/jobs/query",
            post(|| async {
                json(
                    StatusCode::OK,
                    &[],
                    r#"{"id":"750XX000000001","operation":"query","object":"Account","createdById":"005XX000001SvAAA","createdDate":"2024-01-02T17:38:59.000+0000","systemModstamp":"2024-01-02T17:38:59.000+0000","state":"UploadComplete","concurrencyMode":"Parallel","contentType":"CSV","apiVersion":62.0,"lineEnding":"LF","columnDelimiter":"COMMA"}"#,
                )
            }),
        )
        .route(
            "/services/data/v62.0/jobs/query/750XX000000001",
            get(|| async {
                json(
                    StatusCode::OK,
                    &[],
                    r#"{"id":"750XX000000001","operation":"query","object":"Account","state":"JobComplete","jobType":"V2Query","numberRecordsProcessed":3}"#,
                )
            }),
        )
        .route(
            "/services/data/v62.0/jobs/query/750XX000000001/results",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let (locator, body) = match q.get("locator").map(String::as_str) {
                    None => ("MTAwMDA", "\"Id\",\"Name\",\"Account.Name\"\n\"006XX01\",\"Big Deal\",\"Acme\"\n\"006XX02\",\"Small Deal\",\"\"\n"),
                    Some(_) => ("null", "\"Id\",\"Name\",\"Account.Name\"\n\"006XX03\",\"Other, \"\"quoted\"\"\",\"Globex\"\n"),
                };
                let mut headers = HeaderMap::new();
                headers.insert("content-type", "text/csv".parse().expect("header"));
                headers.insert("sforce-locator", locator.parse().expect("header"));
                headers.insert("sforce-numberofrecords", "2".parse().expect("header"));
                (StatusCode::OK, headers, body).into_response()
            }),
        )
        .with_state(seen)
}

async fn serve(seen: Arc<Seen>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router(seen)).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_query_pages_and_a_401_replay_are_read() {
    let seen = Arc::new(Seen::default());
    let base = serve(seen.clone()).await;
    let s = schemas(&[(
        "Account",
        &[
            ("Id", "string"),
            ("Name", "string"),
            ("LastModifiedDate", "timestamp"),
            ("Owner.Name", "string?"),
        ],
    )]);
    let (cx, _stop) = context(
        client_credentials(&base),
        "query",
        vec![(
            "soql",
            lit("SELECT Id, Name, LastModifiedDate, Owner.Name FROM Account"),
        )],
        "Account",
        &s,
        false,
    );
    let rows: Vec<String> = drain(source(&connector(), &cx))
        .await
        .expect("query runs")
        .into_iter()
        .map(|r| r.expect("decoded").to_json_string())
        .collect();
    assert_eq!(
        rows,
        [
            r#"{"Id":"001XX000003DGb2AAG","Name":"Acme","LastModifiedDate":"2023-10-04T18:35:13Z","Owner.Name":"Jo"}"#,
            r#"{"Id":"001XX000003DGb3AAG","Name":"Globex","LastModifiedDate":"2023-10-05T08:00:00Z","Owner.Name":null}"#,
        ]
    );
    assert_eq!(
        seen.tokens.load(Ordering::SeqCst),
        2,
        "one new token after the 401"
    );
    assert_eq!(
        seen.queries.load(Ordering::SeqCst),
        1,
        "the refused request replayed once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_collection_failures_are_rejected_by_statuscode() {
    let seen = Arc::new(Seen::default());
    let base = serve(seen.clone()).await;
    let s = schemas(&[("Account", &[("Name", "string")])]);
    let (cx, _stop) = context(
        client_credentials(&base),
        "insert",
        vec![("object", lit("Account"))],
        "Account",
        &s,
        true,
    );
    let insert = target(&connector(), &cx);
    let records: Vec<_> = ["A", "B", "C"]
        .iter()
        .map(|n| record(&s, "Account", serde_json::json!({ "Name": n })))
        .collect();
    let rejected = insert.write_partial(&records).await.expect("written");
    let got: Vec<(usize, String)> = rejected
        .iter()
        .map(|r| (r.index, r.error.to_string()))
        .collect();
    assert_eq!(
        got,
        [
            (1, "`crm`: insert Account refused the record: DUPLICATES_DETECTED: Use one of these records?".to_string()),
            (2, "`crm`: insert Account refused the record: ALL_OR_NONE_OPERATION_ROLLED_BACK: Record rolled back because not all records were valid and the request was using AllOrNone header".to_string()),
        ]
    );
    assert_eq!(
        seen.collections.load(Ordering::SeqCst),
        2,
        "REQUEST_LIMIT_EXCEEDED was waited out, then the call sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_bulk_result_pages_end_at_the_null_locator() {
    let seen = Arc::new(Seen::default());
    let base = serve(seen).await;
    let s = schemas(&[(
        "Row",
        &[
            ("Id", "string"),
            ("Name", "string"),
            ("Account.Name", "string?"),
        ],
    )]);
    let (cx, _stop) = context(
        client_credentials(&base),
        "bulk_query",
        vec![(
            "soql",
            lit("SELECT Id, Name, Account.Name FROM Opportunity"),
        )],
        "Row",
        &s,
        false,
    );
    let rows: Vec<String> = drain(source(&connector(), &cx))
        .await
        .expect("bulk query runs")
        .into_iter()
        .map(|r| r.expect("decoded").to_json_string())
        .collect();
    assert_eq!(
        rows,
        [
            r#"{"Id":"006XX01","Name":"Big Deal","Account.Name":"Acme"}"#,
            r#"{"Id":"006XX02","Name":"Small Deal","Account.Name":null}"#,
            r#"{"Id":"006XX03","Name":"Other, \"quoted\"","Account.Name":"Globex"}"#,
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preflight_compares_the_record_type_with_the_documented_describe() {
    let seen = Arc::new(Seen::default());
    let base = serve(seen.clone()).await;
    let s = schemas(&[(
        "Account",
        &[
            ("Name", "string"),
            ("Revenue__c", "decimal"),
            ("AnnualRevenue", "bool"),
            ("CreatedDate", "timestamp"),
        ],
    )]);
    let (cx, _stop) = context(
        client_credentials(&base),
        "upsert",
        vec![
            ("object", lit("Account")),
            ("external_id", lit("AnnualRevenue")),
        ],
        "Account",
        &s,
        true,
    );
    let err = match connector().target(&cx) {
        Ok(_) => panic!("a record type that does not fit Account must not start"),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        err,
        "salesforce `crm`: Account has no field `Revenue__c` (field of `Account`); \
         Account.AnnualRevenue is of type currency, which cannot take field `AnnualRevenue: bool`; \
         Account.CreatedDate cannot be created or updated by this user (field `CreatedDate` of `Account` writes it); \
         Account.AnnualRevenue is not an external id field, which upsert needs"
    );
    assert_eq!(
        seen.collections.load(Ordering::SeqCst),
        0,
        "nothing was written"
    );
}
