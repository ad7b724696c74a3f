//! `csv`: one row per record; the header row (or, without one, the order of
//! the declared fields) maps cells to fields. An empty cell is null for an
//! optional field and an error for a required one; extra columns are
//! ignored, a missing column is null (or an error when the field is required).

use super::{Codec, build_record, cell_text, fields_of, parse_cell};
use crate::support::decode_error;
use aqueduct_runtime::connector::{ConnectorError, DecodeError};
use aqueduct_runtime::value::Value;
use std::sync::Arc;

/// The cells of one logical row.
pub(super) fn split_row(codec: &Codec, line: &str) -> Result<Vec<String>, String> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(codec.delimiter)
        .flexible(true)
        .from_reader(line.as_bytes());
    let mut record = ::csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => Ok(record.iter().map(str::to_string).collect()),
        Ok(false) => Ok(Vec::new()),
        Err(e) => Err(format!("malformed csv row: {e}")),
    }
}

/// Decodes one row, with the header's column names (or none: field order).
pub(super) fn decode_row(
    codec: &Codec,
    headers: Option<&[String]>,
    line: &str,
) -> Result<Value, DecodeError> {
    let cells = split_row(codec, line).map_err(|reason| decode_error(line, reason))?;
    let Some(layout) = codec.layout() else {
        // Untyped (json): an object of strings by header name.
        let mut map = serde_json::Map::new();
        for (i, cell) in cells.iter().enumerate() {
            let name = headers
                .and_then(|h| h.get(i))
                .cloned()
                .unwrap_or_else(|| format!("column{}", i + 1));
            map.insert(name, serde_json::Value::String(cell.clone()));
        }
        return Ok(Value::Json(Arc::new(serde_json::Value::Object(map))));
    };
    if let Some(headers) = headers
        && cells.len() > headers.len()
    {
        return Err(decode_error(
            line,
            format!(
                "row has {} cells but the header names {}",
                cells.len(),
                headers.len()
            ),
        ));
    }
    build_record(&layout, |field| {
        let index = match headers {
            Some(h) => h.iter().position(|name| name.trim() == field.name),
            None => layout.fields.iter().position(|f| f.name == field.name),
        };
        match index.and_then(|i| cells.get(i)) {
            Some(cell) => parse_cell(cell, field, &codec.schemas),
            None if field.ty.is_optional() => Ok(Value::Null),
            None => Err(format!("missing column `{}`", field.name)),
        }
    })
    .map_err(|reason| decode_error(line, reason))
}

fn write_row(codec: &Codec, cells: &[String], out: &mut Vec<u8>) -> Result<(), ConnectorError> {
    let mut writer = ::csv::WriterBuilder::new()
        .delimiter(codec.delimiter)
        .has_headers(false)
        .from_writer(Vec::new());
    writer
        .write_record(cells)
        .map_err(|e| ConnectorError::Permanent(format!("cannot write csv: {e}")))?;
    let bytes = writer
        .into_inner()
        .map_err(|e| ConnectorError::Permanent(format!("cannot write csv: {}", e.error())))?;
    out.extend(bytes);
    Ok(())
}

/// The header row: the declared field names.
pub(super) fn header(codec: &Codec) -> Vec<u8> {
    let names: Vec<String> = match codec.layout() {
        Some(layout) => layout.fields.iter().map(|f| f.name.clone()).collect(),
        None => return Vec::new(),
    };
    let mut out = Vec::new();
    // Writing names to memory cannot fail.
    let _ = write_row(codec, &names, &mut out);
    out
}

/// Appends one record as a row (null is an empty cell).
pub(super) fn encode(
    codec: &Codec,
    value: &Value,
    out: &mut Vec<u8>,
) -> Result<(), ConnectorError> {
    let cells: Vec<String> = fields_of(value).iter().map(|(_, v)| cell_text(v)).collect();
    write_row(codec, &cells, out)
}
