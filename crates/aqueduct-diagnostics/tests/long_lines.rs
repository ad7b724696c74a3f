//! The human renderer on labels far out on very long lines: miette pads
//! underlines with a formatting width that panics past 65,535, so labels
//! there are drawn from a window of the line. No input may panic.

use aqueduct_diagnostics::render::{HumanStyle, render_human};
use aqueduct_diagnostics::{Diagnostic, SourceMap, Span, codes};

fn render(text: &str, labels: &[(u32, u32)]) -> String {
    let mut map = SourceMap::default();
    let file = map.add("long.aq", text);
    let mut diag = Diagnostic::error(codes::AQ0101, "something is wrong here").with_help("fix it");
    for (i, (start, end)) in labels.iter().enumerate() {
        diag = if i == 0 {
            diag.with_primary(file, Span::new(*start, *end), "here")
        } else {
            diag.with_context(file, Span::new(*start, *end), "and here")
        };
    }
    render_human(&[diag], &map, HumanStyle::Plain)
}

#[test]
fn a_label_past_column_65535_renders_with_its_true_column() {
    let text = format!("flow x {{\n  from a {}@@@ }}\n", " ".repeat(70_000));
    let at = text.find("@@@").expect("marker") as u32;
    let out = render(&text, &[(at, at + 3)]);
    assert!(out.contains("something is wrong here"), "{out}");
    // line 2, the true column (1-based)
    let column = at as usize - text.find("  from").expect("line") + 1;
    assert!(out.contains(&format!("long.aq:2:{column}")), "{out}");
    assert!(out.contains("@@@"), "{out}");
    assert!(
        out.len() < 2_000,
        "the window is short: {} bytes",
        out.len()
    );
}

#[test]
fn huge_and_multi_line_labels_on_long_lines_do_not_panic() {
    let line = "é".repeat(100_000);
    let text = format!("{line}\n{line}\n{line}\n");
    let len = text.len() as u32;
    let l2 = 200_001;
    for labels in [
        vec![(0, len)],
        vec![(199_999, len - 3)],
        vec![(l2 + 150_000, l2 + 150_002), (3, 9)],
        vec![(l2 + 150_001, l2 + 150_001), (l2 + 100_000, l2 + 140_000)],
        vec![(len, len)],
        vec![(len - 1, len + 50)],
    ] {
        let out = render(&text, &labels);
        assert!(out.contains("something is wrong here"), "{labels:?}");
    }
}

#[test]
fn short_lines_render_as_before() {
    let text = "flow x {\n  from a\n}\n";
    let out = render(text, &[(11, 17)]);
    assert!(out.contains("long.aq:2:3"), "{out}");
    assert!(out.contains("from a"), "{out}");
}

#[test]
fn two_labels_far_apart_on_one_long_line_do_not_panic() {
    // found by the `render` fuzz target: the primary label near column
    // 67,641 and a context label at the start of the same 70,000-byte line
    // made miette pad past 65,535 in one snippet
    let text = " ".repeat(70_000);
    let out = render(&text, &[(67_641, 68_424), (0, 16_152)]);
    assert!(out.contains("something is wrong here"), "{out}");
    assert!(out.contains("long.aq:1:67642"), "{out}");
    assert!(out.contains("further along the line"), "{out}");
    assert!(out.contains("and here"), "{out}");
    let reversed = render(&text, &[(0, 4), (69_990, 69_995)]);
    assert!(reversed.contains("further along the line"), "{reversed}");
}
