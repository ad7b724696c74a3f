//! Fuzz target: the human diagnostic renderer never panics, whatever the
//! text (long lines, tabs, odd characters) and wherever the labels point.
#![no_main]

use aqueduct_diagnostics::render::{HumanStyle, render_human};
use aqueduct_diagnostics::{Diagnostic, SourceMap, Span, codes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // the first 16 bytes place two labels, the rest is the file
    if data.len() < 16 {
        return;
    }
    let (head, body) = data.split_at(16);
    let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let text = String::from_utf8_lossy(body).into_owned();
    // stretch the text so columns past 65,535 are reached
    let text = if head[0] % 4 == 0 {
        text.replace('\n', &" ".repeat(70_000))
    } else {
        text
    };
    let len = text.len() as u32 + 8;
    let mut map = SourceMap::default();
    let file = map.add("fuzz.aq", text.clone());
    let (a, b) = (word(0) % len, word(4) % len);
    let (c, d) = (word(8) % len, word(12) % len);
    let diag = Diagnostic::error(codes::AQ0101, "fuzzed")
        .with_primary(file, Span::new(a.min(b), a.max(b)), "here")
        .with_context(file, Span::new(c.min(d), c.max(d)), "and here")
        .with_help("help");
    let mut diags = vec![diag];
    diags.extend(aqueduct_syntax::parse(file, &text).diagnostics);
    let _ = render_human(&diags, &map, HumanStyle::Plain);
});
