//! Large `batch` groups as Bulk API 2.0 ingest jobs: a group of more than
//! [`THRESHOLD`] records is written as one CSV upload (create the job, one
//! `PUT` of the data, close, poll), then the failed and unprocessed results
//! are read back and matched to the group's records, which become
//! [`Rejected`] entries with Salesforce's `sf__Error`; every other record
//! was saved.
//!
//! Salesforce does not keep the row order in its results and adds no row
//! number, so a result row is matched to a record by its original cells
//! (identical records are interchangeable). Columns are the union of the
//! records' non-null fields; an empty cell is "leave unchanged" on update
//! and null on insert, like a field left out of a REST call.

use crate::client::{Body, Client};
use crate::convert::to_object;
use aqueduct_runtime::connector::{ConnectorError, Rejected};
use aqueduct_runtime::value::Value;
use reqwest::Method;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Groups larger than this go through Bulk API 2.0 (Salesforce's own
/// advice: REST below about 2,000 records, Bulk above).
pub(crate) const THRESHOLD: usize = 2000;

const POLL_FIRST: Duration = Duration::from_millis(250);
const POLL_MAX: Duration = Duration::from_secs(10);

/// What the job does.
pub(crate) struct Job<'a> {
    pub(crate) client: &'a Client,
    pub(crate) object: &'a str,
    /// `insert`, `update`, `upsert` or `delete`.
    pub(crate) operation: &'a str,
    pub(crate) external_id: Option<&'a str>,
}

