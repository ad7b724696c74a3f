//! SARIF 2.1.0 output, the format code-scanning tools ingest.

use super::locate;
use crate::{Diagnostic, Severity, SourceMap, codes::REGISTRY};
use serde_json::{Value, json};

/// Renders diagnostics as one SARIF log with a single run.
pub fn render_sarif(diags: &[Diagnostic], map: &SourceMap) -> String {
    let rules: Vec<Value> = REGISTRY
        .iter()
        .map(|info| {
            json!({
                "id": info.code.as_str(),
                "name": info.title,
                "shortDescription": { "text": info.summary },
                "help": { "text": info.page, "markdown": info.page },
            })
        })
        .collect();
    let results: Vec<Value> = diags
        .iter()
        .map(|d| {
            let loc = locate(d, map);
            let level = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Note => "note",
            };
            let mut text = d.message.clone();
            if let Some(help) = &d.help {
                text.push_str("\nhelp: ");
                text.push_str(help);
            }
            let mut result = json!({
                "ruleId": d.code.as_str(),
                "level": level,
                "message": { "text": text },
            });
            if let (Some(file), Some(s), Some(e)) = (loc.file, loc.start, loc.end) {
                result["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": { "uri": file },
                        "region": {
                            "startLine": s.line, "startColumn": s.col,
                            "endLine": e.line, "endColumn": e.col,
                        }
                    }
                }]);
            }
            let related: Vec<Value> = d
                .labels
                .iter()
                .filter(|l| !l.primary)
                .filter_map(|l| {
                    let file = map.get(l.file)?;
                    let (s, e) = (file.line_col(l.span.start), file.line_col(l.span.end));
                    Some(json!({
                        "message": { "text": l.message },
                        "physicalLocation": {
                            "artifactLocation": { "uri": file.name },
                            "region": {
                                "startLine": s.line, "startColumn": s.col,
                                "endLine": e.line, "endColumn": e.col,
                            }
                        }
                    }))
                })
                .collect();
            if !related.is_empty() {
                result["relatedLocations"] = Value::Array(related);
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "aqueduct",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}
