//! Fuzz target: the fast parser and pest (the grammar, the specification)
//! agree on arbitrary (lossily decoded) bytes: the fast parser accepts
//! exactly what pest accepts cleanly, and `parse` (fast path first) returns
//! exactly what pest alone returns, tree, spans and diagnostics included.
#![no_main]

use aqueduct_diagnostics::FileId;
use aqueduct_syntax::differential::{parse_fast_only, parse_pest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let pest = parse_pest(FileId(0), &text);
    let fast = parse_fast_only(&text);
    assert_eq!(
        fast.is_some(),
        pest.file.is_some(),
        "the fast parser and pest disagree on acceptance:\n{text}"
    );
    let both = aqueduct_syntax::parse(FileId(0), &text);
    assert_eq!(
        format!("{both:?}"),
        format!("{pest:?}"),
        "the fast parser builds another tree:\n{text}"
    );
});
