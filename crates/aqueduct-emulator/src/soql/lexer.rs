//! SOQL tokens. Keywords are identifiers compared case-insensitively by the
//! parser; dates and datetimes are recognised here because `2024-01-31`
//! would otherwise read as a subtraction.

use super::SoqlError;

/// One token and its byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: Tok,
    /// Byte offset.
    pub pos: usize,
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name or keyword.
    Ident(String),
    /// A quoted string, unescaped.
    Text(String),
    /// A number as written.
    Number(String),
    /// `YYYY-MM-DD`.
    Date(String),
    /// `YYYY-MM-DDThh:mm:ss[.sss](Z|±hh:mm)`.
    DateTime(String),
    /// Punctuation and operators: `, ( ) . = != <> < <= > >= :`.
    Sym(&'static str),
    /// End of input.
    End,
}

/// Splits a query into tokens.
pub fn tokens(text: &str) -> Result<Vec<Token>, SoqlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push(Token {
                kind: Tok::Ident(text[start..i].to_string()),
                pos: start,
            });
            continue;
        }
        if c.is_ascii_digit() || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            if let Some((kind, end)) = date_or_datetime(text, i) {
                out.push(Token { kind, pos: start });
                i = end;
                continue;
            }
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            out.push(Token {
                kind: Tok::Number(text[start..i].to_string()),
                pos: start,
            });
            continue;
        }
        if c == b'\'' {
            let (value, end) = string(text, i)?;
            out.push(Token {
                kind: Tok::Text(value),
                pos: start,
            });
            i = end;
            continue;
        }
        let two = text.get(i..i + 2).unwrap_or("");
        let sym: &'static str = match two {
            "!=" => "!=",
            "<>" => "<>",
            "<=" => "<=",
            ">=" => ">=",
            _ => match c {
                b',' => ",",
                b'(' => "(",
                b')' => ")",
                b'.' => ".",
                b'=' => "=",
                b'<' => "<",
                b'>' => ">",
                b':' => ":",
                _ => {
                    let ch = text[i..].chars().next().unwrap_or('?');
                    return Err(SoqlError::malformed(i, format!("unexpected token: '{ch}'")));
                }
            },
        };
        i += sym.len();
        out.push(Token {
            kind: Tok::Sym(sym),
            pos: start,
        });
    }
    out.push(Token {
        kind: Tok::End,
        pos: text.len(),
    });
    Ok(out)
}

/// A quoted string starting at `start` (the quote); returns the value and the end offset.
fn string(text: &str, start: usize) -> Result<(String, usize), SoqlError> {
    let mut value = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((off, ch)) = chars.next() {
        match ch {
            '\'' => return Ok((value, start + 1 + off + 1)),
            '\\' => {
                let Some((_, esc)) = chars.next() else { break };
                match esc {
                    'n' => value.push('\n'),
                    'r' => value.push('\r'),
                    't' => value.push('\t'),
                    'b' => value.push('\u{8}'),
                    'f' => value.push('\u{c}'),
                    '\'' | '"' | '\\' => value.push(esc),
                    // LIKE wildcards stay escaped for the pattern matcher.
                    '%' | '_' => {
                        value.push('\\');
                        value.push(esc);
                    }
                    other => {
                        return Err(SoqlError::malformed(
                            start + 1 + off,
                            format!(
                                "Invalid string literal '\\{other}'. Illegal character sequence '\\{other}' in string literal."
                            ),
                        ));
                    }
                }
            }
            other => value.push(other),
        }
    }
    Err(SoqlError::malformed(start, "unterminated string literal"))
}

/// A date or datetime literal at `start`, if one is there.
fn date_or_datetime(text: &str, start: usize) -> Option<(Tok, usize)> {
    let b = text.as_bytes();
    let digits =
        |from: usize, n: usize| (from..from + n).all(|k| b.get(k).is_some_and(u8::is_ascii_digit));
    if !(digits(start, 4)
        && b.get(start + 4) == Some(&b'-')
        && digits(start + 5, 2)
        && b.get(start + 7) == Some(&b'-')
        && digits(start + 8, 2))
    {
        return None;
    }
    let date_end = start + 10;
    if b.get(date_end) != Some(&b'T') {
        return Some((Tok::Date(text[start..date_end].to_string()), date_end));
    }
    let mut i = date_end + 1;
    if !(digits(i, 2)
        && b.get(i + 2) == Some(&b':')
        && digits(i + 3, 2)
        && b.get(i + 5) == Some(&b':')
        && digits(i + 6, 2))
    {
        return None;
    }
    i += 8;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    match b.get(i) {
        Some(b'Z') => i += 1,
        Some(b'+') | Some(b'-') => {
            i += 1;
            if !digits(i, 2) {
                return None;
            }
            i += 2;
            if b.get(i) == Some(&b':') {
                i += 1;
            }
            if !digits(i, 2) {
                return None;
            }
            i += 2;
        }
        _ => return None,
    }
    Some((Tok::DateTime(text[start..i].to_string()), i))
}
