//! Splitting line-based input (`jsonl`, `csv`, `text`) into logical records
//! without ever holding more than `max_record_size` bytes of one, and
//! without changing a byte of it.
//!
//! [`LineSplitter`] is fed raw bytes as they arrive (whole inputs, buffered
//! reads, a growing file) and yields one [`Logical`] per record, with the
//! input offset just after it (the position to commit) and its line number:
//! - a record that is not valid UTF-8 is an error carrying its raw bytes
//!   (base64), never text with U+FFFD in it;
//! - a line longer than `max_record_size` is an error: the bytes past the
//!   limit are counted and dropped as they arrive, never held;
//! - a csv record may span lines inside a quoted cell; a quote that is never
//!   closed (by the end of the input, or within `max_record_size`) is an
//!   error naming the line it opened on, and reading goes on with the line
//!   after it (every line it swallowed is read again on its own).

use super::Format;
use crate::support::RAW_LIMIT;
use aqueduct_runtime::connector::DecodeError;

/// The default `max_record_size`: 16 MiB.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 16 << 20;

/// One record's text, or why it is not one.
#[derive(Debug)]
pub struct Logical {
    /// The record without its line ending, or the error.
    pub text: Result<String, DecodeError>,
    /// The input offset just after the record (with its line ending).
    pub end: u64,
    /// The (1-based) line the record starts on.
    pub line: u64,
}

/// One record's text lent to a callback ([`LineSplitter::feed_with`]):
/// borrowed from the input, or from the splitter's own buffer.
#[derive(Debug)]
pub struct Line<'a> {
    /// The record without its line ending, or the error.
    pub text: Result<&'a str, DecodeError>,
    /// The input offset just after the record (with its line ending).
    pub end: u64,
    /// The (1-based) line the record starts on.
    pub line: u64,
}

