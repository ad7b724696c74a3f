//! CSV in and out with the job's delimiter and line ending. Output quotes
//! every value, as Salesforce's result files do.

use super::delimiter;

/// Parses an upload: the header and the rows (each padded to the header's width).
pub fn read(text: &str, delim: &str) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(delim).unwrap_or(b','))
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the CSV header cannot be read: {e}"))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut rows = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| format!("row {} cannot be read: {e}", i + 1))?;
        rows.push(row.iter().map(str::to_string).collect());
    }
    Ok((header, rows))
}

/// Writes a header and rows.
pub fn write(header: &[String], rows: &[Vec<String>], delim: &str, line_ending: &str) -> String {
    let terminator = if line_ending == "CRLF" {
        csv::Terminator::CRLF
    } else {
        csv::Terminator::Any(b'\n')
    };
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter(delim).unwrap_or(b','))
        .terminator(terminator)
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(r);
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}
