//! Turns a pest error into an AQ0101 diagnostic in the user's words.
//!
//! pest reports the rules it tried at the furthest position it reached.
//! Each rule maps to a phrase ("a step such as `map`, `where` or `to`"), a
//! priority (so the most telling phrases come first and noise such as "an
//! operator" is dropped when something better is there), the keywords it
//! stands for (for "did you mean `from`?") and an optional help line.

use super::grammar::Rule;
use aqueduct_diagnostics::{Diagnostic, FileId, Span, codes, did_you_mean};

/// How one expected rule reads to the user.
struct Expected {
    /// Higher comes first; phrases below the best by more than a tier are dropped.
    priority: u8,
    phrase: &'static str,
    keywords: &'static [&'static str],
    help: Option<&'static str>,
}

const DECL_WORDS: &[&str] = &["system", "type", "channel", "flow", "test"];
const STEP_WORDS: &[&str] = &[
    "where", "map", "let", "enrich", "split", "batch", "dedupe", "tap", "route", "to", "reply",
];
const FLOW_WORDS: &[&str] = &[
    "mode",
    "from",
    "where",
    "map",
    "let",
    "enrich",
    "split",
    "batch",
    "dedupe",
    "tap",
    "route",
    "to",
    "reply",
    "retry",
    "timeout",
    "dead_letter",
    "rate_limit",
    "concurrency",
    "circuit_breaker",
];
const FLOW_HELP: &str =
    "flow lines are `mode`, `from`, steps such as `where`/`map`/`to`, and policies such as `retry`";

fn expected(rule: Rule) -> Option<Expected> {
    let e = |priority, phrase, keywords, help| {
        Some(Expected {
            priority,
            phrase,
            keywords,
            help,
        })
    };
    match rule {
        Rule::decl | Rule::file => e(
            9,
            "a declaration (`system`, `type`, `channel`, `flow` or `test`)",
            DECL_WORDS,
            Some("a file holds `system`, `type`, `channel`, `flow` and `test` declarations"),
        ),
        Rule::flow_item => e(
            9,
            "a step such as `map`, `where` or `to`",
            FLOW_WORDS,
            Some(FLOW_HELP),
        ),
        Rule::step | Rule::arm_block => e(
            9,
            "a step such as `map`, `where` or `to`",
            STEP_WORDS,
            Some("a route arm is one step, or several steps in `{ … }`"),
        ),
        Rule::test_item => e(
            9,
            "a test line (`given`, `stub` or `expect`)",
            &["given", "stub", "expect"],
            Some(
                "a test feeds records with `given`, answers calls with `stub` and checks results with `expect`",
            ),
        ),
        Rule::mode_kind => e(
            9,
            "a mode (`sync`, `async` or `batch`)",
            &["sync", "async", "batch"],
            None,
        ),
        Rule::backoff => e(
            9,
            "a backoff (`exponential(BASE, MAX)` or `fixed(DELAY)`)",
            &["exponential", "fixed"],
            None,
        ),
        Rule::route_arm => e(
            8,
            "a route arm (`when CONDITION => …` or `else => …`)",
            &["when", "else"],
            None,
        ),
        Rule::expectation => e(
            8,
            "what to expect (a record, `nothing`, `reply …` or `error \"…\"`)",
            &["nothing", "reply", "error"],
            None,
        ),
        Rule::expr | Rule::operand => e(7, "an expression", &[], None),
        Rule::endpoint => e(
            7,
            "a source or target (`system.operation(…)` or a channel name)",
            &[],
            None,
        ),
        Rule::op_call => e(7, "an operation call such as `crm.query(…)`", &[], None),
        Rule::type_expr | Rule::type_name => e(7, "a type such as `string` or `[Line]`", &[], None),
        Rule::field_decl => e(7, "a field (`name: Type`)", &[], None),
        Rule::record_entry => e(7, "a field assignment (`name = value`) or `...`", &[], None),
        Rule::option_entry => e(7, "an option (`name = value`)", &[], None),
        Rule::arg => e(7, "an argument", &[], None),
        Rule::string | Rule::triple_string => e(7, "a string", &[], None),
        Rule::ident
        | Rule::value_name
        | Rule::map_type
        | Rule::system_ref
        | Rule::op_name
        | Rule::channel_ref
        | Rule::arg_name => e(7, "a name", &[], None),
        Rule::field_name => e(7, "a field name", &[], None),
        Rule::lbrace => e(6, "`{`", &[], None),
        Rule::rbrace => e(5, "`}`", &[], None),
        Rule::lparen => e(6, "`(`", &[], None),
        Rule::rparen => e(5, "`)`", &[], None),
        Rule::lbracket => e(6, "`[`", &[], None),
        Rule::rbracket => e(5, "`]`", &[], None),
        Rule::colon => e(6, "`:`", &[], None),
        Rule::assign => e(6, "`=`", &[], None),
        Rule::arrow => e(6, "`=>`", &[], None),
        Rule::dot => e(4, "`.`", &[], None),
        Rule::kw_for => e(8, "`for`", &["for"], None),
        Rule::kw_by => e(8, "`by`", &["by"], None),
        Rule::kw_per => e(8, "`per`", &["per"], None),
        Rule::kw_if => e(8, "`if`", &["if"], None),
        Rule::kw_as => e(3, "`as`", &["as"], None),
        Rule::kw_via => e(3, "`via`", &["via"], None),
        Rule::kw_within => e(3, "`within`", &["within"], None),
        Rule::kw_backoff => e(3, "`backoff`", &["backoff"], None),
        Rule::kw_schedule | Rule::kw_every | Rule::kw_chunk => e(
            3,
            "`schedule`, `every` or `chunk`",
            &["schedule", "every", "chunk"],
            None,
        ),
        Rule::infix_op => e(2, "an operator", &[], None),
        Rule::EOI => e(1, "the end of the file", &[], None),
        _ => None,
    }
}

