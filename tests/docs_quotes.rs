//! Issue 12: the docs must not drift from the program. Every error text,
//! error `code` and dead-letter entry shape quoted in `docs/`, the README
//! and the examples' READMEs is produced by a test:
//!
//! - each `"error": "…"` message and `"code": "…"` quoted in a JSON body,
//!   and each row (status, code, message) of the sync failure table in
//!   `language.md`, appears in a test's expectations (a test source or a
//!   golden file), which the test suite checks against the program's output;
//!   a message quoted with `…` is checked up to the `…`;
//! - each quoted dead-letter entry (a JSON object with `"flow"` and
//!   `"step"`) has exactly the keys, in the order, that the runtime writes.

use regex::Regex;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Files under `dir` (recursively) whose name ends with one of `exts`.
fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, exts, out);
        } else if exts.iter().any(|e| path.to_string_lossy().ends_with(e)) {
            out.push(path);
        }
    }
}

/// Whitespace runs as one space and no backslashes, so a message quoted
/// over two lines or inside an escaped Rust string compares as text.
fn normalize(text: &str) -> String {
    let text = text.replace('\\', "");
    let ws = Regex::new(r"\s+").expect("regex");
    ws.replace_all(&text, " ").into_owned()
}

/// The docs that quote what users see, normalized, by file.
fn docs() -> Vec<(String, String)> {
    let root = root();
    let mut paths = Vec::new();
    files(&root.join("docs"), &[".md"], &mut paths);
    paths.push(root.join("README.md"));
    files(&root.join("examples"), &["README.md"], &mut paths);
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("a doc");
            (
                p.strip_prefix(&root).unwrap_or(p).display().to_string(),
                normalize(&text),
            )
        })
        .collect()
}

/// Every test source and golden file, normalized, as one text.
fn test_corpus() -> String {
    let root = root();
    let mut paths = Vec::new();
    if let Ok(crates) = std::fs::read_dir(root.join("crates")) {
        for krate in crates.flatten() {
            files(
                &krate.path().join("tests"),
                &[".rs", ".snap", ".json", ".yaml"],
                &mut paths,
            );
        }
    }
    files(&root.join("tests"), &[".rs", ".snap", ".aq"], &mut paths);
    paths.retain(|p| !p.ends_with("docs_quotes.rs"));
    let mut corpus = String::new();
    for p in paths {
        if let Ok(text) = std::fs::read_to_string(&p) {
            corpus.push_str(&normalize(&text));
            corpus.push('\n');
        }
    }
    // unit tests next to the code: the part of each source file from its
    // `#[cfg(test)]` on
    let mut sources = Vec::new();
    files(&root.join("crates"), &[".rs"], &mut sources);
    for p in sources
        .iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "tests"))
    {
        if let Ok(text) = std::fs::read_to_string(p)
            && let Some(at) = text.find("#[cfg(test)]")
        {
            corpus.push_str(&normalize(&text[at..]));
            corpus.push('\n');
        }
    }
    corpus
}

/// The part of a quoted text to look for: up to a `…`, trimmed.
fn checked_part(text: &str) -> Option<&str> {
    let part = text.split('…').next().unwrap_or("").trim();
    (part.len() >= 3).then_some(part)
}

#[test]
fn every_quoted_error_message_and_code_is_produced_by_a_test() {
    let corpus = test_corpus();
    let error = Regex::new(r#""error"\s*:\s*"((?:[^"\\]|\\.)*)""#).expect("regex");
    let code = Regex::new(r#""code"\s*:\s*"([a-z_]+)""#).expect("regex");
    // | what | 422 | `rejected` | `request rejected by `where`` |
    let row = Regex::new(r"^\| [^|]+ \| (\d{3}) \| `([a-z_]+)` \| (.+) \|$").expect("regex");
    let mut missing = Vec::new();
    let mut checked = 0;
    for (file, text) in docs() {
        for c in error.captures_iter(&text) {
            let Some(part) = checked_part(&c[1]) else {
                continue;
            };
            checked += 1;
            if !corpus.contains(part) {
                missing.push(format!("{file}: error message `{part}`"));
            }
        }
        for c in code.captures_iter(&text) {
            checked += 1;
            if !corpus.contains(&format!("\"{}\"", &c[1])) {
                missing.push(format!("{file}: error code `{}`", &c[1]));
            }
        }
    }
    // the table rows (read line by line, before whitespace is folded)
    let language = std::fs::read_to_string(root().join("docs/language.md")).expect("language.md");
    let mut rows = 0;
    for line in language.lines() {
        let Some(c) = row.captures(line) else {
            continue;
        };
        rows += 1;
        let (status, code, message) = (&c[1], &c[2], &c[3]);
        let message = message.split(" (").next().unwrap_or(message);
        let message = message.trim().trim_matches('`').trim();
        if !corpus.contains(&format!("\"{code}\"")) || !corpus.contains(status) {
            missing.push(format!("language.md: status {status} with code `{code}`"));
        }
        // rows describing a message in words (`what is wrong with it`) quote none
        let described = message.contains("what is wrong") || message.contains("the field and why");
        if let Some(part) = checked_part(message).filter(|_| !described)
            && !corpus.contains(part)
        {
            missing.push(format!("language.md: the {status} message `{part}`"));
        }
    }
    assert!(
        rows >= 8,
        "the sync failure table of language.md was not found"
    );
    assert!(checked >= 5, "too few quoted errors found: {checked}");
    assert!(
        missing.is_empty(),
        "quoted in the docs but produced by no test:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_quoted_dead_letter_entry_has_the_shape_the_runtime_writes() {
    use aqueduct_runtime::dead_letter::{Failure, for_raw, for_raw_bytes, for_record};
    use aqueduct_runtime::value::Value;
    let keys = Regex::new(r#""([a-z_0-9]+)"\s*:"#).expect("regex");
    let key_list = |text: &str| -> Vec<String> {
        keys.captures_iter(text).map(|c| c[1].to_string()).collect()
    };
    let at = aqueduct_runtime::value::json::parse_timestamp("2026-03-02T10:15:03Z").expect("ts");
    let failure = Failure {
        flow: "f",
        step: "source",
        error: "e",
        attempts: 1,
        at,
    };
    let written: Vec<Vec<String>> = [
        for_record(&Value::Null, &failure),
        for_raw("x", &failure),
        for_raw_bytes("eA==", &failure),
    ]
    .iter()
    .map(|e| key_list(&e.to_json_string()))
    .collect();
    // objects without nested braces that hold "flow" and "step"
    let object = Regex::new(r"\{[^{}]*\}").expect("regex");
    let mut found = 0;
    let mut wrong = Vec::new();
    for (file, text) in docs() {
        for m in object.find_iter(&text) {
            let quoted = key_list(m.as_str());
            if !(quoted.iter().any(|k| k == "flow") && quoted.iter().any(|k| k == "step")) {
                continue;
            }
            found += 1;
            if !written.contains(&quoted) {
                wrong.push(format!("{file}: {} has keys {quoted:?}", m.as_str()));
            }
        }
    }
    assert!(
        found >= 2,
        "too few dead-letter entries found in the docs: {found}"
    );
    assert!(
        wrong.is_empty(),
        "dead-letter entries unlike the runtime's {written:?}:\n{}",
        wrong.join("\n")
    );
}
