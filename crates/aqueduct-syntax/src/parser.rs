//! Parser: `.aq` text → [`ast::File`] plus `AQ01xx` diagnostics.
//!
//! The work is split in passes:
//! 1. [`scan`]: a lexical walk that collects comments and doc comments,
//!    finds unterminated strings and over-deep nesting (which pest reports
//!    badly or, for nesting, could overflow on), and notes where each
//!    declaration starts.
//! 2. The fast path ([`fast`]): a hand-written parser that builds the same
//!    tree as steps 3 and 4 for every text pest accepts and gives up on
//!    anything else (syntax errors, literal errors, depth limits); when it
//!    gives up, steps 3 and 4 run, so every diagnostic comes from them.
//! 3. pest ([`grammar`], `grammar/aqueduct.pest`) over the whole text.
//! 4. The builder ([`build`], [`expr`], [`primary`], [`flow`], [`lit`]) turns pairs into
//!    the tree, checking literals on the way (AQ0103–AQ0105).
//! 5. [`attach_docs`] attaches doc comments (AQ0107 for the dangling ones).
//!
//! pest stops at the first syntax error. When the whole text does not
//! parse, each declaration (a chunk starting at a column-0 `system`, `type`,
//! `channel`, `flow` or `test`) is parsed on its own so one bad declaration
//! does not hide the errors of the next ones. The tree is only returned
//! when no error was found.

mod build;
mod delims;
mod expr;
mod fast;
mod flow;
mod grammar;
mod lit;
mod primary;
mod scan;
mod syntax_error;
#[cfg(test)]
mod tests;

use crate::ast::{self, Decl, Doc, File};
use aqueduct_diagnostics::{Diagnostic, FileId, Span, codes};
use build::Builder;
use grammar::{AqParser, Rule};
use pest::Parser as _;

