//! Machine-readable JSON output: one object per diagnostic.

use super::locate;
use crate::{Diagnostic, LineCol, Severity, SourceMap};
use serde::Serialize;

/// A diagnostic as written by `check --format json`.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    /// Stable code.
    pub code: String,
    /// `error` or `warning`.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// File of the primary label.
    pub file: Option<String>,
    /// Start of the primary label.
    pub start: Option<LineCol>,
    /// End of the primary label.
    pub end: Option<LineCol>,
    /// Every label with its file and byte offsets.
    pub labels: Vec<JsonLabel>,
    /// How to fix it.
    pub help: Option<String>,
    /// Extra facts.
    pub notes: Vec<String>,
}

/// One label in JSON output.
#[derive(Debug, Serialize)]
pub struct JsonLabel {
    /// File name.
    pub file: Option<String>,
    /// Byte offset of the start.
    pub start: u32,
    /// Byte offset one past the end.
    pub end: u32,
    /// Line/column of the start.
    pub line_col: Option<LineCol>,
    /// Label text.
    pub message: String,
    /// True for the label marking the problem.
    pub primary: bool,
}

/// Renders diagnostics as a pretty-printed JSON array.
pub fn render_json(diags: &[Diagnostic], map: &SourceMap) -> String {
    let items: Vec<JsonDiagnostic> = diags
        .iter()
        .map(|d| {
            let loc = locate(d, map);
            JsonDiagnostic {
                code: d.code.to_string(),
                severity: d.severity,
                message: d.message.clone(),
                file: loc.file.map(str::to_string),
                start: loc.start,
                end: loc.end,
                labels: d
                    .labels
                    .iter()
                    .map(|l| {
                        let file = map.get(l.file);
                        JsonLabel {
                            file: file.map(|f| f.name.clone()),
                            start: l.span.start,
                            end: l.span.end,
                            line_col: file.map(|f| f.line_col(l.span.start)),
                            message: l.message.clone(),
                            primary: l.primary,
                        }
                    })
                    .collect(),
                help: d.help.clone(),
                notes: d.notes.clone(),
            }
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".to_string()) + "\n"
}
