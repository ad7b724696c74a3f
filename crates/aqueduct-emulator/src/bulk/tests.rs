//! Unit tests of the Bulk API 2.0 state machines, driven without the HTTP
//! server or the background worker: every allowed and refused transition,
//! and what processing leaves in the result files.

use super::{JobState, handle, ingest, query};
use crate::http::{ApiRequest, Caller};
use crate::org::State;
use crate::seed::Seed;
use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Value, json};

fn org() -> State {
    let seed = "objects:\n  - name: Account\n    fields:\n      - {name: Name, type: string, required: true}\n      - {name: Code__c, type: string, external_id: true, unique: true}\n    records: [{Name: Acme, Code__c: A}]\n";
    State::from_seed(&Seed::parse(seed, "t").expect("seed")).expect("org")
}

fn call(st: &mut State, method: &str, segs: &[&str], body: &str) -> (u16, Value) {
    let req = ApiRequest {
        method: method.to_string(),
        path: format!("/services/data/v62.0/jobs/{}", segs.join("/")),
        segments: segs.iter().map(|s| s.to_string()).collect(),
        query: Vec::new(),
        headers: HeaderMap::new(),
        body: Bytes::from(body.to_string()),
        version: "62.0".to_string(),
    };
    let caller = Caller {
        user_id: st.default_user(),
        call_client: None,
    };
    let r = handle(st, &req, &caller, segs).unwrap_or_else(|e| crate::http::ApiResponse::error(&e));
    (r.status, r.json_body())
}

fn state_of(st: &State, id: &str) -> JobState {
    st.jobs.all.get(id).map(|j| j.state).expect("job exists")
}

