//! Text that nests and then breaks off (`f(f(f(…`, `((((…`, a fuzz
//! finding) is reported as a syntax error after work that grows with the
//! nesting, not exponentially: each form of an expression is tried at most
//! once at a spot. Before the fix, pest's path took 0.9 s for 18 levels of
//! `f(` and about 1.6 times as long for each level more; at 60 levels it
//! would not finish in a lifetime, and now takes milliseconds.
//!
//! The limit below guards against a hang; it is not a timing assertion
//! (the fixed parse is about ten thousand times faster than the limit).

use aqueduct_diagnostics::FileId;
use std::sync::mpsc;
use std::time::Duration;

/// Far above the milliseconds the parse takes on a loaded machine, far
/// below what exponential work at 60 levels would take.
const HANG_LIMIT: Duration = Duration::from_secs(60);

fn flow_where(expr: &str) -> String {
    format!("flow f {{\n  mode batch\n  from file(\"a\").read(\"b\")\n  where {expr}\n}}\n")
}

#[test]
fn broken_off_nesting_is_a_syntax_error_without_exponential_work() {
    let mut texts: Vec<String> = Vec::new();
    for pattern in [
        "(", "f(", "f(x, ", "f(a: ", "[", "{a = ", "T {a = ", "if x { ", "-(", "not (", "f(a)(",
        "\"{", "x ?? (",
    ] {
        texts.push(flow_where(&pattern.repeat(60)));
    }
    // the fuzz finding: an option value in a system block
    texts.push(format!(
        "system\rJ:JJJ0JJ\rsystem\rJ:JJJ{{JJ\t=0JeeJeJJeJJK/-KKk{}f\r",
        "(".repeat(60)
    ));
    for text in texts {
        let (tx, rx) = mpsc::channel();
        let shown = text.clone();
        std::thread::spawn(move || {
            // the pest path: the one every syntax error takes
            let parsed = aqueduct_syntax::differential::parse_pest(FileId(0), &text);
            let _ = tx.send(parsed.diagnostics.iter().any(|d| d.is_error()));
        });
        match rx.recv_timeout(HANG_LIMIT) {
            Ok(has_error) => assert!(has_error, "a syntax error in {shown:?}"),
            Err(_) => panic!("parsing {shown:?} did not end within {HANG_LIMIT:?}"),
        }
    }
}
