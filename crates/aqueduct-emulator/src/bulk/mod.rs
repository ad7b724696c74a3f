//! Bulk API 2.0 (`/jobs/ingest`, `/jobs/query`): jobs, their states, and
//! the routes shared by both kinds.
//!
//! Ingest: `Open` → (one CSV `PUT`) → `UploadComplete` → `InProgress` →
//! `JobComplete` (or `Failed` when the upload cannot be read, `Aborted`
//! on request). Query: created `UploadComplete` → `InProgress` →
//! `JobComplete`. Jobs are processed by a background task after the seed's
//! `bulk.processing_delay_ms`, so clients really have to poll.

mod csvio;
mod ingest;
mod query;
pub mod worker;

#[cfg(test)]
mod tests;

use crate::clock::rest_datetime;
use crate::errors::ApiError;
use crate::http::{ApiRequest, ApiResponse, Caller};
use crate::org::State;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Job states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Created, accepting data (ingest).
    Open,
    /// Closed, waiting to be processed.
    UploadComplete,
    /// Being processed.
    InProgress,
    /// Done.
    JobComplete,
    /// Could not be processed.
    Failed,
    /// Aborted by the client.
    Aborted,
}

impl JobState {
    /// The state's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Open => "Open",
            JobState::UploadComplete => "UploadComplete",
            JobState::InProgress => "InProgress",
            JobState::JobComplete => "JobComplete",
            JobState::Failed => "Failed",
            JobState::Aborted => "Aborted",
        }
    }

    /// Whether processing is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::JobComplete | JobState::Failed | JobState::Aborted
        )
    }
}

/// Ingest or query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/jobs/ingest`
    Ingest,
    /// `/jobs/query`
    Query,
}

/// One job.
#[derive(Debug, Clone)]
pub struct Job {
    /// `750…`
    pub id: String,
    /// Ingest or query.
    pub kind: Kind,
    /// The sObject.
    pub object: String,
    /// `insert`, `update`, `upsert`, `delete`, `hardDelete`, `query`, `queryAll`.
    pub operation: String,
    /// Upsert key.
    pub external_id_field: Option<String>,
    /// Current state.
    pub state: JobState,
    /// `LF` or `CRLF`.
    pub line_ending: String,
    /// `COMMA`, `TAB`, …
    pub column_delimiter: String,
    /// The creating user.
    pub user_id: String,
    /// CDC `changeOrigin` of its writes.
    pub origin: String,
    /// `62.0`.
    pub api_version: String,
    /// Emulated ms.
    pub created_ms: i64,
    /// Emulated ms of the last state change.
    pub modified_ms: i64,
    /// Uploaded CSV (ingest).
    pub upload: Option<String>,
    /// Number of PUTs (more than one makes closing fail).
    pub uploads: u32,
    /// SOQL (query).
    pub query: String,
    /// Rows processed.
    pub processed: u64,
    /// Rows failed.
    pub failed: u64,
    /// Milliseconds spent processing.
    pub processing_ms: i64,
    /// Why the job failed.
    pub error_message: Option<String>,
    /// Result CSVs of an ingest job: successful, failed, unprocessed.
    pub results: [String; 3],
    /// Query results: header, rows.
    pub columns: Vec<String>,
    /// Query result rows.
    pub rows: Vec<Vec<String>>,
    /// Query result rows per page when the client gives no `maxRecords`.
    pub page_size: usize,
}

/// Every job by id.
#[derive(Debug, Clone, Default)]
pub struct Jobs {
    /// Jobs in creation order.
    pub all: BTreeMap<String, Job>,
}

