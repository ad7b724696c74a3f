//! Bulk API 2.0 ingest jobs: create, upload, process, results.
//!
//! CSV rules (Salesforce's): the header names fields or relationship
//! columns (`Account.Ext_Id__c`); an empty cell leaves a field unchanged
//! (null on insert); `#N/A` sets it to null. Every row is its own
//! transaction: a failing row goes to `failedResults` with
//! `sf__Error` = `CODE:message:fields --`, the others are saved.

use super::csvio;
use super::{Job, JobState, Kind, formats, new_job};
use crate::dml::{self, Upserted, WriteCtx};
use crate::errors::ApiError;
use crate::http::{ApiRequest, ApiResponse, Caller};
use crate::org::State;
use serde_json::{Map, Value, json};

const OPERATIONS: &[&str] = &["insert", "update", "upsert", "delete", "hardDelete"];

/// `POST /jobs/ingest`
pub fn create(st: &mut State, req: &ApiRequest, caller: &Caller) -> Result<ApiResponse, ApiError> {
    if req
        .header("content-type")
        .is_some_and(|c| c.starts_with("multipart/"))
    {
        return Err(ApiError::bad(
            "INVALIDJOB",
            "Multipart job creation with data is not supported by the aqueduct emulator; upload with PUT",
        ));
    }
    let body = req.json()?;
    let object = body.get("object").and_then(Value::as_str).unwrap_or("");
    let operation = body.get("operation").and_then(Value::as_str).unwrap_or("");
    let schema = st.schema.clone();
    let Some(def) = schema.object(object) else {
        return Err(ApiError::bad(
            "INVALIDJOB",
            format!("InvalidJob : Unable to find object: {object}"),
        ));
    };
    if def.is_event {
        return Err(ApiError::bad(
            "INVALIDJOB",
            format!(
                "InvalidJob : {} is a platform event; publish it through REST",
                def.name
            ),
        ));
    }
    if !OPERATIONS.contains(&operation) {
        return Err(ApiError::bad(
            "INVALIDJOB",
            format!(
                "InvalidJob : Invalid operation: {operation} (insert, update, upsert, delete, hardDelete)"
            ),
        ));
    }
    let ext = body.get("externalIdFieldName").and_then(Value::as_str);
    let ext_field = match (operation, ext) {
        ("upsert", None) => {
            return Err(ApiError::bad(
                "INVALIDJOB",
                "InvalidJob : externalIdFieldName is required for upsert",
            ));
        }
        ("upsert", Some(f)) => Some(
            dml::external_field(def, f)
                .map_err(|_| {
                    ApiError::bad(
                        "INVALIDJOB",
                        format!(
                            "InvalidJob : Field {f} is not an external id field of {}",
                            def.name
                        ),
                    )
                })?
                .name
                .clone(),
        ),
        _ => None,
    };
    let mut job = new_job(
        st,
        Kind::Ingest,
        req,
        caller,
        def.name.clone(),
        operation.to_string(),
        formats(&body)?,
    );
    job.external_id_field = ext_field;
    let info = job.info(false);
    st.jobs.all.insert(job.id.clone(), job);
    Ok(ApiResponse::json(200, info))
}

/// `PUT /jobs/ingest/{id}/batches`
pub fn upload(st: &mut State, req: &ApiRequest, job: &Job) -> Result<ApiResponse, ApiError> {
    if job.state != JobState::Open {
        return Err(ApiError::bad(
            "INVALIDJOBSTATE",
            format!(
                "Job {} is {}: data can only be uploaded to an Open job",
                job.id,
                job.state.name()
            ),
        ));
    }
    let text = String::from_utf8(req.body.to_vec())
        .map_err(|_| ApiError::bad("INVALIDBATCH", "The CSV data is not UTF-8"))?;
    if let Some(j) = st.jobs.all.get_mut(&job.id) {
        j.uploads += 1;
        j.upload = Some(text);
    }
    Ok(ApiResponse::empty(201))
}

/// `GET /jobs/ingest/{id}/successfulResults|failedResults|unprocessedrecords`
pub fn results(job: &Job, which: &str) -> Result<ApiResponse, ApiError> {
    if !job.state.is_final() {
        return Err(ApiError::bad(
            "INVALIDJOBSTATE",
            format!(
                "Job {} is {}: results are available once it is JobComplete, Failed or Aborted",
                job.id,
                job.state.name()
            ),
        ));
    }
    let i = match which {
        "successfulResults" => 0,
        "failedResults" => 1,
        _ => 2,
    };
    Ok(ApiResponse::csv(200, job.results[i].clone()))
}