/// The largest source file accepted, in bytes (AQ0108 above it).
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// The result of parsing one file: the tree (when the text parsed) and the
/// diagnostics found.
#[derive(Debug)]
pub struct Parsed {
    /// The tree; `None` when the text does not parse.
    pub file: Option<ast::File>,
    /// Syntax errors and warnings (`AQ01xx`).
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses the text of one file. Never panics.
///
/// The tree is `Some` when no error was found (warnings such as a dangling
/// doc comment may still be present). Spans are byte offsets into `text`.
pub fn parse(file: FileId, text: &str) -> Parsed {
    parse_with(file, text, true)
}

/// [`parse`] without the fast path: pest and the builder for every text.
/// The oracle the fast path is tested against.
pub fn parse_pest(file: FileId, text: &str) -> Parsed {
    parse_with(file, text, false)
}

/// The fast path alone: the declarations of `text` (doc comments not yet
/// attached), or `None` when it gives up (and [`parse`] would run pest).
pub fn parse_fast_only(text: &str) -> Option<Vec<Decl>> {
    if text.len() > MAX_FILE_BYTES {
        return None;
    }
    let scan = scan::scan(FileId(0), text);
    if !scan.errors.is_empty() {
        return None;
    }
    fast::parse_decls(text, scan.decl_starts.len())
}

fn parse_with(file: FileId, text: &str, use_fast: bool) -> Parsed {
    if text.len() > MAX_FILE_BYTES {
        return Parsed::too_large(file, text.len());
    }
    let scan = scan::scan(file, text);
    let mut diagnostics = Vec::new();
    let mut tree = None;
    let fast = if use_fast && scan.errors.is_empty() {
        fast::parse_decls(text, scan.decl_starts.len())
    } else {
        None
    };
    let whole_error = if let Some(decls) = fast {
        tree = Some(ast::File {
            decls,
            comments: Vec::new(),
            span: Span::new(0, u32::try_from(text.len()).unwrap_or(u32::MAX)),
        });
        None
    } else if scan.errors.is_empty() {
        match AqParser::parse(Rule::file, text) {
            Ok(mut pairs) => {
                tree = build_file(file, text, pairs.next(), 0, &mut diagnostics);
                None
            }
            Err(e) => Some(syntax_error::syntax_error(file, text, 0, text.len(), &e)),
        }
    } else {
        None
    };
    if let Some(mut f) = tree {
        f.comments = scan.comments;
        diagnostics.extend(attach_docs(&mut f, text, scan.docs, file));
        let ok = !diagnostics.iter().any(Diagnostic::is_error);
        sort(&mut diagnostics);
        return Parsed {
            file: ok.then_some(f),
            diagnostics,
        };
    }
    recover(file, text, &scan, &mut diagnostics);
    if !diagnostics.iter().any(Diagnostic::is_error) {
        // The chunks all parsed although the whole did not (a declaration
        // keyword at column 0 in an odd place): report the whole-text error.
        diagnostics.extend(whole_error);
    }
    if !diagnostics.iter().any(Diagnostic::is_error) {
        diagnostics.push(
            Diagnostic::error(
                codes::AQ0101,
                "internal parser error: the file neither parsed nor failed",
            )
            .with_primary(file, Span::new(0, 0), "here")
            .with_help("this is a bug in aqueduct; please report it with this file"),
        );
    }
    sort(&mut diagnostics);
    Parsed {
        file: None,
        diagnostics,
    }
}

impl Parsed {
    /// The AQ0108 result for a file of `len` bytes.
    fn too_large(file: FileId, len: usize) -> Parsed {
        let d = Diagnostic::error(
            codes::AQ0108,
            format!("this file is {len} bytes; the limit is 16 MiB"),
        )
        .with_primary(file, Span::new(0, 0), "file too large")
        .with_help(
            "split it into several `.aq` files: every file of a project is compiled together",
        );
        Parsed {
            file: None,
            diagnostics: vec![d],
        }
    }
}

/// Builds a file from the `file` pair of a parse of `text[base..]`.
fn build_file(
    file: FileId,
    text: &str,
    pair: Option<pest::iterators::Pair<'_, Rule>>,
    base: usize,
    diags: &mut Vec<Diagnostic>,
) -> Option<ast::File> {
    let mut b = Builder {
        file,
        base: u32::try_from(base).unwrap_or(u32::MAX),
        diags,
    };
    let decls = match pair {
        Some(p) => b.decls(p).ok()?,
        None => Vec::new(),
    };
    let span = Span::new(0, u32::try_from(text.len()).unwrap_or(u32::MAX));
    Some(ast::File {
        decls,
        comments: Vec::new(),
        span,
    })
}

/// Parses declaration by declaration, reporting the lexical errors of each
/// chunk, or else its first syntax error, or else its literal errors.
fn recover(file: FileId, text: &str, scan: &scan::Scan, diags: &mut Vec<Diagnostic>) {
    let mut bounds: Vec<usize> = std::iter::once(0)
        .chain(scan.decl_starts.iter().copied())
        .collect();
    bounds.push(text.len());
    bounds.dedup();
    for w in bounds.windows(2) {
        let &[start, end] = w else { continue };
        let in_chunk = |d: &&Diagnostic| {
            d.primary()
                .is_some_and(|l| (start..end.max(start + 1)).contains(&(l.span.start as usize)))
        };
        let lexical: Vec<Diagnostic> = scan.errors.iter().filter(in_chunk).cloned().collect();
        if !lexical.is_empty() {
            diags.extend(lexical);
            continue;
        }
        let Some(chunk) = text.get(start..end) else {
            continue;
        };
        match AqParser::parse(Rule::file, chunk) {
            Ok(mut pairs) => {
                let _ = build_file(file, text, pairs.next(), start, diags);
            }
            Err(e) => diags.push(syntax_error::syntax_error(file, text, start, end, &e)),
        }
    }
}

/// Orders diagnostics by position, keeping the order of those at the same place.
fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| d.primary().map_or(0, |l| l.span.start));
}