impl Job {
    /// The job info JSON.
    pub fn info(&self, detailed: bool) -> Value {
        let created = rest_datetime(
            chrono::DateTime::from_timestamp_millis(self.created_ms).unwrap_or_default(),
        );
        let modified = rest_datetime(
            chrono::DateTime::from_timestamp_millis(self.modified_ms).unwrap_or_default(),
        );
        let mut v = json!({
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.user_id,
            "createdDate": created,
            "systemModstamp": modified,
            "state": self.state.name(),
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": self.api_version.parse::<f64>().unwrap_or(0.0),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        });
        match self.kind {
            Kind::Ingest => {
                v["externalIdFieldName"] = json!(self.external_id_field);
                v["contentUrl"] = json!(format!(
                    "services/data/v{}/jobs/ingest/{}/batches",
                    self.api_version, self.id
                ));
                v["jobType"] = json!("V2Ingest");
            }
            Kind::Query => {
                v["jobType"] = json!("V2Query");
            }
        }
        if detailed {
            v["numberRecordsProcessed"] = json!(self.processed);
            v["retries"] = json!(0);
            v["totalProcessingTime"] = json!(self.processing_ms);
            if self.kind == Kind::Ingest {
                v["numberRecordsFailed"] = json!(self.failed);
                v["apiActiveProcessingTime"] = json!(self.processing_ms);
                v["apexProcessingTime"] = json!(0);
            }
            if let Some(e) = &self.error_message {
                v["errorMessage"] = json!(e);
            }
        }
        v
    }
}

/// `/jobs/…` with the segments after `jobs`.
pub fn handle(
    st: &mut State,
    req: &ApiRequest,
    caller: &Caller,
    segs: &[&str],
) -> Result<ApiResponse, ApiError> {
    let m = req.method.as_str();
    match segs {
        ["ingest"] if m == "POST" => ingest::create(st, req, caller),
        ["query"] if m == "POST" => query::create(st, req, caller),
        [kind @ ("ingest" | "query")] if m == "GET" => Ok(list(
            st,
            if *kind == "ingest" {
                Kind::Ingest
            } else {
                Kind::Query
            },
        )),
        [kind @ ("ingest" | "query"), id, rest @ ..] => {
            let kind = if *kind == "ingest" {
                Kind::Ingest
            } else {
                Kind::Query
            };
            let job = st
                .jobs
                .all
                .get(*id)
                .filter(|j| j.kind == kind)
                .cloned()
                .ok_or_else(|| invalid_job(id))?;
            match (kind, m, rest) {
                (_, "GET", []) => Ok(ApiResponse::json(200, job.info(true))),
                (_, "PATCH", []) => change_state(st, req, &job),
                (_, "DELETE", []) => delete(st, &job),
                (Kind::Ingest, "PUT", ["batches"]) => ingest::upload(st, req, &job),
                (
                    Kind::Ingest,
                    "GET",
                    [which @ ("successfulResults" | "failedResults" | "unprocessedrecords")],
                ) => ingest::results(&job, which),
                (Kind::Query, "GET", ["results"]) => query::results(req, &job),
                _ => Err(ApiError::not_found()),
            }
        }
        _ => Err(ApiError::not_found()),
    }
}

/// 404 for an unknown job id.
pub fn invalid_job(id: &str) -> ApiError {
    ApiError::new(
        404,
        "NOT_FOUND",
        format!("Could not find job with id: {id}"),
    )
}

fn list(st: &State, kind: Kind) -> ApiResponse {
    let records: Vec<Value> = st
        .jobs
        .all
        .values()
        .filter(|j| j.kind == kind)
        .map(|j| j.info(false))
        .collect();
    ApiResponse::json(
        200,
        json!({"done": true, "records": records, "nextRecordsUrl": null}),
    )
}

fn change_state(st: &mut State, req: &ApiRequest, job: &Job) -> Result<ApiResponse, ApiError> {
    let body = req.json()?;
    let to = body.get("state").and_then(Value::as_str).unwrap_or("");
    let now = st.clock.now_ms();
    let refuse = || {
        ApiError::bad(
            "INVALIDJOBSTATE",
            format!(
                "Job state change from {} to {to} is not allowed",
                job.state.name()
            ),
        )
    };
    let next = match (to, job.state) {
        ("UploadComplete", JobState::Open) if job.kind == Kind::Ingest => {
            if job.uploads > 1 {
                return Err(ApiError::bad(
                    "INVALIDJOB",
                    format!(
                        "Found multiple contents for job: <{}>, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' once on a given Job.",
                        job.id
                    ),
                ));
            }
            JobState::UploadComplete
        }
        ("Aborted", s) if !s.is_final() => JobState::Aborted,
        _ => return Err(refuse()),
    };
    let Some(j) = st.jobs.all.get_mut(&job.id) else {
        return Err(invalid_job(&job.id));
    };
    j.state = next;
    j.modified_ms = now;
    if next == JobState::Aborted && j.kind == Kind::Ingest {
        ingest::abort(j);
    }
    Ok(ApiResponse::json(200, j.info(false)))
}

fn delete(st: &mut State, job: &Job) -> Result<ApiResponse, ApiError> {
    if matches!(job.state, JobState::Open | JobState::InProgress) {
        return Err(ApiError::bad(
            "INVALIDJOBSTATE",
            format!(
                "Job {} is {}: only UploadComplete, JobComplete, Aborted or Failed jobs can be deleted",
                job.id,
                job.state.name()
            ),
        ));
    }
    st.jobs.all.remove(&job.id);
    Ok(ApiResponse::empty(204))
}

/// The delimiter byte of a `columnDelimiter` name.
pub fn delimiter(name: &str) -> Option<u8> {
    Some(match name {
        "COMMA" => b',',
        "TAB" => b'\t',
        "PIPE" => b'|',
        "SEMICOLON" => b';',
        "CARET" => b'^',
        "BACKQUOTE" => b'`',
        _ => return None,
    })
}

/// Reads and checks `columnDelimiter` / `lineEnding` of a create request.
fn formats(body: &Value) -> Result<(String, String), ApiError> {
    let delim = body
        .get("columnDelimiter")
        .and_then(Value::as_str)
        .unwrap_or("COMMA")
        .to_string();
    let line = body
        .get("lineEnding")
        .and_then(Value::as_str)
        .unwrap_or("LF")
        .to_string();
    if delimiter(&delim).is_none() {
        return Err(ApiError::bad(
            "INVALIDJOB",
            format!(
                "Invalid columnDelimiter: {delim} (BACKQUOTE, CARET, COMMA, PIPE, SEMICOLON, TAB)"
            ),
        ));
    }
    if line != "LF" && line != "CRLF" {
        return Err(ApiError::bad(
            "INVALIDJOB",
            format!("Invalid lineEnding: {line} (LF, CRLF)"),
        ));
    }
    if let Some(ct) = body.get("contentType").and_then(Value::as_str)
        && ct != "CSV"
    {
        return Err(ApiError::bad(
            "INVALIDJOB",
            format!("Invalid contentType: {ct} (only CSV)"),
        ));
    }
    Ok((delim, line))
}

/// A new job with the common fields filled.
fn new_job(
    st: &mut State,
    kind: Kind,
    req: &ApiRequest,
    caller: &Caller,
    object: String,
    operation: String,
    formats: (String, String),
) -> Job {
    let id = st.ids.next("750");
    let now = st.clock.now_ms();
    Job {
        id,
        kind,
        object,
        operation,
        external_id_field: None,
        state: JobState::Open,
        column_delimiter: formats.0,
        line_ending: formats.1,
        user_id: caller.user_id.clone(),
        origin: caller.ctx("bulkapi", req).origin,
        api_version: req.version.clone(),
        created_ms: now,
        modified_ms: now,
        upload: None,
        uploads: 0,
        query: String::new(),
        processed: 0,
        failed: 0,
        processing_ms: 0,
        error_message: None,
        results: [String::new(), String::new(), String::new()],
        columns: Vec::new(),
        rows: Vec::new(),
        page_size: st.settings.bulk_page_size,
    }
}
