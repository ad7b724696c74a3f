//! Parser tests: the examples of the language sketch, each construct,
//! spans, doc comments and comments. Expressions and literals are in
//! `tests/exprs.rs`, error codes in `tests/errors.rs`, robustness (proptest,
//! deep nesting) in `tests/robust.rs`.

mod errors;
mod exprs;
mod robust;

use super::parse;
use crate::ast::*;
use aqueduct_diagnostics::{Diagnostic, FileId};

/// Parses `src`, asserting it has no diagnostics at all.
pub(super) fn ok(src: &str) -> File {
    let p = parse(FileId(0), src);
    assert!(
        p.diagnostics.is_empty(),
        "unexpected diagnostics for {src:?}: {:#?}",
        p.diagnostics
    );
    p.file.expect("a tree")
}

/// The diagnostics of `src`, which must not parse.
pub(super) fn fails(src: &str) -> Vec<Diagnostic> {
    let p = parse(FileId(0), src);
    assert!(p.file.is_none(), "{src:?} should not parse");
    p.diagnostics
}

/// The steps of the only flow in `f`.
fn steps(f: &File) -> Vec<&StepKind> {
    let Some(Decl::Flow(flow)) = f.decls.first() else {
        panic!("not a flow")
    };
    flow.items
        .iter()
        .filter_map(|i| {
            if let FlowItem::Step(s) = i {
                Some(&s.kind)
            } else {
                None
            }
        })
        .collect()
}

/// The expression of `where SRC`.
pub(super) fn expr(src: &str) -> Expr {
    let f = ok(&format!("flow f {{ where {src} }}"));
    match steps(&f).first() {
        Some(StepKind::Where(e)) => e.clone(),
        other => panic!("not a where step: {other:?}"),
    }
}

const SKETCH: &str = include_str!("tests/sketch.aq");

#[test]
fn sketch_main_example_parses() {
    let f = ok(SKETCH);
    let names: Vec<&str> = f.decls.iter().map(|d| d.name().name.as_str()).collect();
    assert_eq!(
        names,
        [
            "crm",
            "erp",
            "Account",
            "Customer",
            "accounts_to_erp",
            "gold_accounts",
            "small_accounts_are_dropped"
        ]
    );
    insta::assert_yaml_snapshot!("sketch", crate::strip_spans(&f));
}

#[test]
fn sketch_fragments_parse() {
    ok("type Order { id: string, amount: decimal }");
    ok("type T { \"Billing City\": string, items: [Line]?, tags: [string?] }");
    ok(
        "system out: stdio\nsystem files: file { root = \"data\", formats = [csv, json], level = env(\"L\", \"info\") }",
    );
    ok("channel orders: Order\nchannel bus: Order via nats.publish(\"orders\", durable: true)");
    let f = ok(
        "flow f { from files.read(\"in.csv\", format: csv) to rates.get(\"/rates/{.currency}\") }",
    );
    let Some(Decl::Flow(flow)) = f.decls.first() else {
        panic!()
    };
    assert_eq!(flow.items.len(), 2);
}

