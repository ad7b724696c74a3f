//! The output buffer of the formatter: indentation, lines, blank lines and
//! the placement of plain `//` comments.
//!
//! Comments are not in the tree; they sit in [`ast::File::comments`] with
//! their spans. The printer keeps a cursor into that sorted list and a
//! source position (`pos`): the end of the last node printed. Comments are
//! placed at two moments only:
//!
//! - when a line ends ([`Printer::newline`]): the next comment, if it
//!   starts before `pos` (it was inside something printed on this line) or
//!   follows `pos` on the same source line with only spaces, `,`, `=`, `>`
//!   or `:` between (a trailing comment). It trails the line; a second one
//!   waits for the next line end or the next item, so a comment never lands
//!   on a line of its own in the middle of an expression (where a second
//!   run would move it again). An opening bracket is never in that gap:
//!   `pos` is moved past it first ([`Printer::advance_past`]), so a comment
//!   inside a bracketed construct is never placed before it;
//! - before a line-level node ([`Printer::item`]) or a closing brace
//!   ([`Printer::close_block`]): every comment that starts before it, each on
//!   its own line at the current indentation.
//!
//! The parser's span of a node whose rule ends with an optional part runs
//! over the whitespace and comments after it, so every end offset is first
//! moved back over them ([`Printer::trim_end`]).
//!
//! Inside a record block a *floor* keeps out the comments that started
//! before the record (they wait until it is closed): a record with a
//! comment inside is laid out on several lines, so a comment must never
//! move into or out of a record, or a second run would lay it out again
//! differently. Comments can therefore be placed out of order.
//!
//! Whatever is left is written at the end of the file, so a comment is never
//! lost, and each one is placed once, so none is duplicated.
//! Lines inside a triple-quoted string end with [`Printer::end_line`], which
//! never places a comment.

use crate::ast;

/// The column limit used to decide between inline and multi-line layouts.
pub(super) const WIDTH: usize = 100;

const INDENT: &str = "  ";

/// Characters allowed between the end of a node and a comment that trails it
/// on the same source line.
fn is_trailing_gap(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | ',' | '=' | '>' | ':')
}

/// The formatter's output and its comment cursor.
pub(super) struct Printer<'a> {
    /// The source the tree was parsed from.
    text: &'a str,
    /// The file's comments, sorted.
    comments: &'a [ast::Comment],
    /// Which comments have been placed.
    placed: Vec<bool>,
    /// Index of the first comment not placed yet.
    next: usize,
    /// Comments starting before this offset are not placed (see above).
    floor: u32,
    out: String,
    /// Current depth, in levels of [`INDENT`].
    indent: usize,
    /// Column of the next character on a non-empty line.
    col: usize,
    /// Nothing (not even indentation) written on the current line yet.
    line_empty: bool,
    /// Source offset up to which nodes have been printed.
    pos: usize,
    /// Source end of the last node or comment placed (for blank lines).
    last_end: usize,
    /// Nothing placed yet in the current block (no blank line here).
    block_start: bool,
}

impl<'a> Printer<'a> {
    /// A printer for `text`, whose comments are `comments` (sorted by span).
    pub(super) fn new(text: &'a str, comments: &'a [ast::Comment]) -> Self {
        Printer {
            text,
            comments,
            placed: vec![false; comments.len()],
            next: 0,
            floor: 0,
            out: String::new(),
            indent: 0,
            col: 0,
            line_empty: true,
            pos: 0,
            last_end: 0,
            block_start: true,
        }
    }

    /// The column the next write lands in.
    pub(super) fn column(&self) -> usize {
        if self.line_empty {
            self.indent * INDENT.len()
        } else {
            self.col
        }
    }

    /// True when `len` more characters fit on the current line.
    pub(super) fn fits(&self, len: usize) -> bool {
        self.column() + len <= WIDTH
    }

    /// Appends text (no line breaks) to the current line.
    pub(super) fn write(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if self.line_empty {
            for _ in 0..self.indent {
                self.out.push_str(INDENT);
            }
            self.col = self.indent * INDENT.len();
            self.line_empty = false;
        }
        self.out.push_str(s);
        self.col += s.chars().count();
    }

    /// Records that the source up to `end` has been printed.
    pub(super) fn advance(&mut self, end: u32) {
        self.pos = self.pos.max(self.trim_end(end) as usize);
    }