/// The doc slot and span of every node a doc comment can document, keyed by
/// where the node starts.
fn doc_targets(file: &mut File) -> Vec<(u32, &mut Option<Doc>, Option<&mut Span>)> {
    let mut out = Vec::new();
    for decl in &mut file.decls {
        match decl {
            Decl::System(d) => out.push((d.span.start, &mut d.doc, Some(&mut d.span))),
            Decl::Channel(d) => out.push((d.span.start, &mut d.doc, Some(&mut d.span))),
            Decl::Flow(d) => out.push((d.span.start, &mut d.doc, Some(&mut d.span))),
            Decl::Test(d) => out.push((d.span.start, &mut d.doc, Some(&mut d.span))),
            Decl::Type(d) => {
                out.push((d.span.start, &mut d.doc, Some(&mut d.span)));
                // A field's span is `name: Type`; its doc stays outside it.
                for f in &mut d.fields {
                    out.push((f.span.start, &mut f.doc, None));
                }
            }
        }
    }
    out
}

/// Moves each run onto the node that starts right after it (only
/// whitespace between), widening a declaration's span over its doc;
/// returns an AQ0107 warning for each run left over.
fn attach_docs(
    file: &mut File,
    text: &str,
    runs: Vec<scan::DocRun>,
    id: FileId,
) -> Vec<Diagnostic> {
    let mut slots = doc_targets(file);
    // Already in source order; the (stable) sort only makes the binary
    // search below safe. A linear search per run was quadratic in the
    // size of a file with many documented declarations.
    slots.sort_by_key(|(start, _, _)| *start);
    let mut warnings = Vec::new();
    let mut dangling = Vec::new();
    for run in runs {
        let end = run.span.end as usize;
        let next = text
            .get(end..)
            .map(|rest| end + (rest.len() - rest.trim_start().len()));
        let slot = next.and_then(|n| {
            let i = slots.partition_point(|(start, _, _)| (*start as usize) < n);
            slots
                .get_mut(i)
                .filter(|(start, _, _)| *start as usize == n)
        });
        match slot {
            Some((_, doc, span)) if doc.is_none() => {
                if let Some(span) = span {
                    **span = run.span.to(**span);
                }
                **doc = Some(Doc {
                    lines: run.lines,
                    span: run.span,
                });
            }
            _ => {
                warnings.push(
                    Diagnostic::warning(codes::AQ0107, "this doc comment documents nothing")
                        .with_primary(id, run.span, "not followed by a declaration or a type field")
                        .with_help("put it right above a `system`, `type`, `channel`, `flow` or `test`, or a field of a type; use `//` for a plain comment"),
                );
                // Kept as plain comments (`/ text`, printed back as `/// text`)
                // so that `fmt` never deletes what the user wrote.
                dangling.extend(doc_lines_as_comments(text, run.span));
            }
        }
    }
    if !dangling.is_empty() {
        file.comments.extend(dangling);
        file.comments.sort_by_key(|c| c.span.start);
    }
    warnings
}

/// Each `///` line inside `span` as a plain comment whose text starts with `/`.
fn doc_lines_as_comments(text: &str, span: Span) -> Vec<crate::ast::Comment> {
    let mut out = Vec::new();
    let mut offset = span.start as usize;
    for line in text.get(span.range()).unwrap_or("").split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start().len();
        let trimmed = body.trim_start();
        if let Some(rest) = trimmed.strip_prefix("//") {
            let start = offset + indent;
            let end = start + trimmed.len();
            out.push(crate::ast::Comment {
                text: rest.to_string(),
                span: Span::new(
                    u32::try_from(start).unwrap_or(u32::MAX),
                    u32::try_from(end).unwrap_or(u32::MAX),
                ),
            });
        }
        offset += line.len();
    }
    out
}
