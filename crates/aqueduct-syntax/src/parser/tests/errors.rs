//! Every diagnostic the parser emits (AQ0101–AQ0108): code, message,
//! primary span and help.

use super::{fails, ok};
use crate::parser::{MAX_FILE_BYTES, parse};
use aqueduct_diagnostics::{Diagnostic, FileId, Severity, codes};

/// (code, message, primary span text, help) of each diagnostic.
fn summary(src: &str, diags: &[Diagnostic]) -> Vec<(String, String, String, String)> {
    diags
        .iter()
        .map(|d| {
            let span = d.primary().map_or(0..0, |l| l.span.range());
            (
                d.code.to_string(),
                d.message.clone(),
                src.get(span).unwrap_or("?").to_string(),
                d.help.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn one(src: &str) -> (String, String, String, String) {
    let d = fails(src);
    assert_eq!(d.len(), 1, "{d:#?}");
    summary(src, &d).remove(0)
}

#[test]
fn aq0101_misspelled_flow_keyword() {
    let (code, msg, at, help) = one("flow x {\n  mode async\n  fom crm.changes(\"A\")\n}");
    assert_eq!(code, "AQ0101");
    assert_eq!(
        msg,
        "expected a step such as `map`, `where` or `to`, or `}`, found `fom`"
    );
    assert_eq!(at, "fom");
    assert_eq!(help, "did you mean `from`?");
}

#[test]
fn aq0101_unknown_flow_word_gets_the_flow_help() {
    let (_, msg, at, help) = one("flow x { zzz }");
    assert!(msg.starts_with("expected a step such as"), "{msg}");
    assert_eq!(at, "zzz");
    assert_eq!(
        help,
        "flow lines are `mode`, `from`, steps such as `where`/`map`/`to`, and policies such as `retry`"
    );
}

#[test]
fn aq0101_messages_in_user_words() {
    let cases = [
        (
            "type T { id string }",
            "expected `:`, found `string`",
            "string",
        ),
        (
            "flw x {}",
            "expected a declaration (`system`, `type`, `channel`, `flow` or `test`), found `flw`",
            "flw",
        ),
        ("flow x { where }", "expected an expression, found `}`", "}"),
        (
            "flow x { to erp.upsert\n retry 3 }",
            "expected `(`, found `retry`",
            "retry",
        ),
        (
            "flow x { mode asynch }",
            "expected a mode (`sync`, `async` or `batch`), found `asynch`",
            "asynch",
        ),
        ("flow {", "expected a name, found `{`", "{"),
        (
            "type T { a: }",
            "expected a type such as `string` or `[Line]`, found `}`",
            "}",
        ),
        ("test t { }", "expected `for`, found `{`", "{"),
        (
            "flow x { where .a ==",
            "expected an expression, found the end of the file",
            "=",
        ),
        ("system s: k { a 1 }", "expected `=`, found `1`", "1"),
    ];
    for (src, want, at) in cases {
        let (code, msg, span, _) = one(src);
        assert_eq!(
            (code.as_str(), msg.as_str(), span.as_str()),
            ("AQ0101", want, at),
            "for {src:?}"
        );
    }
}

#[test]
fn aq0101_never_names_grammar_rules() {
    for src in [
        "flow x { where ( }",
        "type { }",
        "system a: b { c = d { e } }",
        "flow x { route { when } }",
        "test t for f { expect erp: }",
        "x",
        "flow x { retry 3 backoff linear(1s) }",
    ] {
        for d in fails(src) {
            assert!(
                !d.message.contains('_') || d.message.contains("found `"),
                "{src:?}: {}",
                d.message
            );
            assert!(
                !d.message.contains("kw_") && !d.message.contains("step_kind"),
                "{src:?}: {}",
                d.message
            );
        }
    }
}

#[test]
fn aq0101_reports_one_error_per_declaration() {
    let src = "flow a { fom x }\nflow b { where 5x }\ntype ok { a: string }\ntype T { b string }\n";
    let got = summary(src, &fails(src));
    let codes: Vec<(&str, &str)> = got
        .iter()
        .map(|(c, _, at, _)| (c.as_str(), at.as_str()))
        .collect();
    assert_eq!(
        codes,
        [("AQ0101", "fom"), ("AQ0104", "x"), ("AQ0101", "string")]
    );
}

#[test]
fn aq0101_mode_timing_twice() {
    let (code, msg, at, _) = one("flow f { mode batch every 1m every 2m }");
    assert_eq!(
        (code.as_str(), msg.as_str(), at.as_str()),
        (
            "AQ0101",
            "this `mode` line sets its timing twice (`every`)",
            "every 2m"
        )
    );
}

#[test]
fn aq0102_unterminated_strings_point_at_the_quote() {
    let src = "system a: b {\n  x = \"abc\n}\n";
    let (code, msg, at, _) = one(src);
    assert_eq!(
        (code.as_str(), msg.as_str(), at.as_str()),
        ("AQ0102", "this string is never closed", "\"")
    );
    assert_eq!(fails(src)[0].primary().map(|l| l.span.start), Some(20));
    let (code, _, _, _) = one("flow f { where \"\"\"never closed }");
    assert_eq!(code, "AQ0102");
    let (code, _, _, _) = one("flow f { where \"a {.b");
    assert_eq!(code, "AQ0102");
    // A bad string in one declaration does not hide an error in the next.
    let src = "flow f { where \"oops }\nflow g { fom }\n";
    let codes: Vec<String> = summary(src, &fails(src)).into_iter().map(|s| s.0).collect();
    assert_eq!(codes, ["AQ0102", "AQ0101"]);
}

#[test]
fn aq0103_numbers_out_of_range() {
    let (code, msg, at, _) = one("flow f { where 9223372036854775808 }");
    assert_eq!(
        (code.as_str(), msg.as_str(), at.as_str()),
        (
            "AQ0103",
            "the integer `9223372036854775808` is too large",
            "9223372036854775808"
        )
    );
    ok("flow f { where 9223372036854775807 }");
    let (code, msg, _, _) = one("flow f { timeout 999999999999999999d }");
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("AQ0103", "the duration `999999999999999999d` is too large")
    );
    let (code, msg, _, help) = one("flow f { timeout 1.5s }");
    assert_eq!(
        (code.as_str(), msg.as_str(), help.as_str()),
        (
            "AQ0103",
            "a duration must be a whole number, not `1.5s`",
            "use a smaller unit: `1500ms` rather than `1.5s`"
        )
    );
}

#[test]
fn aq0104_unknown_units() {
    for (src, unit) in [
        ("5x", "x"),
        ("10mins", "mins"),
        ("1_x", "_x"),
        ("3kb", "kb"),
    ] {
        let text = format!("flow f {{ timeout {src} }}");
        let (code, msg, at, help) = one(&text);
        assert_eq!(
            (code.as_str(), msg, at.as_str()),
            ("AQ0104", format!("unknown unit `{unit}` in `{src}`"), unit)
        );
        assert!(help.contains("`ms`") && help.contains("`KiB`"), "{help}");
    }
}

#[test]
fn aq0105_unknown_escapes() {
    let (code, msg, at, help) = one(r#"flow f { where "a\qb" }"#);
    assert_eq!(
        (code.as_str(), msg.as_str(), at.as_str()),
        ("AQ0105", "unknown escape `\\q` in a string", "\\q")
    );
    assert!(help.contains("\\u{1F600}"));
    let (code, msg, at, _) = one(r#"flow f { where "\u{D800}" }"#);
    assert_eq!(
        (code.as_str(), msg.as_str(), at.as_str()),
        (
            "AQ0105",
            "`\\u{D800}` is not a valid Unicode escape",
            "\\u{D800}"
        )
    );
    let (code, _, _, _) = one(r#"flow f { where "\u{}" }"#);
    assert_eq!(code, "AQ0105");
}

#[test]
fn aq0107_dangling_doc_comments_warn() {
    let src = "/// orphan\n\n// plain\nflow f {\n  /// on a step\n  where .a\n}\n/// at the end";
    let p = parse(FileId(0), src);
    assert!(p.file.is_some(), "warnings do not stop the tree");
    let got = summary(src, &p.diagnostics);
    let spans: Vec<&str> = got.iter().map(|g| g.2.as_str()).collect();
    assert_eq!(spans, ["/// orphan", "/// on a step", "/// at the end"]);
    assert!(
        p.diagnostics
            .iter()
            .all(|d| d.code == codes::AQ0107 && d.severity == Severity::Warning)
    );
    assert_eq!(got[0].1, "this doc comment documents nothing");
}

#[test]
fn aq0108_file_too_large() {
    let big = " ".repeat(MAX_FILE_BYTES + 1);
    let p = parse(FileId(0), &big);
    assert!(p.file.is_none());
    assert_eq!(p.diagnostics.len(), 1);
    assert_eq!(p.diagnostics[0].code, codes::AQ0108);
}
