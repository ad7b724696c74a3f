//! The fast parser's cursor: position, backtracking marks, whitespace and
//! the lexical rules of the grammar (words, keywords, punctuation).
//!
//! Rules mirrored here: `WHITESPACE`, `comment_text`, `ident_raw`, `ident`,
//! `reserved` (`value_name` is `primary.rs`'s), every `kw_*` (a word followed by a non-word
//! character), `assign`, `arrow`, `comma` and the one-character tokens.

use crate::ast::Ident;
use aqueduct_diagnostics::Span;

/// Parser state over one text.
pub(super) struct Fast<'t> {
    /// The text being parsed.
    pub(super) text: &'t str,
    /// Its bytes; every delimiter of the grammar is ASCII.
    pub(super) b: &'t [u8],
    /// The next byte to read.
    pub(super) pos: usize,
    /// Where the last token read ended: the end of the node being built.
    pub(super) last_end: usize,
    /// Set where the builder would report something (a bad literal, a
    /// too-deep expression) on text the grammar accepts: parsing goes on as
    /// the grammar says, and the caller falls back to pest if the node ends
    /// up in the tree. Backtracking restores it, as pest's builder never
    /// sees a branch that was backtracked out of.
    pub(super) bad: bool,
    /// Set when the fuel ran out: everything fails from then on.
    pub(super) exhausted: bool,
    /// The last word measured: (position, length). Dispatch and the
    /// keyword reader ask for the same word in turn.
    word_at: (usize, usize),
    /// Bytes that may still be read again after backtracking. PEG parsing
    /// can backtrack a lot on adversarial text; past this budget the fast
    /// path gives up and pest decides.
    fuel: usize,
}

/// A point to backtrack to.
#[derive(Clone, Copy)]
pub(super) struct Mark {
    pos: usize,
    last_end: usize,
    bad: bool,
}

/// Per byte: 2 for `ASCII_ALPHA | "_"` (starts and continues a word), 1 for
/// a digit (continues one), 0 otherwise. A table: words are most of the text.
static WORD: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphabetic() || b == b'_' {
            t[c] = 2;
        } else if b.is_ascii_digit() {
            t[c] = 1;
        }
        c += 1;
    }
    t
};

/// `ASCII_ALPHANUMERIC | "_"`: a character that continues a word.
pub(super) fn is_word_char(c: u8) -> bool {
    WORD[usize::from(c)] != 0
}

/// `ASCII_ALPHA | "_"`: a character that starts a word.
pub(super) fn is_word_start(c: u8) -> bool {
    WORD[usize::from(c)] == 2
}

/// The words of the `reserved` rule: never a bare name in an expression.
pub(super) fn is_reserved(word: &[u8]) -> bool {
    matches!(
        word,
        b"and" | b"or" | b"not" | b"in" | b"if" | b"else" | b"true" | b"false" | b"null"
    )
}

/// A span from byte offsets (files are at most 16 MiB, see `MAX_FILE_BYTES`).
pub(super) fn span(start: usize, end: usize) -> Span {
    Span::new(
        u32::try_from(start).unwrap_or(u32::MAX),
        u32::try_from(end).unwrap_or(u32::MAX),
    )
}

