//! The parser and checker never panic, whatever the input: arbitrary text,
//! token soup in the language's own vocabulary, and mutations of the
//! examples (deleted, duplicated and swapped slices).

use aqueduct_diagnostics::SourceMap;
use proptest::prelude::*;

fn check_text(text: &str) {
    let mut sources = SourceMap::default();
    sources.add("fuzz.aq", text);
    let _ = aqueduct_check::check(&sources, None);
}

const VOCABULARY: &[&str] = &[
    "system",
    "type",
    "channel",
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
    "dedupe",
    "by",
    "within",
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
    "null",
    "true",
    "false",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "=",
    "=>",
    ".",
    "...",
    "$x",
    "??",
    "+",
    "-",
    "*",
    "/",
    "%",
    "==",
    "!=",
    "<",
    ">=",
    "\"s\"",
    "\"a{.b}c\"",
    "\"\"\"q\"\"\"",
    "10",
    "1.5",
    "30s",
    "5m",
    "64KiB",
    "x",
    "Order",
    ".id",
    "file",
    "inbox.read(\"a\")",
    "///",
    "//c\n",
    "\n",
];

fn example_texts() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut out = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "aq")
                && let Ok(t) = std::fs::read_to_string(&p)
            {
                out.push(t);
            }
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in "\\PC{0,400}") {
        check_text(&text);
    }

    #[test]
    fn token_soup(tokens in proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..120)) {
        check_text(&tokens.join(" "));
    }

    #[test]
    fn mutated_examples(seed in any::<u64>(), cuts in proptest::collection::vec((any::<u16>(), any::<u16>(), 0u8..3), 1..6)) {
        let texts = example_texts();
        prop_assume!(!texts.is_empty());
        let mut text = texts[(seed as usize) % texts.len()].clone().into_bytes();
        for (a, b, op) in cuts {
            if text.is_empty() { break; }
            let (a, b) = ((a as usize) % text.len(), (b as usize) % text.len());
            let (lo, hi) = (a.min(b), a.max(b));
            match op {
                0 => { text.drain(lo..hi); }
                1 => { let slice = text[lo..hi].to_vec(); text.splice(lo..lo, slice); }
                _ => text.swap(lo, hi),
            }
        }
        check_text(&String::from_utf8_lossy(&text));
    }
}

#[test]
fn deep_nesting_and_huge_lines() {
    check_text(&"(".repeat(100_000));
    check_text(&format!("flow x {{ where {} }}", "not ".repeat(50_000)));
    check_text(&format!("type T {{ {} }}", "a: int\n".repeat(20_000)));
    check_text(&"[".repeat(10_000));
    check_text("");
    check_text("\u{feff}type T { a: int }");
}