    /// Records that the source up to `start` (the start of a node, or just
    /// after a keyword) has been printed; unlike [`Printer::advance`] it is
    /// not moved back over the comments before it.
    pub(super) fn advance_to(&mut self, start: u32) {
        self.pos = self.pos.max(start as usize);
    }

    /// `end` moved back over whitespace and comments. The span of a node
    /// whose grammar rule ends with an optional part can run over the
    /// whitespace and comments after it; those comments belong after the
    /// node, not inside it.
    pub(super) fn trim_end(&self, end: u32) -> u32 {
        let mut end = end as usize;
        loop {
            let Some(head) = self.text.get(..end) else {
                return end as u32;
            };
            end = head.trim_end().len();
            match self
                .comments
                .binary_search_by_key(&end, |c| c.span.end as usize)
            {
                Ok(i) => end = self.comments.get(i).map_or(0, |c| c.span.start as usize),
                Err(_) => return end as u32,
            }
        }
    }

    /// One level deeper.
    pub(super) fn indent(&mut self) {
        self.indent += 1;
    }

    /// One level shallower.
    pub(super) fn dedent(&mut self) {
        self.indent = self.indent.saturating_sub(1);
    }

    /// Ends the line without placing comments (used inside `"""` strings).
    pub(super) fn end_line(&mut self) {
        self.out.push('\n');
        self.col = 0;
        self.line_empty = true;
    }

    /// Ends the line, first placing the comment that belongs at its end:
    /// the first pending one, when it starts before `pos` (it was inside
    /// something printed on this line) or trails `pos` on its source line.
    /// Only one comment fits at the end of a line; the next ones wait for
    /// the next line end or the next item.
    pub(super) fn newline(&mut self) {
        // a dangling doc comment at the end of a line would document the
        // node on the next line: it waits for the end of the block
        let first = self.pending().find(|&i| !self.is_dangling_doc(i));
        if let Some(i) = first {
            let start = self.start_of(i);
            if !self.line_empty && (start < self.pos || self.same_line(self.pos, start)) {
                self.place(i, true);
            }
        }
        if !self.line_empty {
            self.end_line();
        }
        self.block_start = false;
    }

