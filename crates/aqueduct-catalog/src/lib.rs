//! The connector catalogue: every connector kind the language knows, as data.
//!
//! The checker validates `system` blocks and operation calls against these
//! specs; `aqueduct connectors` prints them; the runtime looks up which kinds
//! it can execute. The catalogue is static data with no behaviour, so the
//! checker never depends on connector implementations (the way VRL passes
//! function signatures to its compiler).
//!
//! ```
//! use aqueduct_catalog::{connector, Role};
//! let file = connector("file").expect("file is a connector kind");
//! assert!(file.operation("read", Role::Source).is_some());
//! ```
#![warn(missing_docs)]

mod kinds;
mod spec;

pub use spec::*;

/// Every connector kind, in the order `aqueduct connectors` lists them.
pub fn catalog() -> &'static [ConnectorSpec] {
    kinds::ALL
}

/// The connector kind named `kind`.
pub fn connector(kind: &str) -> Option<&'static ConnectorSpec> {
    kinds::ALL.iter().find(|c| c.kind == kind)
}

/// The names of every connector kind (for "did you mean" suggestions).
pub fn kind_names() -> impl Iterator<Item = &'static str> {
    kinds::ALL.iter().map(|c| c.kind)
}
