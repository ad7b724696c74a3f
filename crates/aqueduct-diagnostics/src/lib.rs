//! Diagnostics shared by every aqueduct stage.
//!
//! Stages never print: they return [`Diagnostic`] values that carry a stable
//! [`Code`], a severity, a message, labelled [`Span`]s in a [`FileId`] and a
//! help line. The CLI renders them at the edge with one of the renderers in
//! [`render`] (miette graphical, JSON, SARIF, GitHub annotations).
//!
//! ```
//! use aqueduct_diagnostics::{codes, Diagnostic, FileId, SourceMap, Span};
//! let mut map = SourceMap::default();
//! let file = map.add("flows.aq", "flow x { }");
//! let d = Diagnostic::error(codes::AQ0307, "flow `x` has no target")
//!     .with_primary(file, Span::new(5, 6), "this flow never delivers a record")
//!     .with_help("add a `to system.operation(...)` line");
//! assert_eq!(d.code.as_str(), "AQ0307");
//! ```
#![warn(missing_docs)]

pub mod codes;
mod diagnostic;
pub mod render;
mod source;
mod span;
mod suggest;

pub use codes::Code;
pub use diagnostic::{Diagnostic, Label, Severity};
pub use source::{LineCol, SourceFile, SourceMap};
pub use span::{FileId, Span, Spanned};
pub use suggest::did_you_mean;
