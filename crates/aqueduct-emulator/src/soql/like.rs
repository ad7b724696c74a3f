//! SOQL `LIKE` patterns: `%` is any run of characters, `_` one character,
//! `\\%` and `\\_` the characters themselves; matching ignores case.

/// One pattern element.
#[derive(Debug, Clone, PartialEq)]
pub enum Pat {
    /// A literal character (lower-cased).
    Char(char),
    /// `_`
    One,
    /// `%`
    Many,
}

/// Compiles a pattern (LIKE escapes kept by the lexer).
pub fn like_pattern(pattern: &str) -> Vec<Pat> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(Pat::Char(next.to_lowercase().next().unwrap_or(next)));
                }
            }
            '%' => out.push(Pat::Many),
            '_' => out.push(Pat::One),
            c => out.push(Pat::Char(c.to_lowercase().next().unwrap_or(c))),
        }
    }
    out
}

/// Whether lower-cased `text` matches.
pub fn like(pattern: &[Pat], text: &[char]) -> bool {
    // Classic wildcard matching with backtracking to the last `%`.
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        match pattern.get(p) {
            Some(Pat::Char(c)) if *c == text[t] => (p, t) = (p + 1, t + 1),
            Some(Pat::One) => (p, t) = (p + 1, t + 1),
            Some(Pat::Many) => {
                star = Some(p);
                mark = t;
                p += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += 1;
                    t = mark;
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|x| *x == Pat::Many)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        like(
            &like_pattern(p),
            &t.to_lowercase().chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn like_patterns() {
        assert!(m("Ac%", "Acme"));
        assert!(m("%me", "ACME"));
        assert!(m("A_me", "Acme"));
        assert!(!m("A_me", "Acccme"));
        assert!(m("%c%e%", "Acme"));
        assert!(m("50\\%%", "50% off"));
        assert!(!m("50\\%%", "500 off"));
        assert!(m("%", ""));
        assert!(!m("_", ""));
    }
}
