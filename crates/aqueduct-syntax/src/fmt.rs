//! Formatter: AST → canonical text, the engine of `aqueduct fmt`.
//!
//! The layout is fixed (there are no options), so every file has one
//! canonical form:
//!
//! - two spaces of indentation, a 100-column limit; declarations separated
//!   by one blank line;
//! - inside a body, one entry per line (no commas, no alignment of `=`),
//!   and at most one blank line kept where the source had blank lines
//!   (never right after `{` or before `}`); an empty body is `{}`, and a
//!   system without options has no braces (`system out: stdio`);
//! - a `map` body, a braced route arm and a nested option block are always
//!   multi-line; a route arm with one unbraced step and every policy
//!   (`circuit_breaker { failures = 5, reset = 30s }` included) stay on one
//!   line; flow items keep their order;
//! - `///` doc comments right above their declaration or field; plain `//`
//!   comments kept on their own line before the node they precede, or at
//!   the end of the line they trailed (see [`printer`]);
//! - expressions with canonical spacing, inline when they fit and broken
//!   at their outermost construct otherwise (see [`exprs`]); literals keep
//!   their text; parentheses are kept as written; strings are re-escaped;
//!   `"""` strings are re-indented one level deeper than their line;
//! - the output ends with exactly one newline (an empty file stays empty).
//!
//! The formatter never changes the tree: parsing its output gives the same
//! tree (spans aside), and formatting that again gives the same text.

mod decls;
mod exprs;
mod flat;
mod flows;
mod printer;
#[cfg(test)]
mod tests;

use crate::ast;
use printer::Printer;

/// Formats a parsed file in the canonical layout, keeping comments.
/// `text` is the source the tree was parsed from (comments are placed by span).
pub fn format(file: &ast::File, text: &str) -> String {
    let mut f = Formatter {
        p: Printer::new(text, &file.comments),
    };
    for (i, decl) in file.decls.iter().enumerate() {
        if i > 0 {
            f.p.blank();
        }
        f.p.doc_item(decl.span().start);
        f.decl(decl);
        f.p.finish_item(decl.span().end);
    }
    f.p.finish()
}

/// The state of one formatting run; the layout methods are spread over the
/// submodules by construct.
struct Formatter<'a> {
    p: Printer<'a>,
}
