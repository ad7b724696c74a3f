//! Redaction: every secret value resolved so far, in every encoding a
//! connector may send it in, is blanked out of text that leaves the process.
//!
//! A secret can come back from a remote system in the form the connector
//! sent it: percent-encoded in a form body or a query, JSON-escaped in a
//! JSON body, or inside a derived credential (the base64 of `id:secret` of
//! HTTP Basic auth, registered with [`remember_derived`]). Each secret is
//! therefore remembered with those encodings. Text that is cut to an excerpt
//! is redacted first and cut after ([`excerpt`]), and a cut that falls inside
//! a secret would leave its prefix: any prefix of four or more characters of
//! a secret at the end of an excerpt is blanked too.

use std::sync::{OnceLock, RwLock};

/// Fewer characters than this are not treated as secrets (they would blank
/// ordinary words), nor are shorter prefixes at the end of an excerpt.
const MIN_LEN: usize = 4;

fn known() -> &'static RwLock<Vec<String>> {
    static KNOWN: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    KNOWN.get_or_init(|| RwLock::new(Vec::new()))
}

fn add(value: String) {
    if value.chars().count() < MIN_LEN {
        return;
    }
    if let Ok(mut k) = known().write()
        && !k.contains(&value)
    {
        k.push(value);
        // longest first: a secret containing another is blanked whole
        k.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }
}

/// Remembers a secret value and every encoding of it a connector produces.
pub(crate) fn remember(value: &str) {
    if value.chars().count() < MIN_LEN {
        return;
    }
    for form in encodings(value) {
        add(form);
    }
}

/// Remembers text derived from secrets that a connector sends (e.g. the
/// base64 of `id:secret` in a Basic `Authorization` header), so it is
/// redacted like a secret.
pub fn remember_derived(value: &str) {
    remember(value);
}

/// `value` as written raw, percent-encoded (form and URI component styles,
/// both hex cases) and JSON-escaped.
fn encodings(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    let form = percent(value, b"*-._", true);
    let uri = percent(value, b"-._~", false);
    for encoded in [form, uri] {
        out.push(lower_hex(&encoded));
        out.push(encoded);
    }
    if let Ok(json) = serde_json::to_string(value) {
        let inner = json[1..json.len() - 1].to_string();
        // some servers (PHP) also escape `/`
        out.push(inner.replace('/', "\\/"));
        out.push(inner);
    }
    out.sort();
    out.dedup();
    out
}

/// Percent-encodes every byte except ASCII alphanumerics and `keep`; with
/// `plus`, a space is `+` (`application/x-www-form-urlencoded`).
fn percent(value: &str, keep: &[u8], plus: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else if plus && b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The hex digits after each `%` in lower case.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut after_percent = 0;
    for c in encoded.chars() {
        if after_percent > 0 {
            out.push(c.to_ascii_lowercase());
            after_percent -= 1;
        } else {
            if c == '%' {
                after_percent = 2;
            }
            out.push(c);
        }
    }
    out
}

/// `text` with every secret resolved so far (in every encoding) replaced by `***`.
pub fn redact(text: &str) -> String {
    let Ok(k) = known().read() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for secret in k.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

/// At most `max` bytes of `text` for an error message: redacted first, then
/// cut on a character boundary (marked with `…`), then any prefix of four or
/// more characters of a secret left at the end of the cut text is blanked.
pub fn excerpt(text: &str, max: usize) -> String {
    let redacted = redact(text);
    let cut = redacted.len() > max;
    let mut end = max.min(redacted.len());
    while end > 0 && !redacted.is_char_boundary(end) {
        end -= 1;
    }
    let mut kept = redacted[..end].to_string();
    blank_trailing_prefix(&mut kept);
    if cut {
        kept.push('…');
    }
    kept
}

/// Replaces the longest prefix (≥ 4 characters) of any secret that `text`
/// ends with by `***`.
fn blank_trailing_prefix(text: &mut String) {
    let Ok(k) = known().read() else {
        return;
    };
    let mut longest = 0;
    for secret in k.iter() {
        // prefixes from the longest down, on character boundaries
        let mut ends: Vec<usize> = secret
            .char_indices()
            .map(|(i, _)| i)
            .skip(MIN_LEN)
            .collect();
        ends.push(secret.len());
        for len in ends.into_iter().rev() {
            if len > longest && text.ends_with(&secret[..len]) {
                longest = len;
                break;
            }
        }
    }
    if longest > 0 {
        text.truncate(text.len() - longest);
        text.push_str("***");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_the_connectors_send_is_blanked() {
        remember("p@ss w/rd+ü\"x");
        let secret = "p@ss w/rd+ü\"x";
        for form in [
            secret.to_string(),
            "p%40ss+w%2Frd%2B%C3%BC%22x".to_string(),
            "p%40ss%20w%2Frd%2B%C3%BC%22x".to_string(),
            "p%40ss+w%2frd%2b%c3%bc%22x".to_string(),
            "p@ss w/rd+ü\\\"x".to_string(),
            "p@ss w\\/rd+ü\\\"x".to_string(),
        ] {
            let text = format!("error: client_secret={form}&scope=x");
            assert_eq!(redact(&text), "error: client_secret=***&scope=x", "{form}");
        }
    }

    #[test]
    fn excerpts_are_redacted_before_the_cut_and_prefixes_blanked_after() {
        remember("Zq8-straddling-secret-value");
        let secret = "Zq8-straddling-secret-value";
        // the cut at 200 falls inside the secret: redacting first blanks it whole
        let body = format!("{}{secret} and more text after it", "x".repeat(190));
        let e = excerpt(&body, 200);
        assert_eq!(e, format!("{}*** and mo…", "x".repeat(190)));
        // a body the remote side already cut inside the secret: every prefix
        // of four or more characters at the end is blanked
        for len in 4..secret.len() {
            let body = format!("{}{}", "x".repeat(190), &secret[..len]);
            let e = excerpt(&body, 300);
            assert_eq!(e, format!("{}***", "x".repeat(190)), "prefix of {len}");
        }
        // so is one at the end of a longer text cut here
        let body = format!("{}{}", "x".repeat(196), &secret[..10]);
        assert_eq!(excerpt(&body, 200), format!("{}***…", "x".repeat(196)));
        // three characters are not worth blanking
        assert_eq!(excerpt("ends with Zq8", 200), "ends with Zq8");
        assert_eq!(excerpt("a Zq8-straddling-secret-value b", 200), "a *** b");
    }
}