/// The `errorMessage` of a job failed by the `bulk_job_failed` fault
/// (Salesforce documents the field, not the texts of internal failures).
const JOB_FAULT: &str =
    "InternalServerError : the job failed while processing (the emulator's bulk_job_failed fault)";

/// An aborted job: everything uploaded is unprocessed.
pub fn abort(job: &mut Job) {
    match job
        .upload
        .as_deref()
        .map(|t| csvio::read(t, &job.column_delimiter))
    {
        Some(Ok((header, rows))) => set_results(job, &header, Vec::new(), Vec::new(), rows),
        _ => job.results = [String::new(), String::new(), String::new()],
    }
}

fn set_results(
    job: &mut Job,
    header: &[String],
    ok: Vec<Vec<String>>,
    failed: Vec<Vec<String>>,
    unprocessed: Vec<Vec<String>>,
) {
    let with = |first: &str, second: &str| {
        let mut h = vec![first.to_string(), second.to_string()];
        h.extend(header.iter().cloned());
        h
    };
    let (d, l) = (job.column_delimiter.clone(), job.line_ending.clone());
    job.results = [
        csvio::write(&with("sf__Id", "sf__Created"), &ok, &d, &l),
        csvio::write(&with("sf__Id", "sf__Error"), &failed, &d, &l),
        csvio::write(header, &unprocessed, &d, &l),
    ];
}

/// Processes a closed job (the worker calls this under the lock).
pub fn process(st: &mut State, job_id: &str) {
    let Some(job) = st.jobs.all.get(job_id).cloned() else {
        return;
    };
    let started = st.clock.now_ms();
    let Some(upload) = job.upload.as_deref() else {
        return fail(
            st,
            job_id,
            "InvalidBatch : No data was uploaded to the job".to_string(),
            Vec::new(),
            Vec::new(),
        );
    };
    let (header, rows) = match csvio::read(upload, &job.column_delimiter) {
        Ok(v) => v,
        Err(e) => {
            return fail(
                st,
                job_id,
                format!("InvalidBatch : {e}"),
                Vec::new(),
                Vec::new(),
            );
        }
    };
    let schema = st.schema.clone();
    let Some(obj) = schema.index(&job.object) else {
        return;
    };
    let def = &schema.objects[obj];
    for column in &header {
        let known = match column.split_once('.') {
            Some((rel, _)) => def.relationship(rel).is_some(),
            None => def.field(column).is_some(),
        };
        if !known {
            return fail(
                st,
                job_id,
                format!("InvalidBatch : Field name not found : {column}"),
                header,
                rows,
            );
        }
    }
    let needs_id = matches!(job.operation.as_str(), "update" | "delete" | "hardDelete");
    if needs_id && !header.iter().any(|h| h.eq_ignore_ascii_case("Id")) {
        return fail(
            st,
            job_id,
            "InvalidBatch : Field name not found : Id".to_string(),
            header,
            rows,
        );
    }
    if let Some(ext) = &job.external_id_field
        && !header.iter().any(|h| h.eq_ignore_ascii_case(ext))
    {
        return fail(
            st,
            job_id,
            format!("InvalidBatch : Field name not found : {ext}"),
            header,
            rows,
        );
    }
    let ctx = WriteCtx {
        user_id: job.user_id.clone(),
        origin: job.origin.clone(),
        method: "PUT".into(),
        path: format!(
            "/services/data/v{}/jobs/ingest/{}/batches",
            job.api_version, job.id
        ),
    };
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for (n, row) in rows.iter().enumerate() {
        if st.faults.take_job_failure(&job.object) {
            // The rows saved so far stay saved; the rest are unprocessed.
            let now = st.clock.now_ms();
            if let Some(j) = st.jobs.all.get_mut(job_id) {
                j.processed = n as u64;
                j.failed = failed.len() as u64;
                j.state = JobState::Failed;
                j.error_message = Some(JOB_FAULT.to_string());
                j.modified_ms = now;
                j.processing_ms = now - started;
                set_results(j, &header, ok, failed, rows[n..].to_vec());
            }
            return;
        }
        let mark = st.mark();
        match process_row(st, obj, &job, &header, row, &ctx) {
            Ok((id, created)) => {
                let mut out = vec![id, created.to_string()];
                out.extend(row.iter().cloned());
                ok.push(out);
            }
            Err((id, e)) => {
                st.rollback(mark);
                let fields = e.fields.join(",");
                let mut out = vec![
                    id.unwrap_or_default(),
                    format!("{}:{}:{fields} --", e.code, e.message),
                ];
                out.extend(row.iter().cloned());
                failed.push(out);
            }
        }
    }
    let now = st.clock.now_ms();
    if let Some(j) = st.jobs.all.get_mut(job_id) {
        j.processed = rows.len() as u64;
        j.failed = failed.len() as u64;
        j.state = JobState::JobComplete;
        j.modified_ms = now;
        j.processing_ms = now - started;
        set_results(j, &header, ok, failed, Vec::new());
    }
}

