//! A source file as miette reads it, one window at a time.
//!
//! miette's own `SourceCode` for strings scans from the start of the text to
//! find a span's lines, so rendering many diagnostics in a large file is
//! quadratic. This one finds the lines with a precomputed line table and hands
//! miette only the few lines around the span, then shifts the line numbers
//! back, so each report costs the size of its window.

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
