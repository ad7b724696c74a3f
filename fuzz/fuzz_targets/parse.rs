//! Fuzz target: the parser and the formatter on arbitrary (lossily decoded) bytes.
#![no_main]

use aqueduct_diagnostics::FileId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = aqueduct_syntax::parse(FileId(0), &text);
    if let Some(file) = parsed.file {
        let formatted = aqueduct_syntax::format(&file, &text);
        // What the formatter writes must parse again.
        let again = aqueduct_syntax::parse(FileId(0), &formatted);
        assert!(again.file.is_some(), "formatter output does not parse:\n{formatted}");
    }
});
