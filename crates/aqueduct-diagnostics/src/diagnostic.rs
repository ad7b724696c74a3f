//! The diagnostic value every stage returns.

use crate::{Code, FileId, Span};
use serde::Serialize;

/// How serious a finding is. The order is the order of seriousness
/// (`Error < Warning < Note`), so sorting by severity puts errors first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks `run` and `build`; `check` exits 1.
    Error,
    /// Reported; `check` exits 1 only with `--deny-warnings`.
    Warning,
    /// A fact worth knowing about a project that is not wrong (a flow that
    /// deliberately reads an at-most-once source): reported, but never
    /// changes the exit code, not even with `--deny-warnings`, so a project
    /// that made the choice on purpose can still be held to no warnings.
    Note,
}

/// A labelled span: the primary one says what is wrong, others give context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    /// File the span points into.
    pub file: FileId,
    /// The bytes the label underlines.
    pub span: Span,
    /// Short text shown next to the underline.
    pub message: String,
    /// True for the label that marks the problem itself.
    pub primary: bool,
}

/// One finding: a code, a message, labelled spans and a help line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable code, e.g. `AQ0201`; `aqueduct explain CODE` prints its page.
    pub code: Code,
    /// Error, warning or note.
    pub severity: Severity,
    /// One sentence saying what is wrong, in the user's terms.
    pub message: String,
    /// The primary label first, then context labels.
    pub labels: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
    /// Extra facts worth knowing (what was expected, where a name is declared).
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// A new error with `code` and `message` and no labels yet.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }

    /// A new warning with `code` and `message` and no labels yet.
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message)
    }

    /// A new note with `code` and `message` and no labels yet. (Not to be
    /// confused with [`Diagnostic::with_note`], which adds a line of extra
    /// facts to any diagnostic.)
    pub fn note(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Note, message)
    }

    fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    /// Adds the primary label (the problem itself).
    pub fn with_primary(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            file,
            span,
            message: message.into(),
            primary: true,
        });
        self
    }

    /// Adds a context label (a related place).
    pub fn with_context(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            file,
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    /// Sets the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The primary label, or the first label when none is marked primary.
    pub fn primary(&self) -> Option<&Label> {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or_else(|| self.labels.first())
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// True for warnings (what `--deny-warnings` turns into a failure).
    pub fn is_warning(&self) -> bool {
        self.severity == Severity::Warning
    }
}
