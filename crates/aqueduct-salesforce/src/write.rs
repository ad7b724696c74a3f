//! `insert`, `update`, `upsert`, `delete` and `publish` (an insert of a
//! platform event) targets through sObject Collections: up to 200 records a call with `allOrNone=false`, so each
//! record is saved or refused on its own. A refused record comes back as a
//! [`Rejected`] with Salesforce's `statusCode` and message (the executor
//! dead-letters it); the others are written. A record refused with
//! `UNABLE_TO_LOCK_ROW` is tried again (up to 3 times) before it counts as
//! refused, as a lock held by another transaction passes.
//!
//! A group larger than 2,000 records goes as one Bulk API 2.0 ingest job
//! instead (see [`crate::ingest`]). A group larger than 200 is sent as
//! several calls: when a call after the
//! first fails as a whole, the records it and the later calls held are
//! rejected with that error (the earlier ones are saved already, so the
//! group must not be retried whole).

use crate::client::{Body, Client, error_detail};
use crate::convert::to_object;
use crate::describe::{Use, preflight};
use aqueduct_connectors::support::args::{label, req_str};
use aqueduct_connectors::support::template::encode_path_segment;
use aqueduct_runtime::connector::{ConnectorError, OpContext, Rejected, Target};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use reqwest::Method;
use std::sync::Arc;
use std::time::Duration;

/// Most records of one sObject Collections call.
pub(crate) const MAX_PER_CALL: usize = 200;

/// Tries of a record refused with `UNABLE_TO_LOCK_ROW`.
const LOCK_RETRIES: u32 = 3;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Insert,
    /// An insert of a platform event (`…__e`): the event is published.
    Publish,
    Update,
    Upsert(String),
    Delete,
}

/// A collections write target.
pub(crate) struct WriteTarget {
    client: Arc<Client>,
    object: String,
    op: Op,
    label: String,
    /// Groups larger than this go as a Bulk API 2.0 ingest job.
    bulk_threshold: usize,
}

/// The outcome of one record of a call.
enum Outcome {
    Saved,
    Refused(ConnectorError),
    /// Refused with a lock error: worth another try.
    Locked(ConnectorError),
}

impl WriteTarget {
    pub(crate) fn build(
        cx: &OpContext,
        client: Arc<Client>,
        bulk_threshold: usize,
    ) -> Result<WriteTarget, ConnectorError> {
        let op = match cx.op.operation.as_str() {
            "insert" => Op::Insert,
            "publish" => Op::Publish,
            "update" => Op::Update,
            "upsert" => Op::Upsert(req_str(cx, "external_id")?),
            "delete" => Op::Delete,
            other => {
                return Err(ConnectorError::Config(format!(
                    "`{}`: `{other}` is not a write",
                    label(cx)
                )));
            }
        };
        let object = if op == Op::Publish {
            req_str(cx, "event")?
        } else {
            req_str(cx, "object")?
        };
        let use_ = match &op {
            Op::Insert | Op::Publish => Use::Insert,
            Op::Update => Use::Update,
            Op::Upsert(external) => Use::Upsert(external),
            Op::Delete => Use::Delete,
        };
        preflight(cx, &client, &object, use_)?;
        Ok(WriteTarget {
            client,
            object,
            op,
            label: label(cx),
            bulk_threshold,
        })
    }

    fn what(&self) -> String {
        let op = match &self.op {
            Op::Insert => "insert",
            Op::Publish => "publish",
            Op::Update => "update",
            Op::Upsert(_) => "upsert",
            Op::Delete => "delete",
        };
        format!("{op} {}", self.object)
    }

