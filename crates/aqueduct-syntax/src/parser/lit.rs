//! Literals: numbers with their units (AQ0103, AQ0104) and strings with
//! their escapes (AQ0105), interpolations and `"""` dedenting.
//!
//! A literal with an error still yields a node (a zero, or the raw text) so
//! building goes on and later literals get reported too; the file as a
//! whole is refused because an error was recorded.

use super::build::{Builder, P, R};
use super::expr::Depth;
use super::grammar::Rule;
use crate::ast::{FieldName, Lit, StrLit, StrPart};
use aqueduct_diagnostics::{Diagnostic, Span, codes};

/// Duration units and their length in milliseconds.
pub(super) const DURATION_UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Size units and their length in bytes (`KB` is 1000 bytes, `KiB` 1024).
pub(super) const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
];

/// The help line of AQ0104.
const UNITS_HELP: &str = "durations take `ms`, `s`, `m`, `h` or `d` (`250ms`, `5m`); sizes take `B`, `KB`, `MB`, `GB`, `KiB`, `MiB` or `GiB` (`64KiB`)";

/// The help line of AQ0105.
const ESCAPES_HELP: &str = "known escapes are `\\\"`, `\\\\`, `\\n`, `\\t`, `\\r`, `\\{`, `\\}` and `\\u{1F600}`; a `\"\"\"…\"\"\"` string takes text as written";

/// Splits `10_000ms` into `10_000` and `ms`.
pub(super) fn split_number(text: &str) -> (&str, &str) {
    let b = text.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        while let Some(&c) = b.get(*i) {
            let separator = c == b'_' && b.get(*i + 1).is_some_and(u8::is_ascii_digit);
            if !(c.is_ascii_digit() || separator) {
                break;
            }
            *i += 1;
        }
    };
    digits(&mut i);
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        digits(&mut i);
    }
    text.split_at_checked(i).unwrap_or((text, ""))
}

