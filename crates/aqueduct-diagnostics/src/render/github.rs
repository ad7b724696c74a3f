//! GitHub Actions workflow commands (`::error file=…,line=…::message`), which
//! GitHub shows as annotations on the pull request.

use super::locate;
use crate::{Diagnostic, Severity, SourceMap};

/// Renders one workflow command line per diagnostic.
pub fn render_github(diags: &[Diagnostic], map: &SourceMap) -> String {
    let mut out = String::new();
    for d in diags {
        let loc = locate(d, map);
        let kind = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            // GitHub's third annotation level is `notice` (there is no `note`).
            Severity::Note => "notice",
        };
        let mut props = Vec::new();
        if let Some(file) = loc.file {
            props.push(format!("file={}", escape_property(file)));
        }
        if let (Some(s), Some(e)) = (loc.start, loc.end) {
            props.push(format!(
                "line={},col={},endLine={},endColumn={}",
                s.line, s.col, e.line, e.col
            ));
        }
        props.push(format!(
            "title={}",
            escape_property(&format!("{} {}", d.code, title(d)))
        ));
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        out.push_str(&format!(
            "::{kind} {}::{}\n",
            props.join(","),
            escape_data(&message)
        ));
    }
    out
}

fn title(d: &Diagnostic) -> &'static str {
    d.code.info().map_or("", |i| i.title)
}

// Escaping rules from the Actions toolkit (`@actions/core` command.ts).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
