//! All terminal output goes through here: stdout for a command's product
//! (reports, graphs, pages), stderr for progress and errors, and one function
//! per diagnostic format.
//!
//! Writing to a closed stdout becomes [`Failure::BrokenPipe`], which exits 0.
//! Colour follows `--color`: `auto` colours a stream only when it is a
//! terminal and `NO_COLOR` is unset (<https://no-color.org>).

use crate::exit::Failure;
use aqueduct_diagnostics::render::{
    HumanStyle, render_github, render_human, render_json, render_sarif,
};
use aqueduct_diagnostics::{Diagnostic, Severity, SourceMap};
use clap::ValueEnum;
use std::io::{IsTerminal, Write};

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// `--format` of diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DiagFormat {
    /// Reports with source excerpts, for people.
    #[default]
    Human,
    /// A JSON array of diagnostics.
    Json,
    /// A SARIF 2.1.0 log, for code-scanning tools.
    Sarif,
    /// GitHub Actions workflow commands (annotations on the pull request).
    Github,
}

/// Which stream a report goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The command's product.
    Stdout,
    /// Progress and errors.
    Stderr,
}

/// The output settings of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    color: ColorChoice,
    /// `-q`: no progress or summary lines on stderr.
    pub quiet: bool,
}

impl Output {
    /// Output with the global flags.
    pub fn new(color: ColorChoice, quiet: bool) -> Output {
        Output { color, quiet }
    }

    /// Whether `stream` gets ANSI colours.
    pub fn colored(&self, stream: Stream) -> bool {
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
                let tty = match stream {
                    Stream::Stdout => std::io::stdout().is_terminal(),
                    Stream::Stderr => std::io::stderr().is_terminal(),
                };
                tty && !no_color
            }
        }
    }

    /// Writes `text` to stdout as is.
    pub fn print(&self, text: &str) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    Failure::BrokenPipe
                } else {
                    Failure::Io(format!("cannot write to stdout: {e}"))
                }
            })
    }

    /// A progress or summary line on stderr; silent with `-q`.
    pub fn note(&self, line: &str) {
        if !self.quiet {
            eprintln_lossy(line);
        }
    }

    /// An error line on stderr (`error: …`), even with `-q`.
    pub fn error(&self, message: &str) {
        let prefix = if self.colored(Stream::Stderr) {
            "\x1b[1;31merror\x1b[0m"
        } else {
            "error"
        };
        eprintln_lossy(&format!("{prefix}: {message}"));
    }

    /// Renders diagnostics in `format` to `stream`. `prefix` is prepended to
    /// file names in machine formats (SARIF, GitHub) so they are relative to
    /// the working directory rather than the project root.
    pub fn diagnostics(
        &self,
        format: DiagFormat,
        diags: &[Diagnostic],
        map: &SourceMap,
        prefix: &str,
        stream: Stream,
    ) -> Result<(), Failure> {
        let text = match format {
            DiagFormat::Human => {
                if diags.is_empty() {
                    return Ok(());
                }
                let style = if self.colored(stream) {
                    HumanStyle::Color
                } else {
                    HumanStyle::Plain
                };
                render_human(diags, map, style)
            }
            DiagFormat::Json => render_json(diags, map),
            DiagFormat::Sarif => render_sarif(diags, &prefixed(map, prefix)),
            DiagFormat::Github => render_github(diags, &prefixed(map, prefix)),
        };
        match stream {
            Stream::Stdout => self.print(&text),
            Stream::Stderr => {
                eprint_lossy(&text);
                Ok(())
            }
        }
    }
}

/// A copy of `map` whose file names start with `prefix` (ids unchanged).
fn prefixed(map: &SourceMap, prefix: &str) -> SourceMap {
    let mut out = SourceMap::default();
    for (_, file) in map.iter() {
        out.add(format!("{prefix}{}", file.name), file.text.clone());
    }
    out
}

/// The text with counts: `2 errors, 1 warning, 1 note`, or `no problems`.
/// Notes are counted apart from warnings: they never fail `check`.
pub fn count_summary(diags: &[Diagnostic]) -> String {
    let count = |severity| diags.iter().filter(|d| d.severity == severity).count();
    let (errors, warnings, notes) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Note),
    );
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(plural(errors, "error"));
    }
    if warnings > 0 {
        parts.push(plural(warnings, "warning"));
    }
    if notes > 0 {
        parts.push(plural(notes, "note"));
    }
    if parts.is_empty() {
        "no problems".to_string()
    } else {
        parts.join(", ")
    }
}

/// `1 file`, `3 files`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

// Stderr writes ignore errors: there is nowhere left to report them.
fn eprintln_lossy(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn eprint_lossy(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Rows as left-aligned columns separated by two spaces, each line indented
/// by `indent`; the last column is not padded.
pub fn table(rows: &[Vec<String>], indent: &str) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c].saturating_sub(cell.chars().count()) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
