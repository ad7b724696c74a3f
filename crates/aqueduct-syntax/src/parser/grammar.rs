//! The pest parser generated from `grammar/aqueduct.pest`, the token rules
//! (keywords, punctuation) the tree builder skips, and the atomic rules.

use pest_derive::Parser;

/// The generated parser; [`Rule`] names every grammar rule.
#[derive(Parser)]
#[grammar = "../../grammar/aqueduct.pest"]
pub(super) struct AqParser;

/// True for rules that only mark a keyword or a punctuation mark: they
/// exist so syntax errors can name them, and carry nothing for the tree.
pub(super) fn is_token(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_system
            | Rule::kw_type
            | Rule::kw_channel
            | Rule::kw_via
            | Rule::kw_flow
            | Rule::kw_test
            | Rule::kw_for
            | Rule::kw_mode
            | Rule::kw_schedule
            | Rule::kw_every
            | Rule::kw_chunk
            | Rule::kw_from
            | Rule::kw_as
            | Rule::kw_where
            | Rule::kw_map
            | Rule::kw_let
            | Rule::kw_enrich
            | Rule::kw_split
            | Rule::kw_batch
            | Rule::kw_within
            | Rule::kw_dedupe
            | Rule::kw_by
            | Rule::kw_tap
            | Rule::kw_route
            | Rule::kw_when
            | Rule::kw_else
            | Rule::kw_to
            | Rule::kw_reply
            | Rule::kw_retry
            | Rule::kw_backoff
            | Rule::kw_exponential
            | Rule::kw_fixed
            | Rule::kw_timeout
            | Rule::kw_dead_letter
            | Rule::kw_rate_limit
            | Rule::kw_per
            | Rule::kw_concurrency
            | Rule::kw_circuit_breaker
            | Rule::kw_given
            | Rule::kw_stub
            | Rule::kw_expect
            | Rule::kw_error
            | Rule::kw_if
            | Rule::lbrace
            | Rule::rbrace
            | Rule::lparen
            | Rule::rparen
            | Rule::lbracket
            | Rule::rbracket
            | Rule::colon
            | Rule::assign
            | Rule::arrow
            | Rule::dot
            | Rule::EOI
    )
}

/// True for rules written `@{…}` or `${…}`: their span never carries
/// trailing whitespace, and their inner pairs (if any) do not end them.
pub(super) fn is_atomic(rule: Rule) -> bool {
    is_token(rule)
        || matches!(
            rule,
            Rule::ident
                | Rule::value_name
                | Rule::number
                | Rule::lit_true
                | Rule::lit_false
                | Rule::lit_null
                | Rule::triple_string
                | Rule::triple_body
                | Rule::string
                | Rule::str_text
                | Rule::str_escape
                | Rule::prefix_op
                | Rule::infix_op
                | Rule::record_path
                | Rule::binding_path
                | Rule::path_word
                | Rule::optional_mark
                | Rule::spread
                | Rule::mode_sync
                | Rule::mode_async
                | Rule::mode_batch
                | Rule::expect_nothing
        )
}
