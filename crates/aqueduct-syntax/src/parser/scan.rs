//! The lexical pass that runs before pest.
//!
//! One linear walk over the bytes, aware of strings and interpolations,
//! that finds what the grammar cannot report well or safely:
//! - `//` comments (kept for the formatter) and runs of `///` doc lines
//!   (attached to declarations and fields after parsing);
//! - unterminated strings (AQ0102), reported at the opening quote, where
//!   pest would only say "expected …" somewhere later;
//! - nesting deeper than [`MAX_NESTING`] brackets (AQ0101), refused before
//!   pest recurses into it;
//! - the lines where a declaration starts (`system`, `type`, `channel`,
//!   `flow` or `test` at column 0), where parsing resumes after an error.
//!
//! All delimiters are ASCII, so walking bytes never splits a UTF-8 character.

use crate::ast::Comment;
use aqueduct_diagnostics::{Diagnostic, FileId, Span, codes};

/// The deepest nesting of `(`, `[`, `{` and string interpolations accepted.
pub(super) const MAX_NESTING: u32 = 128;

/// Consecutive `///` lines.
#[derive(Debug, Clone)]
pub(super) struct DocRun {
    /// Each line without `///` and one following space.
    pub(super) lines: Vec<String>,
    /// From the first `///` to the end of the last line.
    pub(super) span: Span,
}

/// What the lexical pass found.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// Plain comments in order.
    pub(super) comments: Vec<Comment>,
    /// Doc comment runs in order.
    pub(super) docs: Vec<DocRun>,
    /// Offsets of lines that start a declaration.
    pub(super) decl_starts: Vec<usize>,
    /// Unterminated strings and too-deep nesting.
    pub(super) errors: Vec<Diagnostic>,
}

/// What the walk is inside of.
enum Frame {
    /// A `"…"` string opened at this offset.
    Str(usize),
    /// A `{…}` interpolation, with the number of code braces open inside it.
    Interp(u32),
}

const DECL_KEYWORDS: [&[u8]; 5] = [b"system", b"type", b"channel", b"flow", b"test"];

/// True when a declaration keyword, a blank and a name start at `i`.
fn starts_decl(b: &[u8], i: usize) -> bool {
    // Every line start asks; most lines start with a blank or `}`.
    if !matches!(b.get(i), Some(b's' | b't' | b'c' | b'f')) {
        return false;
    }
    DECL_KEYWORDS.iter().any(|kw| {
        let after = i + kw.len();
        b.get(i..after) == Some(kw)
            && b.get(after).is_some_and(|c| *c == b' ' || *c == b'\t')
            && b.get(after..)
                .and_then(|rest| rest.iter().find(|c| **c != b' ' && **c != b'\t'))
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
    })
}

/// The number of bytes from `from` for which `plain` holds: a run the walk
/// would step over one byte at a time, skipped at once.
fn plain_run(b: &[u8], from: usize, plain: &[bool; 256]) -> usize {
    b.get(from..).map_or(0, |r| {
        r.iter()
            .position(|&c| !plain[usize::from(c)])
            .unwrap_or(r.len())
    })
}

/// A table of the bytes for which `stop` is false.
const fn plain_table(stop: &[u8]) -> [bool; 256] {
    let mut t = [true; 256];
    let mut i = 0;
    while i < stop.len() {
        t[stop[i] as usize] = false;
        i += 1;
    }
    t
}

/// Bytes outside strings that the walk only steps over: not a delimiter,
/// not the `/` of a comment, not a line break (the next byte may start a
/// declaration).
static CODE_PLAIN: [bool; 256] = plain_table(b"/\"([{})]\n");

/// Bytes inside a string that the walk only steps over.
static STRING_PLAIN: [bool; 256] = plain_table(b"\"\\\n{");

fn span(start: usize, end: usize) -> Span {
    Span::new(
        u32::try_from(start).unwrap_or(u32::MAX),
        u32::try_from(end).unwrap_or(u32::MAX),
    )
}

