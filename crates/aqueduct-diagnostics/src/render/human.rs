//! Human-readable reports drawn by miette's graphical handler.

use super::window::{FileSource, Sources};
use crate::{Diagnostic, Label, Severity, SourceMap};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode};
use std::fmt;
use std::sync::Arc;

/// How the human report is drawn.
#[derive(Debug, Clone, Copy)]
pub enum HumanStyle {
    /// Unicode box drawing with ANSI colours, for terminals.
    Color,
    /// Unicode without colours at width 80: stable for golden files.
    Plain,
}

/// Renders diagnostics as miette graphical reports, one after another.
pub fn render_human(diags: &[Diagnostic], map: &SourceMap, style: HumanStyle) -> String {
    let theme = match style {
        HumanStyle::Color => GraphicalTheme::unicode(),
        HumanStyle::Plain => GraphicalTheme::unicode_nocolor(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(80)
        .with_links(false)
        .with_show_related_as_nested(true);
    let sources = Sources::new(map);
    let mut out = String::new();
    for diag in diags {
        let report = Report::new(diag, &sources);
        // Rendering into a String cannot fail; a failure would only lose this report's text.
        let _ = handler.render_report(&mut out, &report);
        out.push('\n');
    }
    out
}

/// One diagnostic (or a group of its labels in one file) as a miette diagnostic.
struct Report {
    code: String,
    message: String,
    severity: Severity,
    help: Option<String>,
    source: Option<Arc<FileSource>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl Report {
    fn new(diag: &Diagnostic, sources: &Sources) -> Report {
        let primary_file = diag.primary().map(|l| l.file);
        let (here, elsewhere): (Vec<&Label>, Vec<&Label>) = diag
            .labels
            .iter()
            .partition(|l| Some(l.file) == primary_file);
        let mut help = diag.help.clone();
        if !diag.notes.is_empty() {
            let notes = diag
                .notes
                .iter()
                .map(|n| format!("note: {n}"))
                .collect::<Vec<_>>()
                .join("\n");
            help = Some(match help {
                Some(h) => format!("{h}\n{notes}"),
                None => notes,
            });
        }
        let source = primary_file.and_then(|f| sources.get(f));
        let mut report = Report {
            code: diag.code.to_string(),
            message: diag.message.clone(),
            severity: diag.severity,
            help,
            labels: Vec::new(),
            source: source.clone(),
            related: Vec::new(),
        };
        // Labels that cannot share the first one's snippet (far along a
        // very long line) are drawn in snippets of their own.
        let anchor = here.first().map(|l| l.span.start as usize);
        for label in &here {
            let at = label.span.start as usize;
            let near = match (source.as_deref(), anchor) {
                (Some(s), Some(first)) => s.shares_window(first, at),
                _ => true,
            };
            if near {
                report.labels.push(labeled(label, source.as_deref()));
            } else {
                report.related.push(Report {
                    code: String::new(),
                    message: "further along the line".to_string(),
                    severity: diag.severity,
                    help: None,
                    labels: vec![labeled(label, source.as_deref())],
                    source: source.clone(),
                    related: Vec::new(),
                });
            }
        }
        let mut files: Vec<_> = elsewhere.iter().map(|l| l.file).collect();
        files.dedup();
        for file in files {
            let source = sources.get(file);
            report.related.push(Report {
                code: String::new(),
                message: "in another file".to_string(),
                severity: diag.severity,
                help: None,
                labels: elsewhere
                    .iter()
                    .filter(|l| l.file == file)
                    .map(|l| labeled(l, source.as_deref()))
                    .collect(),
                source,
                related: Vec::new(),
            });
        }
        report
    }
}

fn labeled(label: &Label, source: Option<&FileSource>) -> LabeledSpan {
    let text = (!label.message.is_empty()).then(|| label.message.clone());
    let (offset, len) = (label.span.start as usize, label.span.len() as usize);
    // a label far out on a very long line would overflow miette's padding
    let span = source.map_or((offset, len), |s| s.fit(offset, len));
    LabeledSpan::new_with_span(text, span)
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (!self.code.is_empty()).then(|| Box::new(&self.code) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            // miette's "advice" is its note: drawn with `☞` in cyan, apart
            // from the red `×` of errors and the yellow `⚠` of warnings.
            Severity::Note => miette::Severity::Advice,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_deref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}