impl Builder<'_> {
    /// A `number` pair → integer, decimal, duration or size.
    pub(super) fn number(&mut self, p: &P<'_>) -> Lit {
        let span = self.span(p);
        let text = p.as_str();
        let (num, unit) = split_number(text);
        let whole = num.replace('_', "");
        let placeholder = Lit::Int {
            text: text.to_string(),
            value: 0,
        };
        if unit.is_empty() {
            if num.contains('.') {
                return Lit::Decimal(text.to_string());
            }
            return match whole.parse::<i64>() {
                Ok(value) => Lit::Int {
                    text: text.to_string(),
                    value,
                },
                Err(_) => {
                    self.number_error(
                        span,
                        format!("the integer `{text}` is too large"),
                        "integers range up to 9223372036854775807",
                    );
                    placeholder
                }
            };
        }
        let unit_span = Span::new(
            span.start
                .saturating_add(u32::try_from(num.len()).unwrap_or(0)),
            span.end,
        );
        let duration = DURATION_UNITS.iter().find(|(u, _)| *u == unit);
        let size = SIZE_UNITS.iter().find(|(u, _)| *u == unit);
        let Some((_, factor)) = duration.or(size) else {
            self.diags.push(
                Diagnostic::error(codes::AQ0104, format!("unknown unit `{unit}` in `{text}`"))
                    .with_primary(self.file, unit_span, "not a duration or size unit")
                    .with_help(UNITS_HELP),
            );
            return placeholder;
        };
        let what = if duration.is_some() {
            "duration"
        } else {
            "size"
        };
        if num.contains('.') {
            let help = if duration.is_some() {
                "use a smaller unit: `1500ms` rather than `1.5s`"
            } else {
                "use a smaller unit: `1536KiB` rather than `1.5MiB`"
            };
            self.number_error(
                span,
                format!("a {what} must be a whole number, not `{text}`"),
                help,
            );
            return placeholder;
        }
        match whole
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(*factor))
        {
            Some(v) if duration.is_some() => Lit::Duration {
                text: text.to_string(),
                millis: v,
            },
            Some(v) => Lit::Size {
                text: text.to_string(),
                bytes: v,
            },
            None => {
                self.number_error(
                    span,
                    format!("the {what} `{text}` is too large"),
                    "it must fit in 64 bits once converted to milliseconds or bytes",
                );
                placeholder
            }
        }
    }

    fn number_error(&mut self, span: Span, message: String, help: &str) {
        self.diags.push(
            Diagnostic::error(codes::AQ0103, message)
                .with_primary(self.file, span, "invalid number")
                .with_help(help),
        );
    }

    /// A `string` or `triple_string` pair, with the depth of its interpolations.
    pub(super) fn string(&mut self, p: P<'_>) -> R<(StrLit, Depth)> {
        if p.as_rule() == Rule::triple_string {
            let body = p.clone().into_inner().next().map_or("", |b| b.as_str());
            let text = dedent(body);
            let parts = if text.is_empty() {
                Vec::new()
            } else {
                vec![StrPart::Text(text)]
            };
            return Ok((
                StrLit {
                    parts,
                    triple: true,
                },
                Depth::ZERO,
            ));
        }
        let mut parts: Vec<StrPart> = Vec::new();
        let mut depth = Depth::ZERO;
        for k in p.into_inner() {
            let piece = match k.as_rule() {
                Rule::str_text => k.as_str().to_string(),
                Rule::str_escape => self.escape(&k),
                Rule::interp => {
                    let span = self.span(&k);
                    let e = self.need(&mut Self::kids(&k), span, "interpolated expression")?;
                    let (e, d) = self.expr_d(e)?;
                    depth = depth.max(d);
                    parts.push(StrPart::Expr(e));
                    continue;
                }
                _ => continue,
            };
            // Adjacent text and escapes become one piece.
            match parts.last_mut() {
                Some(StrPart::Text(t)) => t.push_str(&piece),
                _ => parts.push(StrPart::Text(piece)),
            }
        }
        parts.retain(|p| !matches!(p, StrPart::Text(t) if t.is_empty()));
        Ok((
            StrLit {
                parts,
                triple: false,
            },
            depth,
        ))
    }

    /// A quoted field name (`"Billing City"`, or inside `.("…")`).
    pub(super) fn quoted_name(&mut self, p: P<'_>) -> R<FieldName> {
        let span = self.span(&p);
        let (s, _) = self.string(p)?;
        match s.as_plain() {
            Some(name) => Ok(FieldName {
                name,
                quoted: true,
                span,
            }),
            None => {
                self.diags.push(
                    Diagnostic::error(codes::AQ0101, "a quoted field name cannot contain `{…}`")
                        .with_primary(self.file, span, "field names are fixed text")
                        .with_help("write the braces as `\\{` and `\\}`"),
                );
                Ok(FieldName {
                    name: String::new(),
                    quoted: true,
                    span,
                })
            }
        }
    }

    /// Decodes one `str_escape`; unknown escapes are reported and kept as written.
    fn escape(&mut self, k: &P<'_>) -> String {
        let raw = k.as_str();
        if let Some(c) = decode_escape(raw) {
            return c.to_string();
        }
        let message = if raw.starts_with("\\u") {
            format!("`{raw}` is not a valid Unicode escape")
        } else {
            format!("unknown escape `{raw}` in a string")
        };
        self.diags.push(
            Diagnostic::error(codes::AQ0105, message)
                .with_primary(self.file, self.span(k), "not a known escape")
                .with_help(ESCAPES_HELP),
        );
        raw.to_string()
    }
}

/// The character a `str_escape` stands for; `None` for an unknown escape.
pub(super) fn decode_escape(raw: &str) -> Option<char> {
    match raw {
        "\\\"" => Some('"'),
        "\\\\" => Some('\\'),
        "\\n" => Some('\n'),
        "\\t" => Some('\t'),
        "\\r" => Some('\r'),
        "\\{" => Some('{'),
        "\\}" => Some('}'),
        _ => raw
            .strip_prefix("\\u{")
            .and_then(|h| h.strip_suffix('}'))
            .filter(|h| (1..=6).contains(&h.len()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32),
    }
}

/// The text of a `"""…"""` string: a line break right after the opening
/// quotes is dropped, a last line holding only spaces (the indentation of
/// the closing quotes) is dropped, and the indentation common to the
/// non-blank lines is removed from every line.
pub(super) fn dedent(body: &str) -> String {
    let body = body
        .strip_prefix("\r\n")
        .or_else(|| body.strip_prefix('\n'))
        .unwrap_or(body);
    let body = match body.rfind('\n') {
        Some(i)
            if body
                .get(i + 1..)
                .is_some_and(|last| last.chars().all(|c| c == ' ' || c == '\t')) =>
        {
            body.get(..i + 1).unwrap_or(body)
        }
        None if body.chars().all(|c| c == ' ' || c == '\t') => "",
        _ => body,
    };
    let indent = body
        .split('\n')
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let lines: Vec<&str> = body
        .split('\n')
        .map(|l| {
            let ws = l.len() - l.trim_start_matches([' ', '\t']).len();
            // Indentation is spaces and tabs, all one byte, so this is a char boundary.
            l.get(ws.min(indent)..).unwrap_or("")
        })
        .collect();
    lines.join("\n")
}