fn fail(
    st: &mut State,
    job_id: &str,
    message: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
) {
    let now = st.clock.now_ms();
    if let Some(j) = st.jobs.all.get_mut(job_id) {
        j.state = JobState::Failed;
        j.error_message = Some(message);
        j.modified_ms = now;
        set_results(j, &header, Vec::new(), Vec::new(), rows);
    }
}

type RowError = (Option<String>, ApiError);

fn process_row(
    st: &mut State,
    obj: usize,
    job: &Job,
    header: &[String],
    row: &[String],
    ctx: &WriteCtx,
) -> Result<(String, bool), RowError> {
    let schema = st.schema.clone();
    let def = &schema.objects[obj];
    let mut input = Map::new();
    let mut id_cell = None;
    for (column, cell) in header.iter().zip(row) {
        if column.eq_ignore_ascii_case("Id") {
            id_cell = Some(cell.clone()).filter(|c| !c.is_empty());
            continue;
        }
        if cell.is_empty() {
            continue;
        }
        let null = cell == "#N/A";
        match column.split_once('.') {
            Some((rel, ext)) => {
                let Some(f) = def.relationship(rel) else {
                    continue;
                };
                let rel_name = f
                    .relationship_name
                    .clone()
                    .unwrap_or_else(|| rel.to_string());
                if null {
                    input.insert(f.name.clone(), Value::Null);
                } else {
                    let mut by_ext = Map::new();
                    by_ext.insert(ext.to_string(), json!(cell));
                    input.insert(rel_name, Value::Object(by_ext));
                }
            }
            None => {
                let Some(f) = def.field(column) else { continue };
                let value = if null {
                    Value::Null
                } else {
                    crate::values::from_text(f, cell).map_err(|e| (id_cell.clone(), e))?
                };
                input.insert(f.name.clone(), value);
            }
        }
    }
    let id_of = |cell: &Option<String>| -> Result<String, RowError> {
        let raw = cell.clone().ok_or_else(|| {
            (
                None,
                ApiError::bad("MISSING_ARGUMENT", "Id not specified").with_fields(&["Id"]),
            )
        })?;
        dml::id_of(def, &raw).ok_or_else(|| {
            (
                Some(raw.clone()),
                ApiError::bad(
                    "MALFORMED_ID",
                    format!("Id is not a valid {} id: {raw}", def.name),
                )
                .with_fields(&["Id"]),
            )
        })
    };
    match job.operation.as_str() {
        "insert" => dml::insert(st, obj, &input, ctx, None)
            .map(|id| (id, true))
            .map_err(|e| (None, e)),
        "update" => {
            let id = id_of(&id_cell)?;
            dml::update(st, obj, &id, &input, ctx)
                .map(|_| (id.clone(), false))
                .map_err(|e| (Some(id), e))
        }
        "delete" | "hardDelete" => {
            let id = id_of(&id_cell)?;
            let r = if job.operation == "delete" {
                dml::delete(st, obj, &id, ctx)
            } else {
                dml::hard_delete(st, obj, &id, ctx)
            };
            r.map(|_| (id.clone(), false)).map_err(|e| (Some(id), e))
        }
        _ => {
            let ext = job
                .external_id_field
                .clone()
                .unwrap_or_else(|| "Id".to_string());
            let key = input
                .get(&ext)
                .cloned()
                .or_else(|| id_cell.clone().map(Value::String))
                .unwrap_or(Value::Null);
            match dml::upsert(st, obj, &ext, &key, &input, ctx).map_err(|e| (None, e))? {
                Upserted::Created(id) => Ok((id, true)),
                Upserted::Updated(id) => Ok((id, false)),
                Upserted::Multiple(ids) => Err((
                    None,
                    ApiError::bad(
                        "DUPLICATE_EXTERNAL_ID",
                        format!(
                            "{ext}: more than one record found for external id field: [{}]",
                            ids.join(", ")
                        ),
                    )
                    .with_fields(&[&ext]),
                )),
            }
        }
    }
}
