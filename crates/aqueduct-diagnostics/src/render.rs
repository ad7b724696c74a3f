//! Renderers for diagnostics: human (miette graphical), JSON, SARIF and
//! GitHub Actions workflow commands.
//!
//! All renderers take the [`SourceMap`] so they can turn byte spans into
//! file, line and column; none of them does I/O.

mod github;
mod human;
mod json;
mod sarif;
mod window;

pub use github::render_github;
pub use human::{HumanStyle, render_human};
pub use json::{JsonDiagnostic, render_json};
pub use sarif::render_sarif;

use crate::{Diagnostic, SourceMap};

/// A diagnostic resolved to file names and line/column positions.
pub(crate) struct Located<'a> {
    pub file: Option<&'a str>,
    pub start: Option<crate::LineCol>,
    pub end: Option<crate::LineCol>,
}

pub(crate) fn locate<'a>(diag: &'a Diagnostic, map: &'a SourceMap) -> Located<'a> {
    let Some(label) = diag.primary() else {
        return Located {
            file: None,
            start: None,
            end: None,
        };
    };
    match map.get(label.file) {
        Some(f) => Located {
            file: Some(f.name.as_str()),
            start: Some(f.line_col(label.span.start)),
            end: Some(f.line_col(label.span.end)),
        },
        None => Located {
            file: None,
            start: None,
            end: None,
        },
    }
}
