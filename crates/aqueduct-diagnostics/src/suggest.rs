//! "Did you mean" suggestions for unknown names.

/// The candidate closest to `name`, if it is close enough to be a likely typo.
///
/// Uses Jaro-Winkler similarity, which rewards shared prefixes (typical of
/// typos in identifiers), plus a case-insensitive exact match.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = name.to_ascii_lowercase();
    let mut best: Option<(&'a str, f64)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let score = if candidate.to_ascii_lowercase() == lower {
            1.0
        } else {
            strsim::jaro_winkler(name, candidate)
        };
        if score >= 0.8 && best.is_none_or(|(_, s)| score > s) {
            best = Some((candidate, score));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names() {
        assert_eq!(
            did_you_mean("Custmer", ["Customer", "Account"]),
            Some("Customer")
        );
        assert_eq!(
            did_you_mean("account", ["Customer", "Account"]),
            Some("Account")
        );
        assert_eq!(did_you_mean("zzz", ["Customer", "Account"]), None);
    }
}