/// The token at `pos` as the user sees it, and its span.
fn found(text: &str, pos: usize) -> (String, Span) {
    let at = |s: usize, e: usize| {
        Span::new(
            u32::try_from(s).unwrap_or(u32::MAX),
            u32::try_from(e).unwrap_or(u32::MAX),
        )
    };
    let Some(rest) = text.get(pos..).filter(|r| !r.is_empty()) else {
        // At the end: point at the last character, if any.
        let last = text.char_indices().next_back().map_or(0, |(i, _)| i);
        return ("the end of the file".to_string(), at(last, text.len()));
    };
    let word_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let len = if word_len > 0 {
        word_len
    } else {
        rest.chars().next().map_or(1, char::len_utf8)
    };
    let token = rest.get(..len).unwrap_or("");
    let shown = match token {
        "\n" | "\r" => "the end of the line".to_string(),
        t => format!("`{}`", t.escape_debug()),
    };
    (shown, at(pos, pos + len))
}

/// The AQ0101 diagnostic for a pest error in `text[base..end]` (the
/// parsed part of `text`). When that part leaves an `(`, `[` or `{`
/// unclosed, the error is reported where it opened, with pest's finding as
/// a second label.
pub(super) fn syntax_error(
    file: FileId,
    text: &str,
    base: usize,
    end: usize,
    err: &pest::error::Error<Rule>,
) -> Diagnostic {
    let d = pest_error(file, text, base, err);
    let Some(open) = super::delims::unclosed(text, base, end) else {
        return d;
    };
    let Some(found) = d.primary().cloned() else {
        return d;
    };
    // an opener left open only because the text ends early (`where .a ==`)
    // is not the problem unless pest, too, wanted its closer here
    let wanted = d.message.contains(&format!("`{}`", open.close));
    if open.at >= found.span.start as usize || !(open.certain || wanted) {
        return d;
    }
    let line = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
    let at = u32::try_from(open.at).unwrap_or(u32::MAX);
    Diagnostic::error(
        codes::AQ0101,
        format!("this `{}` is never closed", open.open),
    )
    .with_primary(file, Span::new(at, at.saturating_add(1)), "opened here")
    .with_context(
        file,
        found.span,
        format!("{}, so `{}` is missing before here", d.message, open.close),
    )
    .with_help(format!(
        "add the `{}` that closes the `{}` of line {}",
        open.close,
        open.open,
        line(open.at)
    ))
}

/// The diagnostic pest's error reads as, at the place pest stopped.
fn pest_error(file: FileId, text: &str, base: usize, err: &pest::error::Error<Rule>) -> Diagnostic {
    let local = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let pos = base.saturating_add(local).min(text.len());
    let (token, span) = found(text, pos);
    let positives = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        pest::error::ErrorVariant::CustomError { .. } => {
            return Diagnostic::error(codes::AQ0101, "this text is nested too deeply to parse")
                .with_primary(file, span, "the parser gave up here")
                .with_help("split long or deeply nested expressions into `let` steps");
        }
    };
    let mut items: Vec<Expected> = positives.into_iter().filter_map(expected).collect();
    items.sort_by_key(|e| std::cmp::Reverse(e.priority));
    let best = items.first().map_or(0, |e| e.priority);
    let mut phrases: Vec<&str> = Vec::new();
    for e in items.iter().filter(|e| e.priority + 4 >= best) {
        if !phrases.contains(&e.phrase) && phrases.len() < 3 {
            phrases.push(e.phrase);
        }
    }
    let message = match phrases.as_slice() {
        [] => format!("unexpected {token}"),
        [one] => format!("expected {one}, found {token}"),
        [init @ .., last] => {
            // "a step such as `map`, `where` or `to`, or `}`": keep the last "or" readable.
            let or = if init.iter().any(|p| p.contains(" or ")) {
                ", or"
            } else {
                " or"
            };
            format!("expected {}{or} {last}, found {token}", init.join(", "))
        }
    };
    let word = text.get(span.range()).filter(|w| {
        w.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    });
    let suggestion =
        word.and_then(|w| did_you_mean(w, items.iter().flat_map(|e| e.keywords.iter().copied())));
    let label = match phrases.first() {
        Some(p) => format!("expected {p}"),
        None => "not expected here".to_string(),
    };
    let mut d = Diagnostic::error(codes::AQ0101, message).with_primary(file, span, label);
    if let Some(s) = suggestion {
        d = d.with_help(format!("did you mean `{s}`?"));
    } else if let Some(help) = items.iter().find_map(|e| e.help) {
        d = d.with_help(help);
    }
    d
}