#[test]
fn ingest_walks_open_upload_complete_in_progress_job_complete() {
    let mut st = org();
    let (status, job) = call(
        &mut st,
        "POST",
        &["ingest"],
        r#"{"object":"Account","operation":"insert"}"#,
    );
    assert_eq!(status, 200);
    let id = job["id"].as_str().expect("id").to_string();
    assert_eq!(state_of(&st, &id), JobState::Open);
    // Closing needs an Open job; results need a final one.
    assert_eq!(
        call(&mut st, "GET", &["ingest", &id, "failedResults"], "").0,
        400
    );
    assert_eq!(
        call(
            &mut st,
            "PUT",
            &["ingest", &id, "batches"],
            "Name\nA\n\"B, C\"\n"
        )
        .0,
        201
    );
    assert_eq!(
        call(
            &mut st,
            "PATCH",
            &["ingest", &id],
            r#"{"state":"UploadComplete"}"#
        )
        .0,
        200
    );
    assert_eq!(state_of(&st, &id), JobState::UploadComplete);
    assert_eq!(
        call(&mut st, "PUT", &["ingest", &id, "batches"], "Name\nD\n").0,
        400,
        "no upload after closing"
    );
    assert_eq!(
        call(
            &mut st,
            "PATCH",
            &["ingest", &id],
            r#"{"state":"UploadComplete"}"#
        )
        .0,
        400,
        "closing twice"
    );
    assert_eq!(
        call(&mut st, "DELETE", &["ingest", &id], "").0,
        204,
        "an UploadComplete job may be deleted"
    );

    let (_, job) = call(
        &mut st,
        "POST",
        &["ingest"],
        r#"{"object":"Account","operation":"upsert","externalIdFieldName":"Code__c","columnDelimiter":"PIPE","lineEnding":"CRLF"}"#,
    );
    let id = job["id"].as_str().expect("id").to_string();
    call(
        &mut st,
        "PUT",
        &["ingest", &id, "batches"],
        "Code__c|Name\r\nA|Acme 2\r\nB|\r\nC|Cee\r\n",
    );
    call(
        &mut st,
        "PATCH",
        &["ingest", &id],
        r#"{"state":"UploadComplete"}"#,
    );
    if let Some(j) = st.jobs.all.get_mut(&id) {
        j.state = JobState::InProgress;
    }
    assert_eq!(
        call(&mut st, "DELETE", &["ingest", &id], "").0,
        400,
        "an InProgress job cannot be deleted"
    );
    ingest::process(&mut st, &id);
    st.commit();
    let job = &st.jobs.all[&id];
    assert_eq!(
        (job.state, job.processed, job.failed),
        (JobState::JobComplete, 3, 1)
    );
    assert_eq!(
        job.results[0],
        "\"sf__Id\"|\"sf__Created\"|\"Code__c\"|\"Name\"\r\n\"001000000000001AAA\"|\"false\"|\"A\"|\"Acme 2\"\r\n\"001000000000002AAA\"|\"true\"|\"C\"|\"Cee\"\r\n"
    );
    assert_eq!(
        job.results[1],
        "\"sf__Id\"|\"sf__Error\"|\"Code__c\"|\"Name\"\r\n\"\"|\"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --\"|\"B\"|\"\"\r\n"
    );
    assert_eq!(
        call(&mut st, "PATCH", &["ingest", &id], r#"{"state":"Aborted"}"#).0,
        400,
        "a final job cannot be aborted"
    );
}

#[test]
fn aborting_and_failing_jobs() {
    let mut st = org();
    let (_, job) = call(
        &mut st,
        "POST",
        &["ingest"],
        r#"{"object":"Account","operation":"delete"}"#,
    );
    let id = job["id"].as_str().expect("id").to_string();
    call(
        &mut st,
        "PUT",
        &["ingest", &id, "batches"],
        "Id\n001000000000001AAA\n",
    );
    let (status, info) = call(&mut st, "PATCH", &["ingest", &id], r#"{"state":"Aborted"}"#);
    assert_eq!((status, info["state"].clone()), (200, json!("Aborted")));
    assert_eq!(state_of(&st, &id), JobState::Aborted);
    assert_eq!(
        st.jobs.all[&id].results[2],
        "\"Id\"\n\"001000000000001AAA\"\n"
    );

    // A delete job without an Id column fails as a whole, nothing processed.
    let (_, job) = call(
        &mut st,
        "POST",
        &["ingest"],
        r#"{"object":"Account","operation":"delete"}"#,
    );
    let id = job["id"].as_str().expect("id").to_string();
    call(&mut st, "PUT", &["ingest", &id, "batches"], "Name\nAcme\n");
    call(
        &mut st,
        "PATCH",
        &["ingest", &id],
        r#"{"state":"UploadComplete"}"#,
    );
    ingest::process(&mut st, &id);
    let (_, info) = call(&mut st, "GET", &["ingest", &id], "");
    assert_eq!(
        (info["state"].clone(), info["errorMessage"].clone()),
        (
            json!("Failed"),
            json!("InvalidBatch : Field name not found : Id")
        )
    );
    assert_eq!(st.jobs.all[&id].results[2], "\"Name\"\n\"Acme\"\n");

    // Closing without an upload fails the job when processed.
    let (_, job) = call(
        &mut st,
        "POST",
        &["ingest"],
        r#"{"object":"Account","operation":"insert"}"#,
    );
    let id = job["id"].as_str().expect("id").to_string();
    call(
        &mut st,
        "PATCH",
        &["ingest", &id],
        r#"{"state":"UploadComplete"}"#,
    );
    ingest::process(&mut st, &id);
    assert_eq!(state_of(&st, &id), JobState::Failed);

    for bad in [
        r#"{"object":"Nope","operation":"insert"}"#,
        r#"{"object":"Account","operation":"merge"}"#,
        r#"{"object":"Account","operation":"insert","columnDelimiter":"SPACE"}"#,
        r#"{"object":"Account","operation":"insert","lineEnding":"CR"}"#,
        r#"{"object":"Account","operation":"upsert","externalIdFieldName":"Name"}"#,
    ] {
        assert_eq!(call(&mut st, "POST", &["ingest"], bad).0, 400, "{bad}");
    }
    assert_eq!(
        call(&mut st, "GET", &["ingest", "750000000000999AAA"], "").0,
        404
    );
}

#[test]
fn query_jobs_snapshot_their_results_when_processed() {
    let mut st = org();
    let (status, job) = call(
        &mut st,
        "POST",
        &["query"],
        r#"{"operation":"query","query":"SELECT Name FROM Account"}"#,
    );
    assert_eq!(
        (status, job["state"].clone()),
        (200, json!("UploadComplete"))
    );
    let id = job["id"].as_str().expect("id").to_string();
    assert_eq!(
        call(&mut st, "GET", &["query", &id, "results"], "").0,
        400,
        "no results before JobComplete"
    );
    if let Some(j) = st.jobs.all.get_mut(&id) {
        j.state = JobState::InProgress;
    }
    query::process(&mut st, &id);
    let ctx = crate::dml::WriteCtx {
        user_id: st.default_user(),
        ..Default::default()
    };
    crate::dml::insert(
        &mut st,
        1,
        &serde_json::from_str(r#"{"Name":"Later"}"#).expect("json"),
        &ctx,
        None,
    )
    .expect("insert");
    let job = &st.jobs.all[&id];
    assert_eq!(
        (job.state, job.rows.clone()),
        (JobState::JobComplete, vec![vec!["Acme".to_string()]])
    );
    assert_eq!(
        call(&mut st, "PATCH", &["query", &id], r#"{"state":"Aborted"}"#).0,
        400
    );
    assert_eq!(
        call(
            &mut st,
            "POST",
            &["query"],
            r#"{"operation":"queryAll","query":"SELECT COUNT() FROM Account"}"#
        )
        .0,
        400
    );
    assert_eq!(
        call(
            &mut st,
            "POST",
            &["query"],
            r#"{"operation":"query","query":"SELECT Name FROM Account LIMIT 1 OFFSET 1"}"#
        )
        .0,
        400
    );
}