    /// The record's `Id` (any case), if set.
    fn id_of(record: &Value) -> Option<String> {
        let map = to_object(record);
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("id"))
            .and_then(|(_, v)| v.as_str().map(str::to_string))
            .filter(|s| !s.is_empty())
    }

    /// The JSON of one record for the call, or why it cannot be sent.
    fn body_of(&self, record: &Value) -> Result<serde_json::Value, String> {
        let mut map = to_object(record);
        match &self.op {
            Op::Update if Self::id_of(record).is_none() => {
                return Err("the record has no `Id` to update".into());
            }
            Op::Upsert(ext) if !map.contains_key(ext) => {
                return Err(format!(
                    "the record has no `{ext}` (the external id) to upsert on"
                ));
            }
            _ => {}
        }
        let mut out = serde_json::Map::new();
        out.insert(
            "attributes".into(),
            serde_json::json!({ "type": self.object }),
        );
        out.append(&mut map);
        Ok(serde_json::Value::Object(out))
    }

    /// One collections call for `records` (≤ 200); an outcome per record.
    async fn call(&self, records: &[&Value]) -> Result<Vec<Outcome>, ConnectorError> {
        let mut outcomes: Vec<Option<Outcome>> = (0..records.len()).map(|_| None).collect();
        let mut sent: Vec<usize> = Vec::new();
        let mut bodies = Vec::new();
        let mut ids = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let prepared = if self.op == Op::Delete {
                Self::id_of(record)
                    .map(|id| ids.push(id))
                    .ok_or_else(|| "the record has no `Id` to delete".to_string())
            } else {
                self.body_of(record).map(|b| bodies.push(b))
            };
            match prepared {
                Ok(()) => sent.push(i),
                Err(e) => {
                    outcomes[i] = Some(Outcome::Refused(ConnectorError::Permanent(format!(
                        "`{}`: {}: {e}",
                        self.client.system,
                        self.what()
                    ))))
                }
            }
        }
        if !sent.is_empty() {
            let path = self.client.data_path("/composite/sobjects");
            let reply = match &self.op {
                Op::Delete => {
                    let ids = ids.join(",");
                    self.client
                        .send(
                            Method::DELETE,
                            &path,
                            &[("ids", &ids), ("allOrNone", "false")],
                            &Body::None,
                            false,
                        )
                        .await?
                }
                op => {
                    let body =
                        serde_json::json!({"allOrNone": false, "records": bodies}).to_string();
                    let (method, path) = match op {
                        Op::Insert | Op::Publish => (Method::POST, path),
                        Op::Upsert(ext) => (
                            Method::PATCH,
                            format!(
                                "{path}/{}/{}",
                                encode_path_segment(&self.object),
                                encode_path_segment(ext)
                            ),
                        ),
                        _ => (Method::PATCH, path),
                    };
                    self.client
                        .send(method, &path, &[], &Body::Json(body), false)
                        .await?
                }
            };
            let reply = self.client.check(&self.what(), reply)?;
            let results = parse_results(&reply.body).map_err(|e| {
                ConnectorError::Permanent(format!("`{}`: {}: {e}", self.client.system, self.what()))
            })?;
            if results.len() != sent.len() {
                return Err(ConnectorError::Permanent(format!(
                    "`{}`: {}: {} results for {} records",
                    self.client.system,
                    self.what(),
                    results.len(),
                    sent.len()
                )));
            }
            for (i, result) in sent.into_iter().zip(results) {
                outcomes[i] = Some(match result {
                    None => Outcome::Saved,
                    Some((code, detail)) => {
                        let message = aqueduct_runtime::secrets::redact(&format!(
                            "`{}`: {} refused the record: {detail}",
                            self.client.system,
                            self.what()
                        ));
                        if code == "UNABLE_TO_LOCK_ROW" {
                            Outcome::Locked(ConnectorError::Transient(message))
                        } else {
                            Outcome::Refused(ConnectorError::Permanent(message))
                        }
                    }
                });
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Saved))
            .collect())
    }

    /// Writes `records` (≤ 200), trying locked records again; the refused
    /// ones by index.
    async fn write_chunk(&self, records: &[&Value]) -> Result<Vec<Rejected>, ConnectorError> {
        let mut pending: Vec<usize> = (0..records.len()).collect();
        let mut rejected = Vec::new();
        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            let batch: Vec<&Value> = pending.iter().map(|&i| records[i]).collect();
            let outcomes = self.call(&batch).await?;
            let mut locked = Vec::new();
            for (&i, outcome) in pending.iter().zip(outcomes) {
                match outcome {
                    Outcome::Saved => {}
                    Outcome::Refused(error) => rejected.push(Rejected { index: i, error }),
                    Outcome::Locked(error) if attempt > LOCK_RETRIES => {
                        rejected.push(Rejected { index: i, error })
                    }
                    Outcome::Locked(_) => locked.push(i),
                }
            }
            if !locked.is_empty() {
                tokio::time::sleep(Duration::from_millis(200 * (1 << attempt))).await;
            }
            pending = locked;
        }
        rejected.sort_by_key(|r| r.index);
        Ok(rejected)
    }
}

/// Per-record results of a collections call: `None` for a success, else
/// the first error's `statusCode` and a description of every error.
pub(crate) fn parse_results(body: &[u8]) -> Result<Vec<Option<(String, String)>>, String> {
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the collections answer is not JSON: {e}"))?;
    let items = json
        .as_array()
        .ok_or("the collections answer is not an array of results")?;
    Ok(items
        .iter()
        .map(|item| {
            if item.get("success").and_then(|s| s.as_bool()) == Some(true) {
                return None;
            }
            let errors = item.get("errors").cloned().unwrap_or_default();
            let (codes, mut detail) = error_detail(errors.to_string().as_bytes());
            let fields: Vec<&str> = errors
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("fields")?.as_array())
                .flatten()
                .filter_map(|f| f.as_str())
                .collect();
            if !fields.is_empty() {
                detail.push_str(&format!(" (fields: {})", fields.join(", ")));
            }
            let code = codes.into_iter().next().unwrap_or_else(|| "UNKNOWN".into());
            Some((code, detail))
        })
        .collect())
}

impl Target for WriteTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let rejected = self.write_partial(records).await?;
            match rejected.into_iter().next() {
                None => Ok(()),
                Some(r) => Err(r.error),
            }
        })
    }

    fn write_partial<'a>(
        &'a self,
        records: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<Rejected>, ConnectorError>> {
        Box::pin(async move {
            if records.len() > self.bulk_threshold && self.op != Op::Publish {
                let (operation, external_id) = match &self.op {
                    Op::Upsert(ext) => ("upsert", Some(ext.as_str())),
                    Op::Update => ("update", None),
                    Op::Delete => ("delete", None),
                    _ => ("insert", None),
                };
                let job = crate::ingest::Job {
                    client: &self.client,
                    object: &self.object,
                    operation,
                    external_id,
                };
                return job.run(records).await;
            }
            let mut rejected = Vec::new();
            for (n, chunk) in records.chunks(MAX_PER_CALL).enumerate() {
                let offset = n * MAX_PER_CALL;
                let refs: Vec<&Value> = chunk.iter().collect();
                match self.write_chunk(&refs).await {
                    Ok(r) => rejected.extend(r.into_iter().map(|mut r| {
                        r.index += offset;
                        r
                    })),
                    Err(e) if n == 0 => return Err(e),
                    Err(e) => {
                        // Earlier calls are saved: refuse the rest instead of
                        // failing (and so re-sending) the whole group.
                        tracing::warn!(target = %self.label, error = %e, "A collections call failed after earlier ones of the group were saved; the rest of the group goes to the dead letter");
                        rejected.extend((offset..records.len()).map(|index| Rejected {
                            index,
                            error: e.clone(),
                        }));
                        break;
                    }
                }
            }
            Ok(rejected)
        })
    }
}