#[test]
fn every_step_and_policy() {
    let f = ok(r#"
flow everything {
  mode batch every 15m chunk 500
  from db.query("select 1") as Row
  where .ok
  let total = .a + .b
  enrich customer = crm.get("Account", .id) as Account
  split .lines as Line
  batch 100 within 5s
  dedupe by .id within 1h
  tap file("audit").append("a.jsonl")
  route {
    when .total > 100 => to big
    when .total > 10 => { map Small { ... } to small }
    else => reply { status = "ignored" }
  }
  map Out { id = .id, "Odd Name" = $customer.Name, ... }
  to erp.upsert("t", key: [id])
  reply Ack { ok = true }
  retry 3 backoff fixed(2s)
  timeout 30s
  dead_letter dlq
  rate_limit 10 per 1s
  concurrency 4
  circuit_breaker { failures = 5, reset = 1m }
}"#);
    let Some(Decl::Flow(flow)) = f.decls.first() else {
        panic!()
    };
    assert_eq!(flow.items.len(), 19);
    let FlowItem::Mode(m) = &flow.items[0] else {
        panic!()
    };
    assert_eq!(m.kind, ModeKind::Batch);
    assert!(matches!(m.schedule, Some(Schedule::Every(_))));
    assert!(m.chunk.is_some());
    let s = steps(&f);
    let StepKind::Route(arms) = s[7] else {
        panic!("{:?}", s[7])
    };
    assert_eq!(arms.len(), 3);
    assert!(!arms[0].braced && arms[1].braced && arms[2].condition.is_none());
    assert_eq!(arms[1].steps.len(), 2);
    let StepKind::Tap(Endpoint::Op(call)) = s[6] else {
        panic!()
    };
    assert!(
        matches!(&call.target, CallTarget::Inline { kind, args, .. } if kind.name == "file" && args.len() == 1)
    );
}

#[test]
fn mode_clauses_in_either_order() {
    let f = ok("flow f { mode batch chunk 10 schedule \"0 2 * * *\" }");
    let Some(Decl::Flow(flow)) = f.decls.first() else {
        panic!()
    };
    let FlowItem::Mode(m) = &flow.items[0] else {
        panic!()
    };
    assert!(matches!(m.schedule, Some(Schedule::Cron(_))) && m.chunk.is_some());
    ok("flow f { mode sync\n from api.post(\"/x\") reply . }");
}

#[test]
fn test_items() {
    let f = ok(r#"
test t for f {
  given Account { Id = "1" }
  stub crm.get("Account", "1") => { Name = "x" }
  expect nothing
  expect reply { status = "ok" }
  expect error "timeout"
  expect erp: Customer { id = "1" }
  expect erp.upsert: { id = "1" }
}"#);
    let Some(Decl::Test(t)) = f.decls.first() else {
        panic!()
    };
    assert_eq!(t.flow.name, "f");
    let whats: Vec<String> = t
        .items
        .iter()
        .map(|i| match i {
            TestItem::Given { .. } => "given".into(),
            TestItem::Stub { .. } => "stub".into(),
            TestItem::Expect { target, what, .. } => format!(
                "{}:{}",
                target.as_ref().map_or(String::new(), |t| format!(
                    "{}.{}",
                    t.name.name,
                    t.op.as_ref().map_or("", |o| &o.name)
                )),
                match what {
                    Expectation::Nothing => "nothing",
                    Expectation::Reply(..) => "reply",
                    Expectation::Error(_) => "error",
                    Expectation::Record(_) => "record",
                }
            ),
        })
        .collect();
    assert_eq!(
        whats,
        [
            "given",
            "stub",
            ":nothing",
            ":reply",
            ":error",
            "erp.:record",
            "erp.upsert:record"
        ]
    );
}

#[test]
fn spans_cover_exactly_their_text() {
    let src = "flow f {\n  where .a + 1   \n}  ";
    let f = ok(src);
    let d = &f.decls[0];
    assert_eq!(&src[d.span().range()], "flow f {\n  where .a + 1   \n}");
    assert_eq!(&src[d.name().span.range()], "f");
    let Decl::Flow(flow) = d else { panic!() };
    let FlowItem::Step(step) = &flow.items[0] else {
        panic!()
    };
    assert_eq!(&src[step.span.range()], "where .a + 1");
    let StepKind::Where(e) = &step.kind else {
        panic!()
    };
    assert_eq!(&src[e.span.range()], ".a + 1");
    let ExprKind::Binary {
        op_span, lhs, rhs, ..
    } = &e.kind
    else {
        panic!()
    };
    assert_eq!(
        (
            &src[op_span.range()],
            &src[lhs.span.range()],
            &src[rhs.span.range()]
        ),
        ("+", ".a", "1")
    );
    assert_eq!(f.span.range(), 0..src.len());

    let src = "type T { \"A b\": string? }";
    let f = ok(src);
    let Decl::Type(t) = &f.decls[0] else { panic!() };
    assert_eq!(&src[t.fields[0].span.range()], "\"A b\": string?");
    assert_eq!(&src[t.fields[0].name.span.range()], "\"A b\"");
    assert!(t.fields[0].name.quoted && t.fields[0].ty.optional);
    assert_eq!(&src[t.fields[0].ty.span.range()], "string?");
}

#[test]
fn doc_comments_attach() {
    let src = "/// The CRM.\n///   indented\nsystem crm: salesforce\ntype T {\n  /// The id.\n  id: string\n  //// not a doc\n  name: string\n}\n";
    let p = parse(FileId(0), src);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let f = p.file.expect("tree");
    let doc = f.decls[0].doc().expect("doc");
    assert_eq!(doc.lines, ["The CRM.", "  indented"]);
    assert_eq!(&src[doc.span.range()], "/// The CRM.\n///   indented");
    assert_eq!(
        f.decls[0].span().start,
        0,
        "the declaration span includes its doc"
    );
    let Decl::Type(t) = &f.decls[1] else { panic!() };
    assert_eq!(
        t.fields[0].doc.as_ref().map(|d| d.lines.clone()),
        Some(vec!["The id.".to_string()])
    );
    assert_eq!(&src[t.fields[0].span.range()], "id: string");
    assert!(t.fields[1].doc.is_none());
    assert_eq!(f.comments.len(), 1);
    assert_eq!(f.comments[0].text, "// not a doc");
    assert_eq!(&src[f.comments[0].span.range()], "//// not a doc");
}

#[test]
fn comments_are_collected() {
    let src = "// head\r\nflow f { // trailing\n  where .a // after\n}\n";
    let f = ok(src);
    let texts: Vec<&str> = f.comments.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, [" head", " trailing", " after"]);
    assert_eq!(&src[f.comments[0].span.range()], "// head");
}
