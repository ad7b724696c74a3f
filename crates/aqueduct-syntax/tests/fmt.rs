//! Golden tests of the formatter: each `tests/fmt/NAME.aq` is formatted and
//! compared with `tests/fmt/NAME.expected.aq`.
//!
//! Run with `UPDATE_GOLDEN=1` to write the expected files after a deliberate
//! layout change (then review the diff). Every case also checks the three
//! formatter properties: the output parses to the same tree, formatting it
//! again changes nothing, and no comment is lost or duplicated.

use aqueduct_diagnostics::FileId;
use aqueduct_syntax::{ast, format, parse, strip_spans};
use std::path::{Path, PathBuf};

/// Parses `text`, failing the test with the diagnostics when it does not.
fn parse_ok(text: &str, what: &str) -> ast::File {
    let parsed = parse(FileId(0), text);
    match parsed.file {
        Some(file) => file,
        None => panic!(
            "{what} does not parse: {:#?}\n--- text ---\n{text}",
            parsed.diagnostics
        ),
    }
}

/// The comment texts of a file, sorted (a multiset).
fn comment_texts(file: &ast::File) -> Vec<String> {
    let mut texts: Vec<String> = file.comments.iter().map(|c| c.text.clone()).collect();
    texts.sort();
    texts
}

/// Formats `text` and checks the formatter's properties; returns the output.
fn format_checked(text: &str, name: &str) -> String {
    let file = parse_ok(text, name);
    let out = format(&file, text);
    let again = parse_ok(&out, &format!("the formatted {name}"));
    assert_eq!(
        strip_spans(&file),
        strip_spans(&again),
        "{name}: formatting changed the tree\n{out}"
    );
    assert_eq!(
        comment_texts(&file),
        comment_texts(&again),
        "{name}: comments lost or duplicated\n{out}"
    );
    assert_eq!(
        format(&again, &out),
        out,
        "{name}: formatting is not idempotent"
    );
    assert!(
        out.is_empty() || (out.ends_with('\n') && !out.ends_with("\n\n")),
        "{name}: bad final newline"
    );
    out
}

fn golden_inputs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fmt");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fmt exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "aq")
                && !p.to_string_lossy().ends_with(".expected.aq")
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn fmt_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let inputs = golden_inputs();
    assert!(inputs.len() >= 9, "the golden inputs are missing");
    let mut failures = Vec::new();
    for input in inputs {
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&input).expect("readable input");
        let out = format_checked(&text, &name);
        let expected_path = input.with_extension("expected.aq");
        if update {
            std::fs::write(&expected_path, &out).expect("writable expected file");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if out != expected {
            failures.push(format!("--- {name}: expected\n{expected}\n--- got\n{out}"));
        }
        // The expected output is itself canonical.
        assert_eq!(
            format_checked(&expected, &name),
            expected,
            "{name}: expected file is not canonical"
        );
    }
    assert!(
        failures.is_empty(),
        "{}\n(run with UPDATE_GOLDEN=1 to accept)",
        failures.join("\n")
    );
}

#[test]
fn fmt_crlf_input_formats_like_lf() {
    for name in ["big_example.aq", "comments.aq", "route.aq"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fmt")
            .join(name);
        let text = std::fs::read_to_string(&path).expect("readable input");
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(
            format_checked(&crlf, name),
            format_checked(&text, name),
            "{name} with CRLF"
        );
    }
}
