//! Bulk API 2.0 query jobs: create (the SOQL is checked at once), process
//! (a snapshot of the result), and read result pages by `Sforce-Locator`.
//! Each page is a complete CSV with its header row; the last page's
//! `Sforce-Locator` is the literal `null`.

use super::csvio;
use super::{Job, JobState, Kind, formats, new_job};
use crate::errors::ApiError;
use crate::http::{ApiRequest, ApiResponse, Caller};
use crate::org::State;
use crate::soql;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde_json::Value;

/// `POST /jobs/query`
pub fn create(st: &mut State, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse, ApiError> {
    let body = req.json()?;
    let operation = body
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or("query");
    if operation != "query" && operation != "queryAll" {
        return Err(ApiError::bad(
            "INVALIDJOB",
            format!("InvalidJob : Invalid operation: {operation} (query, queryAll)"),
        ));
    }
    let Some(text) = body.get("query").and_then(Value::as_str) else {
        return Err(ApiError::bad(
            "INVALIDJOB",
            "InvalidJob : query is required",
        ));
    };
    let prepared = prepare(st, text)?;
    let now = st.clock.now_ms();
    if !st.limits.count_query_job(now) {
        return Err(ApiError::bad(
            "EXCEEDED_QUOTA",
            "The daily limit of Bulk API 2.0 query jobs (DailyBulkV2QueryJobs) is spent",
        ));
    }
    let mut job = new_job(
        st,
        Kind::Query,
        req,
        caller,
        prepared.object_name.clone(),
        operation.to_string(),
        formats(&body)?,
    );
    job.query = text.to_string();
    job.state = JobState::UploadComplete;
    let info = job.info(false);
    st.jobs.all.insert(job.id.clone(), job);
    Ok(ApiResponse::json(200, info))
}

fn prepare(st: &State, text: &str) -> Result<soql::Prepared, ApiError> {
    let parsed = soql::parse(text).map_err(|e| ApiError::bad(e.code, e.render(text)))?;
    let prepared = soql::prepare(&st.schema, &parsed, st.clock.today())
        .map_err(|e| ApiError::bad(e.code, e.render(text)))?;
    let unsupported = if prepared.has_subquery() {
        Some("parent-to-child subqueries")
    } else if prepared.count_only {
        Some("COUNT()")
    } else if prepared.offset.is_some() {
        Some("OFFSET")
    } else {
        None
    };
    match unsupported {
        Some(what) => Err(ApiError::malformed_query(format!(
            "{what} are not supported by Bulk API 2.0 query"
        ))),
        None => Ok(prepared),
    }
}

/// Runs a query job (the worker calls this under the lock).
pub fn process(st: &mut State, job_id: &str) {
    let Some(job) = st.jobs.all.get(job_id).cloned() else {
        return;
    };
    let started = st.clock.now_ms();
    let outcome = prepare(st, &job.query).map(|p| {
        let rows: Vec<Vec<String>> =
            soql::run(&st.schema, &st.data, &p, job.operation == "queryAll")
                .into_iter()
                .map(|r| p.csv_row(&st.schema, &st.data, r))
                .collect();
        (p.columns(), rows)
    });
    let now = st.clock.now_ms();
    if let Some(j) = st.jobs.all.get_mut(job_id) {
        j.modified_ms = now;
        j.processing_ms = now - started;
        match outcome {
            Ok((columns, rows)) => {
                j.processed = rows.len() as u64;
                j.columns = columns;
                j.rows = rows;
                j.state = JobState::JobComplete;
            }
            Err(e) => {
                j.state = JobState::Failed;
                j.error_message = Some(e.message);
            }
        }
    }
}

/// `GET /jobs/query/{id}/results[?locator=…&maxRecords=N]`
pub fn results(req: &ApiRequest, job: &Job) -> Result<ApiResponse, ApiError> {
    if req.version != job.api_version {
        return Err(ApiError::new(
            409,
            "INVALIDJOB",
            format!(
                "Results of job {} must be read with the API version it was created with ({})",
                job.id, job.api_version
            ),
        ));
    }
    if job.state != JobState::JobComplete {
        return Err(ApiError::bad(
            "INVALIDJOBSTATE",
            format!(
                "Job {} is {}: results are available once it is JobComplete",
                job.id,
                job.state.name()
            ),
        ));
    }
    let offset = match req
        .param("locator")
        .filter(|l| !l.is_empty() && *l != "null")
    {
        None => 0,
        Some(l) => STANDARD_NO_PAD
            .decode(l.trim_end_matches('='))
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|n| *n <= job.rows.len())
            .ok_or_else(|| ApiError::bad("INVALIDLOCATOR", format!("Invalid locator: {l}")))?,
    };
    let page_size = match req.param("maxRecords") {
        None => job.page_size,
        Some(n) => n.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad(
                "INVALIDREQUEST",
                format!("maxRecords must be a positive number: {n}"),
            )
        })?,
    };
    let end = (offset + page_size).min(job.rows.len());
    let page = &job.rows[offset..end];
    let locator = if end < job.rows.len() {
        STANDARD_NO_PAD.encode(end.to_string())
    } else {
        "null".to_string()
    };
    let text = csvio::write(&job.columns, page, &job.column_delimiter, &job.line_ending);
    Ok(ApiResponse::csv(200, text)
        .with_header("Sforce-NumberOfRecords", page.len().to_string())
        .with_header("Sforce-Locator", locator))
}
