//! `GET /query?q=…` and `/queryAll`, with `nextRecordsUrl` paging.
//!
//! The result of a query is rendered once, when it runs, and kept under a
//! query id (`01g…`); pages are read from it by row offset through
//! `/query/<queryId>-<offset>`, the locator format Salesforce uses. Page
//! size: `Sforce-Query-Options: batchSize=N` (clamped to 200–2000), else
//! the seed's `rest.query_batch_size` (2000). A cursor unused for 15
//! minutes of emulated time expires (`INVALID_QUERY_LOCATOR`).

use crate::errors::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::org::State;
use crate::soql;
use serde_json::{Value, json};
use std::collections::HashMap;

const CURSOR_IDLE_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone)]
struct Cursor {
    records: Vec<Value>,
    batch: usize,
    last_used_ms: i64,
}

/// Open query cursors by query id.
#[derive(Debug, Clone, Default)]
pub struct Cursors {
    open: HashMap<String, Cursor>,
}

/// Runs SOQL text; the rendered records of every matching row, or COUNT().
pub fn execute(
    st: &State,
    text: &str,
    all_rows: bool,
    base: &str,
) -> Result<(usize, Vec<Value>), ApiError> {
    let parsed = soql::parse(text).map_err(|e| ApiError::bad(e.code, e.render(text)))?;
    let prepared = soql::prepare(&st.schema, &parsed, st.clock.today())
        .map_err(|e| ApiError::bad(e.code, e.render(text)))?;
    let rows = soql::run(&st.schema, &st.data, &prepared, all_rows);
    if prepared.count_only {
        return Ok((rows.len(), Vec::new()));
    }
    let records: Vec<Value> = rows
        .iter()
        .map(|r| prepared.render(&st.schema, &st.data, r, base, all_rows))
        .collect();
    Ok((records.len(), records))
}

/// `GET /query?q=` (or `/queryAll`).
pub fn start(st: &mut State, req: &ApiRequest, all_rows: bool) -> Result<ApiResponse, ApiError> {
    let Some(text) = req.param("q") else {
        return Err(ApiError::malformed_query(
            "A query string has to be specified",
        ));
    };
    let base = req.base();
    let (total, records) = execute(st, text, all_rows, &base)?;
    let batch = batch_size(st, req);
    if records.len() <= batch {
        return Ok(ApiResponse::json(
            200,
            json!({"totalSize": total, "done": true, "records": records}),
        ));
    }
    let query_id = st.ids.next("01g");
    let query_id = query_id[..15].to_string();
    let first: Vec<Value> = records[..batch].to_vec();
    let now = st.clock.now_ms();
    st.cursors.open.insert(
        query_id.clone(),
        Cursor {
            records,
            batch,
            last_used_ms: now,
        },
    );
    Ok(ApiResponse::json(
        200,
        json!({"totalSize": total, "done": false, "nextRecordsUrl": format!("{base}/query/{query_id}-{batch}"), "records": first}),
    ))
}

/// `GET /query/<queryId>-<offset>`
pub fn more(st: &mut State, req: &ApiRequest, locator: &str) -> Result<ApiResponse, ApiError> {
    let invalid = || ApiError::bad("INVALID_QUERY_LOCATOR", "invalid query locator");
    let (query_id, offset) = locator.rsplit_once('-').ok_or_else(invalid)?;
    let offset: usize = offset.parse().map_err(|_| invalid())?;
    let now = st.clock.now_ms();
    st.cursors
        .open
        .retain(|_, c| now - c.last_used_ms < CURSOR_IDLE_MS);
    let cursor = st.cursors.open.get_mut(query_id).ok_or_else(invalid)?;
    if offset == 0 || offset >= cursor.records.len() {
        return Err(invalid());
    }
    cursor.last_used_ms = now;
    let end = (offset + cursor.batch).min(cursor.records.len());
    let page: Vec<Value> = cursor.records[offset..end].to_vec();
    let total = cursor.records.len();
    let mut body = json!({"totalSize": total, "done": end >= total, "records": page});
    if end < total {
        body["nextRecordsUrl"] = json!(format!("{}/query/{query_id}-{end}", req.base()));
    }
    Ok(ApiResponse::json(200, body))
}

fn batch_size(st: &State, req: &ApiRequest) -> usize {
    req.header("sforce-query-options")
        .and_then(|h| {
            h.split(',').find_map(|p| {
                p.trim()
                    .strip_prefix("batchSize=")
                    .and_then(|n| n.trim().parse::<usize>().ok())
            })
        })
        .map(|n| n.clamp(200, 2000))
        .unwrap_or(st.settings.query_batch_size)
}