/// Hands an owned record to `each` as a [`Line`].
fn lend<E>(logical: Logical, each: &mut impl FnMut(Line<'_>) -> Result<(), E>) -> Result<(), E> {
    let Logical { text, end, line } = logical;
    match text {
        Ok(text) => each(Line {
            text: Ok(&text),
            end,
            line,
        }),
        Err(e) => each(Line {
            text: Err(e),
            end,
            line,
        }),
    }
}

/// One complete physical line of a csv record still open.
#[derive(Debug)]
struct Physical {
    /// The bytes with their line ending.
    bytes: Vec<u8>,
    line: u64,
    end: u64,
}

/// Splits bytes into logical records (see the module doc).
#[derive(Debug)]
pub struct LineSplitter {
    format: Format,
    max: usize,
    /// The physical line being read (at most `max + 1` bytes of it).
    current: Vec<u8>,
    /// Bytes of the current line seen, kept or not.
    current_len: u64,
    /// Line number of the current line.
    line: u64,
    /// The last byte of the current line seen (to tell `\r\n` from `\n`).
    last: u8,
    /// Bytes of the line ending of the line just completed.
    ending: usize,
    /// Input offset of the next byte.
    offset: u64,
    /// csv: the lines of a record whose quoted cell is still open.
    open: Vec<Physical>,
    open_len: usize,
    /// Quotes in `open` (odd while a cell is open).
    open_quotes: usize,
    /// Records of the owned path waiting to be lent ([`Self::feed_with`]).
    scratch: Vec<Logical>,
}

impl LineSplitter {
    /// A splitter for input starting at byte `offset`, on line `line` (1-based).
    pub fn new(format: Format, max: usize, offset: u64, line: u64) -> LineSplitter {
        LineSplitter {
            format,
            max: max.max(1),
            current: Vec::new(),
            current_len: 0,
            line: line.max(1),
            last: 0,
            ending: 0,
            offset,
            open: Vec::new(),
            open_len: 0,
            open_quotes: 0,
            scratch: Vec::new(),
        }
    }

    /// Input offset just after the last byte fed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Takes `bytes`; complete records go to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Logical>) {
        while !bytes.is_empty() {
            let (piece, rest, complete) = match memchr::memchr(b'\n', bytes) {
                Some(i) => (&bytes[..=i], &bytes[i + 1..], true),
                None => (bytes, &[][..], false),
            };
            self.piece(piece, complete, out);
            bytes = rest;
        }
    }

    /// Takes `bytes`, handing each complete record to `each` as it is
    /// found: a line that is whole in `bytes` is lent straight from it (no
    /// copy, no allocation); only a line split across two feeds, a csv
    /// record spanning lines, or an error goes through the owned path of
    /// [`Self::feed`]. The records, offsets and line numbers are exactly
    /// those `feed` gives. When `each` fails, its error is returned at once
    /// and the splitter must not be fed again.
    pub fn feed_with<E>(
        &mut self,
        mut bytes: &[u8],
        mut each: impl FnMut(Line<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut held = std::mem::take(&mut self.scratch);
        let result = (|| {
            while !bytes.is_empty() {
                let (piece, rest, complete) = match memchr::memchr(b'\n', bytes) {
                    Some(i) => (&bytes[..=i], &bytes[i + 1..], true),
                    None => (bytes, &[][..], false),
                };
                bytes = rest;
                if complete && self.current_len == 0 && self.open.is_empty() {
                    let text = strip_ending(piece);
                    if text.len() <= self.max
                        && (self.format != Format::Csv
                            || memchr::memchr_iter(b'"', text).count().is_multiple_of(2))
                        && let Ok(text) = std::str::from_utf8(text)
                    {
                        self.offset += piece.len() as u64;
                        let line = self.line;
                        self.line += 1;
                        each(Line {
                            text: Ok(text),
                            end: self.offset,
                            line,
                        })?;
                        continue;
                    }
                }
                self.piece(piece, complete, &mut held);
                for logical in held.drain(..) {
                    lend(logical, &mut each)?;
                }
            }
            Ok(())
        })();
        held.clear();
        self.scratch = held;
        result
    }

    /// [`Self::finish`], handing the records to `each`.
    pub fn finish_with<E>(
        &mut self,
        mut each: impl FnMut(Line<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut held = Vec::new();
        self.finish(&mut held);
        for logical in held {
            lend(logical, &mut each)?;
        }
        Ok(())
    }

    /// One piece of input: the rest of a line (`complete`: with its `\n`)
    /// or the start of one.
    fn piece(&mut self, piece: &[u8], complete: bool, out: &mut Vec<Logical>) {
        let room = (self.max + 2).saturating_sub(self.current.len());
        self.current
            .extend_from_slice(&piece[..piece.len().min(room)]);
        self.current_len += piece.len() as u64;
        self.offset += piece.len() as u64;
        if complete {
            let before = match piece.len() {
                1 => self.last,
                n => piece[n - 2],
            };
            self.ending = if before == b'\r' && self.current_len > 1 {
                2
            } else {
                1
            };
            self.last = 0;
            self.line_done(out);
        } else if let Some(b) = piece.last() {
            self.last = *b;
        }
    }

    /// The input ended: the last line (without a line ending) and any csv
    /// record left open are settled.
    pub fn finish(&mut self, out: &mut Vec<Logical>) {
        if self.current_len > 0 {
            self.ending = 0;
            self.line_done(out);
        }
        while !self.open.is_empty() {
            self.resync(out, false);
        }
    }

    /// True when nothing is held (no partial line, no open csv record).
    pub fn is_idle(&self) -> bool {
        self.current_len == 0 && self.open.is_empty()
    }

    /// The current physical line is complete (or the input ended).
    fn line_done(&mut self, out: &mut Vec<Logical>) {
        let bytes = std::mem::take(&mut self.current);
        let len = std::mem::take(&mut self.current_len);
        let line = self.line;
        self.line += 1;
        let physical = Physical {
            bytes,
            line,
            end: self.offset,
        };
        let ending = std::mem::take(&mut self.ending);
        if len > (self.max + ending) as u64 {
            // too long: whatever was open before it cannot be a record either
            while !self.open.is_empty() {
                self.resync(out, true);
            }
            out.push(too_long(&physical, len - ending as u64, self.max));
            return;
        }
        self.physical(physical, out);
    }

    /// One complete physical line within the limit.
    fn physical(&mut self, physical: Physical, out: &mut Vec<Logical>) {
        if self.format != Format::Csv {
            out.push(record(physical.bytes, physical.line, physical.end));
            return;
        }
        let quotes = physical.bytes.iter().filter(|b| **b == b'"').count();
        if self.open.is_empty() && quotes.is_multiple_of(2) {
            out.push(record(physical.bytes, physical.line, physical.end));
            return;
        }
        self.open_len += physical.bytes.len();
        self.open_quotes += quotes;
        self.open.push(physical);
        if self.open_quotes.is_multiple_of(2) {
            let parts = std::mem::take(&mut self.open);
            self.open_len = 0;
            self.open_quotes = 0;
            let line = parts[0].line;
            let end = parts[parts.len() - 1].end;
            let bytes: Vec<u8> = parts.into_iter().flat_map(|p| p.bytes).collect();
            out.push(record(bytes, line, end));
        } else if self.open_len > self.max {
            self.resync(out, true);
        }
    }

    /// The open csv record is not one: an error for the line its quote
    /// opened on, then every later line of it is read again on its own.
    fn resync(&mut self, out: &mut Vec<Logical>, too_big: bool) {
        let mut lines = std::mem::take(&mut self.open).into_iter();
        self.open_len = 0;
        self.open_quotes = 0;
        let Some(first) = lines.next() else {
            return;
        };
        let reason = if too_big {
            format!(
                "line {}: a quoted csv cell opened on this line is not closed within max_record_size ({} bytes); reading goes on at line {}",
                first.line,
                self.max,
                first.line + 1
            )
        } else {
            format!(
                "line {}: a quoted csv cell opened on this line is never closed; reading goes on at line {}",
                first.line,
                first.line + 1
            )
        };
        out.push(Logical {
            text: Err(raw_error(strip_ending(&first.bytes), reason)),
            end: first.end,
            line: first.line,
        });
        for physical in lines {
            self.physical(physical, out);
        }
    }
}

/// `bytes` without a final `\n` or `\r\n`.
fn strip_ending(bytes: &[u8]) -> &[u8] {
    match bytes.strip_suffix(b"\n") {
        Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
        None => bytes,
    }
}

/// A record's text, or the error for bytes that are not UTF-8.
fn record(mut bytes: Vec<u8>, line: u64, end: u64) -> Logical {
    let keep = strip_ending(&bytes).len();
    bytes.truncate(keep);
    let text = match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            Err(DecodeError::bytes(
                &bytes[..bytes.len().min(RAW_LIMIT)],
                format!(
                    "line {line} is not valid UTF-8 (byte {} of the line); its bytes are in raw_base64",
                    at + 1
                ),
            ))
        }
    };
    Logical { text, end, line }
}

