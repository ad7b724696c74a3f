//! The fast path: a hand-written recursive-descent parser for the language
//! of `grammar/aqueduct.pest`, building the tree directly.
//!
//! pest stays the specification and the oracle. This parser exists for speed
//! only (pest's per-combinator bookkeeping costs ~20k instructions per line)
//! and is held to one promise: **for every text, it either builds exactly the
//! tree that pest and the builder build, spans included, or it gives up**.
//! [`super::parse`] tries it first (after the lexical pass found nothing) and
//! runs pest on any text it gives up on, so every diagnostic (syntax errors,
//! literal errors, depth limits) still comes from the pest path, unchanged.
//!
//! It gives up (returns `None`) on a syntax error, and also on anything for
//! which the builder would report a diagnostic on a text pest accepts: a bad
//! number or unit, an unknown escape, an interpolated quoted name, a timing
//! set twice on a `mode` line, an expression deeper than the builder's limit.
//! Those are not syntax errors: the grammar matched, so parsing goes on
//! exactly as pest's would (a placeholder node stands in) and the finding is
//! noted in `bad`, which backtracking undoes (the builder never sees a
//! branch pest backtracked out of).
//! Giving up where pest would succeed costs only time; accepting what pest
//! refuses, or building a different tree, would be a bug, and is what the
//! differential tests (`tests/differential.rs` of this crate, the fuzz target
//! `differential`) look for.
//!
//! # How it mirrors the grammar
//!
//! One function per grammar rule, named after the rule, written as PEG:
//! alternatives are tried in the grammar's order and a failed alternative
//! rewinds (`mark` / `reset`); an optional or repeated element that fails
//! rewinds to where it started; a successful alternative is never retried.
//! Where the grammar's alternatives start with distinct keywords (steps,
//! policies, declarations) the function dispatches on the word instead of
//! trying each, which is the same thing: a keyword matches only a whole word.
//!
//! Whitespace: pest skips `WHITESPACE` between the elements of non-atomic
//! rules (`{…}`, `!{…}`) and never inside atomic ones (`@{…}`, `${…}`). Here
//! every token reader of a non-atomic context skips first ([`Fast::skip`]);
//! the readers of atomic rules (numbers, strings, paths, words) read bytes
//! without skipping. Skipping is idempotent, so skipping "too early" (before
//! an optional element that then does not match) changes nothing.
//!
//! Spans: pest's span of a non-atomic rule may run over trailing whitespace;
//! the builder cuts it at the end of the rule's last token. Here every token
//! reader records where it ended ([`Fast::last_end`]) and a node spans from
//! where its first token started to `last_end` when it is complete (before a
//! trailing `,`, which pest does not pair).
//!
//! # Keeping it in step with the grammar
//!
//! A change to `grammar/aqueduct.pest` or to the builder needs the same
//! change here, in the function named after the rule:
//! - a new keyword-led step, policy, flow or test line: a word in the
//!   dispatch `match` of `flow.rs` and a function reading it;
//! - a new clause inside a rule: the same sequence of readers, with
//!   `mark`/`reset` around each optional part;
//! - a new expression form: `primary.rs`, in the grammar's order of `primary`;
//! - a new literal check in the builder (`lit.rs`): refuse the same texts
//!   here (set `bad`), so the pest path reports them;
//! - the expression depth rule (`expr.rs` of the builder, `MAX_EXPR_DEPTH`):
//!   the same counting in this module's `expr.rs`.
//!
//! Then run `cargo test -p aqueduct-syntax --test differential`: it compares
//! both parsers on every `.aq` file of the repository, every golden case,
//! mutations of them and generated programs, and fails on any difference.

mod cursor;
mod decls;
mod expr;
mod flow;
mod primary;

use crate::ast::Decl;
use cursor::Fast;

/// The declarations of `text`, exactly as pest and the builder would build
/// them; `None` when the text does not parse cleanly or the builder would
/// report anything (the caller then runs the pest path).
///
/// Only call it on text the lexical pass found no error in: the nesting
/// limit of that pass is what bounds this parser's recursion.
/// `expected_decls` sizes the list (the lexical pass counts declaration
/// starts).
pub(super) fn parse_decls(text: &str, expected_decls: usize) -> Option<Vec<Decl>> {
    let mut p = Fast::new(text);
    let decls = p.file(expected_decls);
    if p.bad || p.exhausted { None } else { decls }
}
