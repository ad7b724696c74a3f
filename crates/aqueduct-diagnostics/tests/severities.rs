//! Each severity as every renderer shows it: a note must read as a note in
//! all four formats (`note` in JSON and SARIF, `::notice` for GitHub, miette's
//! advice marker for people), never as a warning that CI would fail on.

use aqueduct_diagnostics::render::{
    HumanStyle, render_github, render_human, render_json, render_sarif,
};
use aqueduct_diagnostics::{Diagnostic, Severity, SourceMap, Span, codes};

/// One error, one warning and one note in one small file.
fn sample() -> (Vec<Diagnostic>, SourceMap) {
    let mut map = SourceMap::default();
    let file = map.add("a.aq", "flow x {\n  from bus.subscribe(\"e\") as E\n}\n");
    let span = Span::new(16, 35);
    let diags = vec![
        Diagnostic::error(codes::AQ0203, "an error").with_primary(file, span, "here"),
        Diagnostic::warning(codes::AQ0310, "a warning").with_primary(file, span, "here"),
        Diagnostic::note(codes::AQ0420, "a note")
            .with_primary(file, span, "here")
            .with_help("nothing to fix"),
    ];
    (diags, map)
}

#[test]
fn severities_order_errors_then_warnings_then_notes() {
    assert!(Severity::Error < Severity::Warning);
    assert!(Severity::Warning < Severity::Note);
    let (diags, _) = sample();
    assert!(diags[0].is_error() && !diags[0].is_warning());
    assert!(diags[1].is_warning() && !diags[1].is_error());
    assert!(!diags[2].is_error() && !diags[2].is_warning());
}

#[test]
fn json_says_note() {
    let (diags, map) = sample();
    let out: serde_json::Value = serde_json::from_str(&render_json(&diags, &map)).expect("JSON");
    let severities: Vec<&str> = out
        .as_array()
        .expect("an array")
        .iter()
        .map(|d| d["severity"].as_str().expect("severity"))
        .collect();
    assert_eq!(severities, ["error", "warning", "note"]);
}

#[test]
fn sarif_level_is_note() {
    let (diags, map) = sample();
    let out: serde_json::Value = serde_json::from_str(&render_sarif(&diags, &map)).expect("JSON");
    let levels: Vec<&str> = out["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["level"].as_str().expect("level"))
        .collect();
    assert_eq!(levels, ["error", "warning", "note"]);
}

#[test]
fn github_annotation_is_a_notice() {
    let (diags, map) = sample();
    let out = render_github(&diags, &map);
    let kinds: Vec<&str> = out
        .lines()
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["::error", "::warning", "::notice"]);
}

#[test]
fn human_draws_a_note_with_the_advice_marker() {
    let (diags, map) = sample();
    let plain = render_human(&diags[2..], &map, HumanStyle::Plain);
    assert!(plain.contains("AQ0420"), "{plain}");
    assert!(plain.contains("☞ a note"), "{plain}");
    assert!(!plain.contains('⚠') && !plain.contains('×'), "{plain}");
    // in colour the marker is cyan (ANSI 36), apart from the red error and
    // the yellow warning
    let color = render_human(&diags[2..], &map, HumanStyle::Color);
    assert!(color.contains("\u{1b}[36m☞"), "{color:?}");
}