/// The error for a line past `max` bytes (only its first bytes were kept).
fn too_long(physical: &Physical, len: u64, max: usize) -> Logical {
    let reason = format!(
        "line {} is {len} bytes, more than max_record_size ({max} bytes); the record is skipped",
        physical.line
    );
    let head = &physical.bytes[..physical.bytes.len().min(RAW_LIMIT)];
    Logical {
        text: Err(raw_error(head, reason)),
        end: physical.end,
        line: physical.line,
    }
}

/// An error carrying the start of `bytes` as text when it is UTF-8 (cut on
/// a character boundary), else as base64.
fn raw_error(bytes: &[u8], reason: String) -> DecodeError {
    let head = &bytes[..bytes.len().min(RAW_LIMIT)];
    match std::str::from_utf8(head) {
        Ok(text) => DecodeError::text(text, reason),
        // cut inside a character at the end: keep the whole characters
        Err(e) if e.error_len().is_none() => {
            DecodeError::text(String::from_utf8_lossy(&head[..e.valid_up_to()]), reason)
        }
        Err(_) => DecodeError::bytes(head, reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(format: Format, max: usize, input: &[u8]) -> Vec<(Result<String, String>, u64, u64)> {
        let mut s = LineSplitter::new(format, max, 0, 1);
        let mut out = Vec::new();
        // byte by byte: the result must not depend on how input arrives
        for b in input {
            s.feed(std::slice::from_ref(b), &mut out);
        }
        s.finish(&mut out);
        out.into_iter()
            .map(|l| (l.text.map_err(|e| e.reason), l.end, l.line))
            .collect()
    }

    #[test]
    fn lines_keep_every_byte_and_their_offsets() {
        let got = split(Format::Jsonl, 100, b"{\"a\":1}\r\n\n{\"b\":2}");
        assert_eq!(
            got,
            vec![
                (Ok("{\"a\":1}".into()), 9, 1),
                (Ok(String::new()), 10, 2),
                (Ok("{\"b\":2}".into()), 17, 3),
            ]
        );
    }

    #[test]
    fn invalid_utf8_is_an_error_with_the_raw_bytes() {
        let mut s = LineSplitter::new(Format::Jsonl, 100, 0, 1);
        let mut out = Vec::new();
        s.feed(b"{\"id\":\"a\xff\"}\nok\n", &mut out);
        let e = out.remove(0).text.expect_err("not UTF-8");
        assert!(e.raw_base64);
        assert_eq!(e.raw, "eyJpZCI6ImH/In0=");
        assert!(
            e.reason.starts_with("line 1 is not valid UTF-8 (byte 9"),
            "{}",
            e.reason
        );
        assert_eq!(out.remove(0).text.expect("text"), "ok");
    }

    #[test]
    fn long_lines_are_errors_and_are_not_held() {
        let mut s = LineSplitter::new(Format::Text, 10, 0, 1);
        let mut out = Vec::new();
        for _ in 0..1000 {
            s.feed(&[b'x'; 1000], &mut out);
            assert!(s.current.len() <= 12, "held {}", s.current.len());
        }
        s.feed(b"\nshort\n", &mut out);
        let e = out.remove(0).text.expect_err("too long");
        assert_eq!(
            e.reason,
            "line 1 is 1000000 bytes, more than max_record_size (10 bytes); the record is skipped"
        );
        assert_eq!(out.remove(0).text.expect("text"), "short");
        // exactly the limit is fine
        let got = split(Format::Text, 5, b"12345\n123456\n");
        assert_eq!(got[0].0, Ok("12345".into()));
        assert!(got[1].0.is_err());
    }

    #[test]
    fn csv_quotes_span_lines_and_an_unclosed_one_resynchronises() {
        let got = split(Format::Csv, 100, b"id,note\n1,\"two\nlines\"\n2,x\n");
        assert_eq!(got[1], (Ok("1,\"two\nlines\"".into()), 22, 2));
        assert_eq!(got[2].0, Ok("2,x".into()));
        let got = split(Format::Csv, 100, b"id,note\n1,\"open\n2,b\n3,c\n");
        assert_eq!(got[0].0, Ok("id,note".into()));
        assert_eq!(
            got[1].0,
            Err("line 2: a quoted csv cell opened on this line is never closed; reading goes on at line 3".into())
        );
        assert_eq!(got[2], (Ok("2,b".into()), 20, 3));
        assert_eq!(got[3], (Ok("3,c".into()), 24, 4));
        // within max_record_size only
        let got = split(Format::Csv, 8, b"1,\"open\n2,b\n3,c\n4,d\n");
        assert!(
            got[0]
                .0
                .as_ref()
                .is_err_and(|e| e.contains("not closed within max_record_size"))
        );
        assert_eq!(
            got[1..].iter().map(|g| g.0.clone()).collect::<Vec<_>>(),
            vec![Ok("2,b".into()), Ok("3,c".into()), Ok("4,d".into())]
        );
    }

    /// What `feed_with` lends, fed in pieces of `size` bytes, as `split` sees it.
    fn split_lent(
        format: Format,
        max: usize,
        input: &[u8],
        size: usize,
    ) -> Vec<(Result<String, String>, u64, u64)> {
        let mut s = LineSplitter::new(format, max, 0, 1);
        let mut out = Vec::new();
        let mut each = |l: Line<'_>| -> Result<(), ()> {
            out.push((
                l.text.map(str::to_string).map_err(|e| e.reason),
                l.end,
                l.line,
            ));
            Ok(())
        };
        for piece in input.chunks(size) {
            s.feed_with(piece, &mut each).expect("no stop");
        }
        s.finish_with(&mut each).expect("no stop");
        out
    }

    #[test]
    fn lent_lines_are_the_owned_lines_however_the_input_arrives() {
        let inputs: [(Format, usize, &[u8]); 6] = [
            (
                Format::Jsonl,
                100,
                b"{\"a\":1}\r\n\n{\"b\":2}\r\n\r\n\rx\n{\"c\":3}",
            ),
            (Format::Jsonl, 100, b"{\"id\":\"a\xff\"}\nok\n\xc3\n\xa9\n"),
            (
                Format::Text,
                5,
                b"12345\n123456\r\n1234\r\n12345\r\nabcdefghijklmnop\nend",
            ),
            (
                Format::Csv,
                100,
                b"id,note\n1,\"two\nlines\"\n2,x\r\n3,\"open\n4,b\n5,\"\"\n",
            ),
            (Format::Csv, 8, b"1,\"open\n2,b\n3,c\n4,\"d\"\n5,\"e\nf\"\n"),
            (Format::Jsonl, 3, b"\xff\xfe\xfd\xfc\nab\n"),
        ];
        for (format, max, input) in inputs {
            let want = split(format, max, input);
            for size in 1..=input.len() {
                assert_eq!(
                    split_lent(format, max, input, size),
                    want,
                    "{format:?} in pieces of {size}: {:?}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn a_stop_from_the_callback_ends_feeding_at_once() {
        let mut s = LineSplitter::new(Format::Jsonl, 100, 0, 1);
        let mut seen = 0;
        let stopped = s.feed_with(b"a\nb\nc\n", |_| {
            seen += 1;
            if seen == 2 { Err("stop") } else { Ok(()) }
        });
        assert_eq!(stopped, Err("stop"));
        assert_eq!(seen, 2);
    }
}
