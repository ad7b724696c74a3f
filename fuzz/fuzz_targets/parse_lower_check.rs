//! Fuzz target: the whole front end (parse, resolve, type, lower) on arbitrary bytes.
#![no_main]

use aqueduct_diagnostics::SourceMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sources = SourceMap::default();
    sources.add("fuzz.aq", String::from_utf8_lossy(data).into_owned());
    let result = aqueduct_check::check(&sources, None);
    // A graph is only produced for a clean project.
    assert!(result.graph.is_none() || !result.has_errors());
});
