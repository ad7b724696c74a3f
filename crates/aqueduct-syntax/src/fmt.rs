//! Formatter: AST → canonical text. (Being written.)

use crate::ast;

/// Formats a parsed file in the canonical layout, keeping comments.
/// `text` is the source the tree was parsed from (comments are placed by span).
pub fn format(file: &ast::File, text: &str) -> String {
    let _ = file;
    text.to_string()
}
