//! Fuzz target: `fmt` on any text that parses preserves its meaning (the
//! tree, spans aside, and every comment) and is idempotent.
#![no_main]

use aqueduct_diagnostics::FileId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = aqueduct_syntax::parse(FileId(0), text);
    if parsed.diagnostics.iter().any(|d| d.is_error()) {
        return;
    }
    let Some(file) = parsed.file else {
        return;
    };
    let formatted = aqueduct_syntax::format(&file, text);
    let again = aqueduct_syntax::parse(FileId(0), &formatted);
    assert!(
        !again.diagnostics.iter().any(|d| d.is_error()),
        "formatted text has errors: {:?}\n{formatted}",
        again.diagnostics
    );
    let Some(again_file) = again.file else {
        panic!("formatted text does not parse:\n{formatted}");
    };
    assert!(
        aqueduct_syntax::strip_spans(&file) == aqueduct_syntax::strip_spans(&again_file),
        "fmt changed the meaning:\n--- input ---\n{text}\n--- formatted ---\n{formatted}"
    );
    let mut before: Vec<&str> = file.comments.iter().map(|c| c.text.as_str()).collect();
    let mut after: Vec<&str> = again_file.comments.iter().map(|c| c.text.as_str()).collect();
    before.sort_unstable();
    after.sort_unstable();
    assert_eq!(before, after, "comments lost or duplicated:\n{formatted}");
    let twice = aqueduct_syntax::format(&again_file, &formatted);
    assert_eq!(twice, formatted, "fmt is not idempotent");
});
