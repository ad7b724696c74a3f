//! `parse` never panics and never overflows the stack: arbitrary text,
//! token soup made of the language's own words, and pathological nesting.

use crate::parser::parse;
use aqueduct_diagnostics::{FileId, codes};
use proptest::prelude::*;

/// Keywords, punctuation and literals of the language, for token soup.
const TOKENS: &[&str] = &[
    "system",
    "type",
    "channel",
    "via",
    "flow",
    "test",
    "for",
    "mode",
    "sync",
    "async",
    "batch",
    "schedule",
    "every",
    "chunk",
    "from",
    "as",
    "where",
    "map",
    "let",
    "enrich",
    "split",
    "within",
    "dedupe",
    "by",
    "tap",
    "route",
    "when",
    "else",
    "to",
    "reply",
    "retry",
    "backoff",
    "exponential",
    "fixed",
    "timeout",
    "dead_letter",
    "rate_limit",
    "per",
    "concurrency",
    "circuit_breaker",
    "given",
    "stub",
    "expect",
    "nothing",
    "error",
    "if",
    "and",
    "or",
    "not",
    "in",
    "true",
    "false",
    "null",
    "x",
    "crm",
    "Account",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    ",",
    "=",
    "==",
    "=>",
    ".",
    "...",
    "?",
    "??",
    "+",
    "-",
    "*",
    "/",
    "%",
    "<",
    "<=",
    ">",
    ">=",
    "!=",
    "$",
    "$b",
    ".a",
    ".(\"q\")",
    "\"s\"",
    "\"{",
    "\"",
    "\"\"\"",
    "1",
    "1.5",
    "10_000",
    "5m",
    "64KiB",
    "5x",
    "\\",
    "\\q",
    "//",
    "///",
    "\n",
    " ",
    "\t",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = parse(FileId(0), &text);
    }

    #[test]
    fn never_panics_on_token_soup(text in soup()) {
        let p = parse(FileId(0), &text);
        // Either a tree or at least one error, and every span inside the text.
        prop_assert!(p.file.is_some() || p.diagnostics.iter().any(|d| d.is_error()));
        for d in &p.diagnostics {
            for l in &d.labels {
                prop_assert!(l.span.start <= l.span.end && l.span.end as usize <= text.len(), "{:?} in {:?}", l.span, text);
            }
        }
    }

    #[test]
    fn never_panics_on_soup_inside_a_flow(text in soup()) {
        let _ = parse(FileId(0), &format!("flow f {{\n{text}\n}}\ntest t for f {{ {text} }}"));
    }
}

fn first_code(text: &str) -> Option<&'static str> {
    parse(FileId(0), text)
        .diagnostics
        .first()
        .map(|d| d.code.as_str())
}

#[test]
fn deep_brackets_are_refused_not_overflowed() {
    for open in ["(", "[", "{", "\"{"] {
        let text = format!("flow f {{ where {} }}", open.repeat(100_000));
        let p = parse(FileId(0), &text);
        assert!(p.file.is_none());
        assert_eq!(
            p.diagnostics.first().map(|d| d.code),
            Some(codes::AQ0101),
            "{open}"
        );
        assert!(
            p.diagnostics[0].message.contains("nested more than 128"),
            "{}",
            p.diagnostics[0].message
        );
    }
}

#[test]
fn nesting_up_to_the_limit_parses() {
    // The flow's own brace is one level.
    let text = format!("flow f {{ where {}1{} }}", "(".repeat(127), ")".repeat(127));
    assert!(parse(FileId(0), &text).file.is_some());
}

#[test]
fn long_operator_chains_are_refused_not_overflowed() {
    assert_eq!(
        first_code(&format!("flow f {{ where {}.a }}", "not ".repeat(100_000))),
        Some("AQ0101")
    );
    assert_eq!(
        first_code(&format!("flow f {{ where {}.a }}", "- ".repeat(100_000))),
        Some("AQ0101")
    );
    assert_eq!(
        first_code(&format!("flow f {{ where 1{} }}", " + 1".repeat(100_000))),
        Some("AQ0101")
    );
    let chain = format!(
        "flow f {{ where if .a {{ 1 }}{} else {{ 0 }} }}",
        " else if .a { 1 }".repeat(10_000)
    );
    assert_eq!(first_code(&chain), Some("AQ0101"));
    // Reasonable lengths are fine.
    assert!(
        parse(
            FileId(0),
            &format!("flow f {{ where 1{} }}", " + 1".repeat(200))
        )
        .file
        .is_some()
    );
}

/// The nesting limit counts nesting, not the length of a flat chain: a chain
/// of one precedence is one level, however long (up to the tree limit).
#[test]
fn flat_operator_chains_are_one_level_of_nesting() {
    for terms in [257, 1024] {
        for op in [" + ", " - ", " * ", " and ", " == "] {
            let text = format!(
                "flow f {{ where .a{} }}",
                format!("{op}.a").repeat(terms - 1)
            );
            let p = parse(FileId(0), &text);
            assert!(
                p.file.is_some(),
                "{terms} terms of {op}: {:?}",
                p.diagnostics
            );
        }
    }
    // mixed precedences: each change of level nests once
    let mixed = format!("flow f {{ where .a{} }}", " + .a * .b".repeat(500));
    assert!(parse(FileId(0), &mixed).file.is_some());
    // a chain inside brackets inside a chain: still shallow
    let inner = format!("(.a{})", " + .a".repeat(300));
    let text = format!("flow f {{ where .a{} }}", format!(" - {inner}").repeat(10));
    assert!(parse(FileId(0), &text).file.is_some());
    // past the tree limit a chain is refused as too long, not as too deep
    let p = parse(
        FileId(0),
        &format!("flow f {{ where .a{} }}", " + .a".repeat(1024)),
    );
    assert!(p.file.is_none());
    assert_eq!(p.diagnostics[0].message, "this expression is too long");
    // real nesting still stops at 256 levels: 257 prefix operators
    let p = parse(
        FileId(0),
        &format!("flow f {{ where {}.a }}", "not ".repeat(257)),
    );
    assert_eq!(
        p.diagnostics.first().map(|d| d.message.as_str()),
        Some("this expression is nested too deeply")
    );
    let p = parse(
        FileId(0),
        &format!("flow f {{ where {}.a }}", "not ".repeat(255)),
    );
    assert!(p.file.is_some(), "{:?}", p.diagnostics);
}

#[test]
fn empty_and_blank_files_parse() {
    for text in [
        "",
        "   \n\t\n",
        "// only a comment",
        "\u{FEFF}type T { a: string }",
    ] {
        assert!(parse(FileId(0), text).file.is_some(), "{text:?}");
    }
}
