//! Finding the delimiter a syntax error is really about: an `(`, `[` or
//! `{` that is never closed.
//!
//! pest reports where it could not go on, which for a missing `)` or `}` is
//! often lines later ("expected `=`, found `db`"). Like rustc, the error is
//! then reported where the delimiter opened. Strings and comments are
//! skipped; a closer that does not match the innermost opener means that
//! opener was never closed. When every closer matches but openers are left
//! at the end, a closing `}` that starts its line less indented than the
//! line of the `{` it closes points at the `{` that lost its own `}`.

/// An opener that is never closed: its byte offset in the text and the
/// closer it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unclosed {
    pub(super) at: usize,
    pub(super) open: char,
    pub(super) close: char,
    /// Found by a closer of another kind or by indentation, not only by
    /// text ending with the opener still open (which a truncated
    /// expression also does).
    pub(super) certain: bool,
}

fn closer(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

/// Indentation (spaces and tabs) of the line holding byte `at`, and whether
/// `at` is the first non-blank byte of its line.
fn indent(b: &[u8], at: usize) -> (usize, bool) {
    let line_start = b[..at]
        .iter()
        .rposition(|c| *c == b'\n')
        .map_or(0, |i| i + 1);
    let width = b[line_start..]
        .iter()
        .take_while(|c| **c == b' ' || **c == b'\t')
        .count();
    (width, line_start + width == at)
}

/// The unclosed delimiter of `text[start..end]`, if any.
pub(super) fn unclosed(text: &str, start: usize, end: usize) -> Option<Unclosed> {
    let b = text.as_bytes();
    let end = end.min(b.len());
    let mut stack: Vec<usize> = Vec::new();
    let mut suspect: Option<usize> = None;
    let mut i = start;
    while i < end {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < end && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < end && !b[i..].starts_with(b"\"\"\"") {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < end && b[i] != b'"' && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => stack.push(i),
            c @ (b')' | b']' | b'}') => match stack.last() {
                Some(&open) if closer(b[open]) == c => {
                    let (close_indent, first) = indent(b, i);
                    if c == b'}' && first && suspect.is_none() && close_indent < indent(b, open).0 {
                        suspect = Some(open);
                    }
                    stack.pop();
                }
                // `(` … `}`: the innermost opener was never closed
                Some(&open) => return Some(found(b, open, true)),
                // a stray closer: not an unclosed opener
                None => return None,
            },
            _ => {}
        }
        i += 1;
    }
    let last = stack.last().copied()?;
    // a suspect only counts while some opener is really left open
    Some(match suspect {
        Some(open) => found(b, open, true),
        None => found(b, last, false),
    })
}

fn found(b: &[u8], at: usize, certain: bool) -> Unclosed {
    Unclosed {
        at,
        open: char::from(b[at]),
        close: char::from(closer(b[at])),
        certain,
    }
}

#[cfg(test)]
mod tests {
    use super::unclosed;

    fn at(text: &str) -> Option<(usize, char)> {
        unclosed(text, 0, text.len()).map(|u| (u.at, u.open))
    }

    #[test]
    fn a_paren_closed_by_a_brace_is_the_unclosed_one() {
        let text = "flow x {\n  to a.b(\"x\"\n}\n";
        assert_eq!(at(text), Some((text.find("(").expect("paren"), '(')));
    }

    #[test]
    fn a_brace_missing_inside_a_flow_is_found_by_indentation() {
        let text = "flow x {\n  map T {\n    a = 1\n  to a.b()\n}\n";
        assert_eq!(at(text), Some((text.find("T {").expect("map") + 2, '{')));
    }

    #[test]
    fn strings_and_comments_do_not_count_and_balanced_text_has_none() {
        assert_eq!(at("flow x { // (\n  to a.b(\"{(\")\n}\n"), None);
        assert_eq!(at("flow x {\n  to a.b(\"\"\"{\"\"\")\n}\n"), None);
        assert_eq!(at("flow x {\n  mode batch\n"), Some((7, '{')));
    }
}