impl<'t> Fast<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        Fast {
            text,
            b: text.as_bytes(),
            pos: 0,
            last_end: 0,
            bad: false,
            exhausted: false,
            word_at: (usize::MAX, 0),
            fuel: 1024 + 8 * text.len(),
        }
    }

    pub(super) fn mark(&self) -> Mark {
        Mark {
            pos: self.pos,
            last_end: self.last_end,
            bad: self.bad,
        }
    }

    /// Backtracks to `m`, spending fuel for the bytes that will be read again.
    pub(super) fn reset(&mut self, m: Mark) {
        let back = self.pos.saturating_sub(m.pos);
        match self.fuel.checked_sub(back) {
            Some(left) => self.fuel = left,
            None => self.exhausted = true,
        }
        self.pos = m.pos;
        self.last_end = m.last_end;
        self.bad = m.bad;
    }

    /// The byte at the cursor, without skipping.
    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// The byte `n` bytes after the cursor.
    pub(super) fn peek_at(&self, n: usize) -> Option<u8> {
        self.b.get(self.pos + n).copied()
    }

    /// True when the text at the cursor starts with `s`.
    pub(super) fn looking_at(&self, s: &[u8]) -> bool {
        self.b.get(self.pos..).is_some_and(|r| r.starts_with(s))
    }

    /// `WHITESPACE*`: spaces, tabs, line breaks, `//` comments and BOMs.
    pub(super) fn skip(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'/' if self.peek_at(1) == Some(b'/') => {
                    // `comment_text` stops before the line break.
                    self.pos = self
                        .b
                        .get(self.pos..)
                        .and_then(|r| r.iter().position(|&c| c == b'\n'))
                        .map_or(self.b.len(), |n| self.pos + n);
                }
                0xEF if self.peek_at(1) == Some(0xBB) && self.peek_at(2) == Some(0xBF) => {
                    self.pos += 3;
                }
                _ => break,
            }
        }
    }

    /// Skips, then returns the next byte (the start of the next token).
    pub(super) fn at(&mut self) -> Option<u8> {
        self.skip();
        self.peek()
    }

    /// Consumes `n` bytes of a token.
    pub(super) fn take(&mut self, n: usize) {
        self.pos += n;
        self.last_end = self.pos;
    }

    /// Skips, then consumes the one-byte token `c` if it is next.
    pub(super) fn eat(&mut self, c: u8) -> bool {
        if self.at() == Some(c) {
            self.take(1);
            true
        } else {
            false
        }
    }

    /// `comma?`: an optional separator. Not a token of the tree: the node
    /// before it ends before it.
    pub(super) fn comma(&mut self) {
        if self.at() == Some(b',') {
            self.pos += 1;
        }
    }

    /// `assign`: `=` but not `==` or `=>`.
    pub(super) fn assign(&mut self) -> bool {
        if self.at() == Some(b'=') && !matches!(self.peek_at(1), Some(b'=' | b'>')) {
            self.take(1);
            true
        } else {
            false
        }
    }

    /// `arrow`: `=>`.
    pub(super) fn arrow(&mut self) -> bool {
        self.skip();
        if self.looking_at(b"=>") {
            self.take(2);
            true
        } else {
            false
        }
    }

    /// The length of the word (`ident_raw`) at the cursor, 0 if none; no skipping.
    pub(super) fn word_len(&mut self) -> usize {
        if self.word_at.0 == self.pos {
            return self.word_at.1;
        }
        let n = match self.b.get(self.pos..) {
            Some(rest) if rest.first().is_some_and(|&c| is_word_start(c)) => rest
                .iter()
                .position(|&c| !is_word_char(c))
                .unwrap_or(rest.len()),
            _ => 0,
        };
        self.word_at = (self.pos, n);
        n
    }

    /// Skips, then returns the word at the cursor without consuming it
    /// (empty when none): what keyword dispatch looks at.
    pub(super) fn word(&mut self) -> &'t [u8] {
        self.skip();
        let n = self.word_len();
        self.b.get(self.pos..self.pos + n).unwrap_or(&[])
    }

    /// A `kw_*` rule: skips, then consumes `kw` if it is the whole next word.
    pub(super) fn kw(&mut self, kw: &[u8]) -> bool {
        if self.word() == kw {
            self.take(kw.len());
            true
        } else {
            false
        }
    }

    /// Consumes `n` bytes as a name.
    pub(super) fn take_ident(&mut self, n: usize) -> Ident {
        let start = self.pos;
        self.take(n);
        Ident {
            name: self.text.get(start..self.pos).unwrap_or("").to_string(),
            span: span(start, self.pos),
        }
    }

    /// `ident`: skips, then reads a name (keywords included).
    pub(super) fn ident(&mut self) -> Option<Ident> {
        self.skip();
        self.ident_here()
    }

    /// `ident` at the cursor, without skipping (inside atomic rules).
    pub(super) fn ident_here(&mut self) -> Option<Ident> {
        match self.word_len() {
            0 => None,
            n => Some(self.take_ident(n)),
        }
    }

    /// The span from `start` to the end of the last token read.
    pub(super) fn span_from(&self, start: usize) -> Span {
        span(start, self.last_end)
    }

    /// Skips, then returns where the next node starts.
    pub(super) fn start(&mut self) -> usize {
        self.skip();
        self.pos
    }
}
