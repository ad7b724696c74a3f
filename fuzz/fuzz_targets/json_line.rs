//! Fuzz target: one JSON input line through the fused batch path's
//! decoders (its hand-written scanner and serde's seed) and the general
//! decoder; they must accept the same lines and read the same values, and
//! what is read must encode alike (`aqueduct_runtime::fused::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // the reader hands the decoders text: invalid UTF-8 never reaches them
    if let Ok(line) = std::str::from_utf8(data) {
        aqueduct_runtime::fused::fuzzing::json_line_agrees(line);
    }
});
