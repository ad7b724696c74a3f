//! Cross-crate golden tests live in `tests/*.rs`.