    /// The comments not placed yet that may be placed here, in order.
    fn pending(&self) -> impl Iterator<Item = usize> + '_ {
        (self.next..self.comments.len()).filter(|&i| {
            !self.placed.get(i).copied().unwrap_or(true)
                && self
                    .comments
                    .get(i)
                    .is_some_and(|c| c.span.start >= self.floor)
        })
    }

    /// A `///` line that documents nothing (kept as a comment whose text
    /// starts with `/`). Placed anywhere but right before `}` or the end of
    /// the file, it could come to document the node after it, so it is only
    /// placed there ([`Printer::close_block`], [`Printer::finish`]).
    fn is_dangling_doc(&self, i: usize) -> bool {
        self.comments
            .get(i)
            .is_some_and(|c| c.text.starts_with('/'))
    }

    fn start_of(&self, i: usize) -> usize {
        self.comments
            .get(i)
            .map_or(usize::MAX, |c| c.span.start as usize)
    }

    /// Writes comment `i` at the end of the current line (`trailing`) or as
    /// the current line.
    fn place(&mut self, i: usize, trailing: bool) {
        let Some(c) = self.comments.get(i) else {
            return;
        };
        if let Some(p) = self.placed.get_mut(i) {
            *p = true;
        }
        while self.placed.get(self.next).copied().unwrap_or(false) {
            self.next += 1;
        }
        self.write(&format!("{}//{}", if trailing { " " } else { "" }, c.text));
        self.last_end = self.last_end.max(c.span.end as usize);
    }

    /// Inside a record block: keeps the comments before `floor` out of it.
    /// Returns the previous floor, for [`Printer::set_floor`] after `}`.
    pub(super) fn set_floor(&mut self, floor: u32) -> u32 {
        std::mem::replace(&mut self.floor, floor)
    }

    /// Moves `pos` past the opening bracket `open` that follows it in the
    /// source, past spaces, comments and the `=`, `=>` or `:` before it.
    pub(super) fn advance_past(&mut self, open: char) {
        let mut at = self.pos;
        while let Some(rest) = self.text.get(at..) {
            let Some(c) = rest.chars().next() else { return };
            if c == open {
                self.pos = at + c.len_utf8();
                return;
            }
            if c.is_whitespace() || matches!(c, '=' | '>' | ':') {
                at += c.len_utf8();
            } else if let Ok(i) = self
                .comments
                .binary_search_by_key(&at, |k| k.span.start as usize)
            {
                at = self
                    .comments
                    .get(i)
                    .map_or(usize::MAX, |k| k.span.end as usize);
            } else {
                return;
            }
        }
    }

    fn same_line(&self, from: usize, to: usize) -> bool {
        self.text
            .get(from..to)
            .is_some_and(|gap| gap.chars().all(is_trailing_gap))
    }

    fn gap_has_blank(&self, from: usize, to: usize) -> bool {
        self.text
            .get(from..to)
            .is_some_and(|gap| gap.matches('\n').count() >= 2)
    }

    /// A blank line, unless the output already ends with one (or is empty).
    pub(super) fn blank(&mut self) {
        if !self.line_empty {
            self.end_line();
        }
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Writes the comments that start before `start`, each on its own line,
    /// keeping one blank line where the source had at least one. With
    /// `keep_docs` (the node at `start` takes a doc comment), dangling doc
    /// comments right before it stay pending: a plain comment must follow
    /// a dangling doc for it to be placed here.
    fn own_comments_before(&mut self, start: u32, keep_docs: bool) {
        let mut due: Vec<usize> = self
            .pending()
            .take_while(|&i| self.start_of(i) < start as usize)
            .collect();
        if keep_docs {
            while due.last().is_some_and(|&i| self.is_dangling_doc(i)) {
                due.pop();
            }
        }
        for i in due {
            if !self.line_empty {
                self.end_line();
            }
            if !self.block_start && self.gap_has_blank(self.last_end, self.start_of(i)) {
                self.blank();
            }
            self.place(i, false);
            self.end_line();
            self.block_start = false;
        }
    }

    /// Starts a line-level node (declaration, field, option, flow item, …)
    /// that begins at `start` in the source: its leading comments, then a
    /// blank line if the source had one before it.
    pub(super) fn item(&mut self, start: u32) {
        self.item_with(start, false);
    }

    /// [`Printer::item`] for a node that takes a doc comment (a declaration,
    /// a field of a type): a dangling doc comment is never placed right
    /// before it, where it would come to document it.
    pub(super) fn doc_item(&mut self, start: u32) {
        self.item_with(start, true);
    }

    fn item_with(&mut self, start: u32, takes_doc: bool) {
        self.own_comments_before(start, takes_doc);
        if !self.block_start && self.gap_has_blank(self.last_end, start as usize) {
            self.blank();
        }
        self.block_start = false;
    }

    /// Ends a line-level node that ended at `end` in the source.
    pub(super) fn finish_item(&mut self, end: u32) {
        self.advance(end);
        self.last_end = self.last_end.max(self.trim_end(end) as usize);
        self.newline();
    }

    /// Ends the line of an opening bracket (already written) and indents.
    pub(super) fn open_block(&mut self) {
        self.newline();
        self.indent();
        self.block_start = true;
    }

    /// Places the comments left before `end`, dedents and writes `closer`.
    pub(super) fn close_block(&mut self, end: u32, closer: &str) {
        self.own_comments_before(self.trim_end(end), false);
        self.dedent();
        self.write(closer);
        self.block_start = false;
        self.advance(end);
        self.last_end = self.last_end.max(self.trim_end(end) as usize);
    }

    /// True when some comment of the file lies inside `span`.
    pub(super) fn has_comment_in(&self, span: aqueduct_diagnostics::Span) -> bool {
        let end = self.trim_end(span.end);
        let first = self.comments.partition_point(|c| c.span.start < span.start);
        self.comments.get(first).is_some_and(|c| c.span.start < end)
    }

    /// `///` lines of a doc comment, each on its own line.
    pub(super) fn doc(&mut self, doc: &ast::Doc) {
        for line in &doc.lines {
            if line.is_empty() {
                self.write("///");
            } else {
                self.write(&format!("/// {line}"));
            }
            self.end_line();
        }
        self.advance(doc.span.end);
        self.last_end = self.last_end.max(self.pos);
    }

    /// Writes the remaining comments and returns the text, ending in exactly
    /// one newline (or empty for an empty file).
    pub(super) fn finish(mut self) -> String {
        self.floor = 0;
        self.own_comments_before(u32::MAX, false);
        while self.out.ends_with("\n\n") {
            self.out.pop();
        }
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.out
    }
}