/// Runs the lexical pass over `text`.
pub(super) fn scan(file: FileId, text: &str) -> Scan {
    let b = text.as_bytes();
    let mut out = Scan::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut depth: u32 = 0;
    let mut too_deep = false;
    let mut pending_doc: Option<DocRun> = None;
    let unterminated = |open: usize| {
        Diagnostic::error(codes::AQ0102, "this string is never closed")
            .with_primary(file, span(open, open + 1), "the string starts here")
            .with_help("close it with `\"` on the same line; use `\"\"\"…\"\"\"` for text over several lines")
    };
    let check_depth = |out: &mut Scan, depth: u32, reported: &mut bool, at: usize| {
        if depth > MAX_NESTING && !*reported {
            *reported = true;
            out.errors.push(
                Diagnostic::error(
                    codes::AQ0101,
                    format!("brackets are nested more than {MAX_NESTING} levels deep"),
                )
                .with_primary(file, span(at, at + 1), "too deep here")
                .with_help("split the expression into `let` steps"),
            );
        }
    };
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let line_start = i == 0 || b.get(i - 1) == Some(&b'\n');
        if line_start && starts_decl(b, i) && !matches!(stack.last(), Some(Frame::Str(_))) {
            // Resume cleanly at each declaration, whatever the text before left open.
            if let Some(open) = stack.iter().find_map(|f| {
                if let Frame::Str(o) = f {
                    Some(*o)
                } else {
                    None
                }
            }) {
                out.errors.push(unterminated(open));
            }
            stack.clear();
            depth = 0;
            too_deep = false;
            out.decl_starts.push(i);
        }
        if let Some(Frame::Str(open)) = stack.last() {
            let open = *open;
            match c {
                b'"' => {
                    stack.pop();
                    i += 1;
                }
                b'\\' if b.get(i + 1).is_some_and(|n| *n != b'\n') => i += 2,
                b'\n' => {
                    out.errors.push(unterminated(open));
                    stack.clear();
                    depth = 0;
                }
                b'{' => {
                    stack.push(Frame::Interp(0));
                    depth += 1;
                    check_depth(&mut out, depth, &mut too_deep, i);
                    i += 1;
                }
                // Plain string text: nothing to look at until one of these.
                _ => i += 1 + plain_run(b, i + 1, &STRING_PLAIN),
            }
            continue;
        }
        let comment = c == b'/' && b.get(i + 1) == Some(&b'/');
        if !c.is_ascii_whitespace()
            && !comment
            && let Some(run) = pending_doc.take()
        {
            out.docs.push(run);
        }
        match c {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = b
                    .get(i..)
                    .and_then(|r| r.iter().position(|c| *c == b'\n'))
                    .map_or(b.len(), |p| i + p);
                let line = text.get(i..end).unwrap_or("").trim_end_matches('\r');
                let end = i + line.len();
                if line.starts_with("///") && !line.starts_with("////") {
                    let body = line.get(3..).unwrap_or("");
                    let body = body.strip_prefix(' ').unwrap_or(body).to_string();
                    match pending_doc.as_mut() {
                        Some(run) => {
                            run.lines.push(body);
                            run.span.end = span(i, end).end;
                        }
                        None => {
                            pending_doc = Some(DocRun {
                                lines: vec![body],
                                span: span(i, end),
                            })
                        }
                    }
                } else {
                    if let Some(run) = pending_doc.take() {
                        out.docs.push(run);
                    }
                    out.comments.push(Comment {
                        text: line.get(2..).unwrap_or("").to_string(),
                        span: span(i, end),
                    });
                }
                i = end;
            }
            b'"' if b.get(i..i + 3) == Some(b"\"\"\"") => match b
                .get(i + 3..)
                .and_then(|r| r.windows(3).position(|w| w == b"\"\"\""))
            {
                Some(p) => i += 3 + p + 3,
                None => {
                    out.errors.push(unterminated(i));
                    i = b.len();
                }
            },
            b'"' => {
                stack.push(Frame::Str(i));
                i += 1;
            }
            b'(' | b'[' | b'{' => {
                if c == b'{'
                    && let Some(Frame::Interp(n)) = stack.last_mut()
                {
                    *n += 1;
                }
                depth += 1;
                check_depth(&mut out, depth, &mut too_deep, i);
                i += 1;
            }
            b'}' | b')' | b']' => {
                depth = depth.saturating_sub(1);
                if c == b'}' {
                    match stack.last_mut() {
                        Some(Frame::Interp(0)) => {
                            stack.pop();
                        }
                        Some(Frame::Interp(n)) => *n -= 1,
                        _ => {}
                    }
                }
                i += 1;
            }
            // Nothing to look at until a delimiter, a possible comment or a line
            // start; with a doc run pending, any non-blank byte ends it, so step.
            _ if c != b'\n' && pending_doc.is_none() => i += 1 + plain_run(b, i + 1, &CODE_PLAIN),
            _ => i += 1,
        }
    }
    if let Some(run) = pending_doc.take() {
        out.docs.push(run);
    }
    if let Some(open) = stack.iter().rev().find_map(|f| {
        if let Frame::Str(o) = f {
            Some(*o)
        } else {
            None
        }
    }) {
        out.errors.push(unterminated(open));
    }
    out
}
