//! A source file as miette reads it, one window at a time.
//!
//! miette's own `SourceCode` for strings scans from the start of the text to
//! find a span's lines, so rendering many diagnostics in a large file is
//! quadratic. This one finds the lines with a precomputed line table and hands
//! miette only the few lines around the span, then shifts the line numbers
//! back, so each report costs the size of its window.
//!
//! miette pads underlines with `format!("{:width$}")`, which panics for a
//! width past 65,535: a label far out on a very long line must not reach it.
//! On a line longer than [`LONG_LINE`] bytes a label is cut to one line of at
//! most [`MAX_LABEL`] bytes ([`FileSource::fit`]) and the window is only the
//! part of that line around it ([`CONTEXT`] bytes either side); the column
//! in the report's location stays the true one.

/// Lines longer than this (in bytes) are shown as a window around the label.
const LONG_LINE: usize = 1024;
/// Longest label (in bytes) drawn on a long line.
const MAX_LABEL: usize = 256;
/// Bytes of a long line shown before and after a label.
const CONTEXT: usize = 64;

use crate::SourceMap;
use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};
use std::sync::Arc;

/// One file: its name, text and the byte offset of each line start.
#[derive(Debug)]
pub(crate) struct FileSource {
    name: String,
    text: Arc<str>,
    line_starts: Vec<usize>,
}

impl FileSource {
    fn new(name: &str, text: &str) -> FileSource {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        FileSource {
            name: name.to_string(),
            text: Arc::from(text),
            line_starts,
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    /// Start and end (without the line break) of line `line`.
    fn line_bounds(&self, line: usize) -> (usize, usize) {
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let end = self
            .line_starts
            .get(line + 1)
            .map(|next| next - 1)
            .unwrap_or(self.text.len());
        (start, end.max(start))
    }

    fn is_long(&self, line: usize) -> bool {
        let (start, end) = self.line_bounds(line);
        end - start > LONG_LINE
    }

    fn floor(&self, mut at: usize) -> usize {
        at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        at
    }

    fn ceil(&self, mut at: usize) -> usize {
        at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at += 1;
        }
        at
    }

    /// A label's `(offset, len)` made safe to draw: unchanged unless it
    /// starts or ends on a long line; then cut to its first line and at most
    /// [`MAX_LABEL`] bytes.
    pub(crate) fn fit(&self, offset: usize, len: usize) -> (usize, usize) {
        let start = self.floor(offset);
        let end = self.floor(offset.saturating_add(len)).max(start);
        let first = self.line_of(start);
        if !self.is_long(first) && !self.is_long(self.line_of(end)) {
            return (start, end - start);
        }
        let (_, line_end) = self.line_bounds(first);
        let end = self
            .floor(end.min(line_end).min(start + MAX_LABEL))
            .max(start);
        (start, end - start)
    }
}

impl FileSource {
    /// Whether labels at `a` and `b` can be drawn in one snippet: miette
    /// reads one window covering all of a report's labels, so a label on a
    /// long line must be near the others on the same line, or the padding
    /// up to it could pass 65,535 columns.
    pub(crate) fn shares_window(&self, a: usize, b: usize) -> bool {
        let (la, lb) = (
            self.line_of(a.min(self.text.len())),
            self.line_of(b.min(self.text.len())),
        );
        if !self.is_long(la) && !self.is_long(lb) {
            return true;
        }
        la == lb && a.abs_diff(b) <= LONG_LINE
    }
}

impl SourceCode for FileSource {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let len = self.text.len();
        let start = span.offset().min(len);
        let end = (span.offset() + span.len()).min(len);
        if self.is_long(self.line_of(start)) {
            return self.read_long_line(start, end);
        }
        let first_line = self.line_of(start).saturating_sub(context_lines_before + 1);
        let last_line = self.line_of(end) + context_lines_after + 1;
        let from = self.line_starts.get(first_line).copied().unwrap_or(0);
        let to = self.line_starts.get(last_line + 1).copied().unwrap_or(len);
        let window = self.text.get(from..to).unwrap_or("");
        let local = SourceSpan::new((start - from).into(), end - start);
        let inner = window.read_span(&local, context_lines_before, context_lines_after)?;
        let shifted = SourceSpan::new((inner.span().offset() + from).into(), inner.span().len());
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            shifted,
            inner.line() + first_line,
            inner.column(),
            inner.line_count(),
        )))
    }
}

impl FileSource {
    /// The part of a long line around `start..end`, without context lines.
    fn read_long_line<'a>(
        &'a self,
        start: usize,
        end: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let line = self.line_of(start);
        let (line_start, line_end) = self.line_bounds(line);
        let from = self.floor(start.saturating_sub(CONTEXT).max(line_start));
        let to = self
            .ceil(end.saturating_add(CONTEXT).min(line_end))
            .max(from);
        let data = self.text.get(from..to).unwrap_or("");
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            data.as_bytes(),
            SourceSpan::new(from.into(), to - from),
            line,
            start - line_start,
            1,
        )))
    }
}

/// Every file of a map as a [`FileSource`], built once per render.
pub(crate) struct Sources(Vec<Arc<FileSource>>);

impl Sources {
    pub(crate) fn new(map: &SourceMap) -> Sources {
        Sources(
            map.iter()
                .map(|(_, f)| Arc::new(FileSource::new(&f.name, &f.text)))
                .collect(),
        )
    }

    pub(crate) fn get(&self, file: crate::FileId) -> Option<Arc<FileSource>> {
        self.0.get(file.0 as usize).cloned()
    }
}
