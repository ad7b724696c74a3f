//! Test helpers for this crate and for connector crates (feature `test-util`).

pub mod mock;