/// A JSON value as a CSV cell (null is empty).
fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The CSV of `records` and each record's cells (for matching results).
fn to_csv(records: &[Value], delete: bool) -> Result<(String, Vec<Vec<String>>), String> {
    let objects: Vec<_> = records.iter().map(to_object).collect();
    let mut columns: Vec<String> = Vec::new();
    if delete {
        columns.push("Id".into());
    } else {
        for o in &objects {
            for k in o.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    let rows: Vec<Vec<String>> = objects
        .iter()
        .map(|o| {
            columns
                .iter()
                .map(|c| {
                    o.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(c))
                        .map(|(_, v)| cell(v))
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    writer.write_record(&columns).map_err(|e| e.to_string())?;
    for row in &rows {
        writer.write_record(row).map_err(|e| e.to_string())?;
    }
    let bytes = writer.into_inner().map_err(|e| e.error().to_string())?;
    let text = String::from_utf8(bytes).map_err(|e| e.to_string())?;
    Ok((text, rows))
}

/// `REQUIRED_FIELD_MISSING:Required fields are missing: [X]:X --` as
/// `REQUIRED_FIELD_MISSING: Required fields are missing: [X]:X`; an error
/// naming no field (`CODE:message: --`) loses the empty list's colon.
fn describe(sf_error: &str) -> String {
    let text = sf_error.trim().trim_end_matches("--").trim_end();
    let text = text.strip_suffix(':').unwrap_or(text);
    match text.split_once(':') {
        Some((code, rest)) if !code.contains(' ') => format!("{code}: {rest}"),
        _ => text.to_string(),
    }
}

impl Job<'_> {
    fn what(&self) -> String {
        format!("bulk {} {}", self.operation, self.object)
    }

    fn error(&self, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Permanent(format!(
            "`{}`: {}: {message}",
            self.client.system,
            self.what()
        ))
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<serde_json::Value, ConnectorError> {
        let what = self.what();
        let reply = self.client.send(method, path, &[], &body, false).await?;
        let reply = self.client.check(&what, reply)?;
        serde_json::from_slice(&reply.body)
            .map_err(|e| self.error(format!("the answer is not JSON: {e}")))
    }

    /// Runs the job for `records`; the refused ones.
    pub(crate) async fn run(&self, records: &[Value]) -> Result<Vec<Rejected>, ConnectorError> {
        let (csv_text, rows) =
            to_csv(records, self.operation == "delete").map_err(|e| self.error(e))?;
        let mut spec = serde_json::json!({
            "object": self.object, "operation": self.operation,
            "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA",
        });
        if let Some(ext) = self.external_id {
            spec["externalIdFieldName"] = serde_json::json!(ext);
        }
        let base = self.client.data_path("/jobs/ingest");
        let job = self
            .json(Method::POST, &base, Body::Json(spec.to_string()))
            .await?;
        let id = job
            .get("id")
            .and_then(|i| i.as_str())
            .ok_or_else(|| self.error("the answer has no job id"))?
            .to_string();
        tracing::info!(system = %self.client.system, job = %id, records = records.len(), "Bulk API 2.0 ingest job created");
        let reply = self
            .client
            .send(
                Method::PUT,
                &format!("{base}/{id}/batches"),
                &[],
                &Body::Csv(csv_text),
                false,
            )
            .await?;
        self.client.check(&self.what(), reply)?;
        self.json(
            Method::PATCH,
            &format!("{base}/{id}"),
            Body::Json(r#"{"state":"UploadComplete"}"#.into()),
        )
        .await?;
        let mut delay = POLL_FIRST;
        let (state, job) = loop {
            let job = self
                .json(Method::GET, &format!("{base}/{id}"), Body::None)
                .await?;
            let state = job
                .get("state")
                .and_then(|s| s.as_str())
                .unwrap_or("")
                .to_string();
            if matches!(state.as_str(), "JobComplete" | "Failed" | "Aborted") {
                break (state, job);
            }
            tokio::time::sleep(delay).await;
            delay = delay.mul_f64(1.5).min(POLL_MAX);
        };
        let job_error = job
            .get("errorMessage")
            .and_then(|m| m.as_str())
            .unwrap_or("no reason given")
            .to_string();
        let processed = job
            .get("numberRecordsProcessed")
            .and_then(|n| n.as_u64())
            .unwrap_or(0);
        if state != "JobComplete" && processed == 0 {
            return Err(self.error(format!("job {id} {}: {job_error}", state.to_lowercase())));
        }
        // Match result rows to records by their cells.
        let mut by_cells: HashMap<Vec<String>, VecDeque<usize>> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            by_cells.entry(row.clone()).or_default().push_back(i);
        }
        let mut rejected = Vec::new();
        let failed = self.results(&base, &id, "failedResults/").await?;
        for (meta, cells) in failed {
            if let Some(i) = by_cells.get_mut(&cells).and_then(VecDeque::pop_front) {
                let detail = describe(meta.get("sf__Error").map(String::as_str).unwrap_or(""));
                let message = aqueduct_runtime::secrets::redact(&format!(
                    "`{}`: {} refused the record: {detail}",
                    self.client.system,
                    self.what()
                ));
                rejected.push(Rejected {
                    index: i,
                    error: ConnectorError::Permanent(message),
                });
            } else {
                tracing::warn!(system = %self.client.system, job = %id, "A failed bulk result row matches no record of the group");
            }
        }
        let unprocessed = self.results(&base, &id, "unprocessedrecords/").await?;
        for (_, cells) in unprocessed {
            if let Some(i) = by_cells.get_mut(&cells).and_then(VecDeque::pop_front) {
                rejected.push(Rejected {
                    index: i,
                    error: self.error(format!(
                        "job {id} {} before the record was processed: {job_error}",
                        state.to_lowercase()
                    )),
                });
            }
        }
        rejected.sort_by_key(|r| r.index);
        Ok(rejected)
    }

    /// The rows of a result CSV: its `sf__` columns by name, and the
    /// original cells.
    async fn results(
        &self,
        base: &str,
        id: &str,
        which: &str,
    ) -> Result<Vec<(HashMap<String, String>, Vec<String>)>, ConnectorError> {
        let reply = self
            .client
            .send(
                Method::GET,
                &format!("{base}/{id}/{which}"),
                &[],
                &Body::None,
                true,
            )
            .await?;
        let reply = self.client.check(&self.what(), reply)?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(reply.body.as_ref());
        let headers: Vec<String> = match reader.headers() {
            Ok(h) => h.iter().map(str::to_string).collect(),
            Err(_) => return Ok(Vec::new()),
        };
        let mut out = Vec::new();
        for row in reader.records() {
            let row = row.map_err(|e| self.error(format!("malformed result CSV: {e}")))?;
            let mut meta = HashMap::new();
            let mut cells = Vec::new();
            for (h, v) in headers.iter().zip(row.iter()) {
                if h.starts_with("sf__") {
                    meta.insert(h.clone(), v.to_string());
                } else {
                    cells.push(v.to_string());
                }
            }
            out.push((meta, cells));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_documented_bulk_errors() {
        // the failedResults example of the reference (§3.1)
        assert_eq!(
            describe("REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"),
            "REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]:LastName"
        );
        assert_eq!(
            describe("INVALID_CROSS_REFERENCE_KEY:invalid cross reference id: --"),
            "INVALID_CROSS_REFERENCE_KEY: invalid cross reference id"
        );
    }
}
