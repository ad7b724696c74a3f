//! Unit tests on hand-built trees (the golden and property tests on real
//! text are in `tests/fmt.rs` and `tests/fmt_props.rs`).

use super::format;
use crate::ast::*;
use aqueduct_diagnostics::Span;

fn sp() -> Span {
    Span::default()
}

fn id(name: &str) -> Ident {
    Ident {
        name: name.to_string(),
        span: sp(),
    }
}

fn e(kind: ExprKind) -> Expr {
    Expr { kind, span: sp() }
}

fn int(v: i64) -> Expr {
    e(ExprKind::Lit(Lit::Int {
        text: v.to_string(),
        value: v,
    }))
}

fn text(s: &str) -> Expr {
    e(ExprKind::Str(StrLit {
        parts: vec![StrPart::Text(s.to_string())],
        triple: false,
    }))
}

fn field(name: &str) -> Expr {
    let name = FieldName {
        name: name.to_string(),
        quoted: false,
        span: sp(),
    };
    e(ExprKind::Path(Path {
        root: PathRoot::Record,
        segments: vec![PathSegment::Field(name)],
    }))
}

fn bin(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    e(ExprKind::Binary {
        op,
        op_span: sp(),
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
    })
}

fn not(x: Expr) -> Expr {
    e(ExprKind::Unary {
        op: UnaryOp::Not,
        op_span: sp(),
        expr: Box::new(x),
    })
}

fn named(name: &str) -> TypeExpr {
    TypeExpr {
        kind: TypeExprKind::Named(id(name)),
        optional: false,
        span: sp(),
    }
}

fn file(decls: Vec<Decl>) -> File {
    File {
        decls,
        comments: Vec::new(),
        span: sp(),
    }
}

fn flow(items: Vec<FlowItem>) -> File {
    file(vec![Decl::Flow(FlowDecl {
        doc: None,
        name: id("f"),
        items,
        span: sp(),
    })])
}

fn step(kind: StepKind) -> FlowItem {
    FlowItem::Step(Step { kind, span: sp() })
}

fn opt(name: &str, value: Expr) -> OptionEntry {
    OptionEntry {
        name: id(name),
        value: OptionValue::Expr(value),
        span: sp(),
    }
}

fn record(ty: &str, entries: Vec<(&str, Expr)>) -> RecordLit {
    let entries = entries
        .into_iter()
        .map(|(n, value)| RecordEntry::Field {
            name: FieldName {
                name: n.to_string(),
                quoted: false,
                span: sp(),
            },
            value,
            span: sp(),
        })
        .collect();
    RecordLit {
        ty: Some(id(ty)),
        entries,
        span: sp(),
    }
}

/// Formats a flow with one `where` step and returns the expression's text.
fn where_text(x: Expr) -> String {
    let out = format(&flow(vec![step(StepKind::Where(x))]), "");
    out.trim_start_matches("flow f {\n  where ")
        .trim_end_matches("\n}\n")
        .to_string()
}

#[test]
fn empty_file_formats_to_nothing() {
    assert_eq!(format(&file(vec![]), ""), "");
}

#[test]
fn systems_with_and_without_options() {
    let nested = OptionBlock {
        kind: Some(id("bearer")),
        options: vec![opt("token", int(1))],
        span: sp(),
    };
    let auth = OptionEntry {
        name: id("auth"),
        value: OptionValue::Block(nested),
        span: sp(),
    };
    let crm = SystemDecl {
        doc: Some(Doc {
            lines: vec!["The CRM.".into(), String::new()],
            span: sp(),
        }),
        name: id("crm"),
        kind: id("salesforce"),
        options: vec![opt("url", text("x")), auth],
        span: sp(),
    };
    let out = SystemDecl {
        doc: None,
        name: id("out"),
        kind: id("stdio"),
        options: vec![],
        span: sp(),
    };
    let got = format(&file(vec![Decl::System(crm), Decl::System(out)]), "");
    let want = "/// The CRM.\n///\nsystem crm: salesforce {\n  url = \"x\"\n  auth = bearer {\n    token = 1\n  }\n}\n\nsystem out: stdio\n";
    assert_eq!(got, want);
}

#[test]
fn type_fields_quote_names_that_are_not_identifiers() {
    let list = TypeExpr {
        kind: TypeExprKind::List(Box::new(named("Line"))),
        optional: true,
        span: sp(),
    };
    let f = |name: &str, quoted: bool, ty: TypeExpr| FieldDecl {
        doc: None,
        name: FieldName {
            name: name.to_string(),
            quoted,
            span: sp(),
        },
        ty,
        span: sp(),
    };
    let t = TypeDecl {
        doc: None,
        name: id("T"),
        fields: vec![
            f("id", false, named("string")),
            f("Billing City", false, list),
            f("q", true, named("int")),
        ],
        span: sp(),
    };
    let empty = TypeDecl {
        doc: None,
        name: id("E"),
        fields: vec![],
        span: sp(),
    };
    let got = format(&file(vec![Decl::Type(t), Decl::Type(empty)]), "");
    assert_eq!(
        got,
        "type T {\n  id: string\n  \"Billing City\": [Line]?\n  \"q\": int\n}\n\ntype E {}\n"
    );
}

#[test]
fn flow_items_keep_their_order_and_policies_stay_on_one_line() {
    let mode = ModeDecl {
        kind: ModeKind::Batch,
        kind_span: sp(),
        schedule: Some(Schedule::Cron(text("0 2 * * *"))),
        chunk: Some(int(500)),
        span: sp(),
    };
    let dur = |t: &str| {
        e(ExprKind::Lit(Lit::Duration {
            text: t.to_string(),
            millis: 0,
        }))
    };
    let policy = |kind| FlowItem::Policy(Policy { kind, span: sp() });
    let backoff = Backoff::Exponential {
        base: dur("1s"),
        max: dur("1m"),
        span: sp(),
    };
    let items = vec![
        policy(PolicyKind::Retry {
            attempts: int(5),
            backoff: Some(backoff),
        }),
        FlowItem::Mode(mode),
        step(StepKind::Dedupe {
            by: field("id"),
            within: Some(dur("1h")),
        }),
        policy(PolicyKind::CircuitBreaker(vec![
            opt("failures", int(5)),
            opt("reset", dur("30s")),
        ])),
        step(StepKind::To(Endpoint::Channel(id("out")))),
    ];
    let got = format(&flow(items), "");
    let want = "flow f {\n  retry 5 backoff exponential(1s, 1m)\n  mode batch schedule \"0 2 * * *\" chunk 500\n  dedupe by .id within 1h\n  circuit_breaker { failures = 5, reset = 30s }\n  to out\n}\n";
    assert_eq!(got, want);
}

#[test]
fn route_arms_single_and_braced() {
    let to = |name: &str| Step {
        kind: StepKind::To(Endpoint::Channel(id(name))),
        span: sp(),
    };
    let arm = |condition, steps, braced| RouteArm {
        condition,
        steps,
        braced,
        span: sp(),
    };
    let arms = vec![
        arm(Some(field("a")), vec![to("x")], false),
        arm(Some(field("b")), vec![to("y"), to("z")], true),
        arm(None, vec![], true),
    ];
    let got = format(&flow(vec![step(StepKind::Route(arms))]), "");
    let want = "flow f {\n  route {\n    when .a => to x\n    when .b => {\n      to y\n      to z\n    }\n    else => {}\n  }\n}\n";
    assert_eq!(got, want);
}

#[test]
fn parentheses_are_added_where_a_hand_built_tree_needs_them() {
    use BinaryOp::*;
    let (a, b, c) = (field("a"), field("b"), field("c"));
    assert_eq!(
        where_text(bin(Mul, bin(Add, a.clone(), b.clone()), c.clone())),
        "(.a + .b) * .c"
    );
    assert_eq!(
        where_text(bin(Sub, a.clone(), bin(Sub, b.clone(), c.clone()))),
        ".a - (.b - .c)"
    );
    assert_eq!(
        where_text(bin(Sub, bin(Sub, a.clone(), b.clone()), c.clone())),
        ".a - .b - .c"
    );
    assert_eq!(
        where_text(bin(Eq, not(a.clone()), b.clone())),
        "(not .a) == .b"
    );
    assert_eq!(
        where_text(not(bin(Eq, a.clone(), b.clone()))),
        "not .a == .b"
    );
    assert_eq!(
        where_text(not(bin(And, a.clone(), b.clone()))),
        "not (.a and .b)"
    );
    assert_eq!(
        where_text(bin(Or, bin(And, a.clone(), not(b.clone())), c.clone())),
        ".a and not .b or .c"
    );
    let paren = e(ExprKind::Paren(Box::new(bin(Mul, a, b))));
    assert_eq!(where_text(bin(Add, paren, c)), "(.a * .b) + .c");
}

#[test]
fn strings_are_re_escaped() {
    let s = StrLit {
        parts: vec![
            StrPart::Text("a\"b\\c\nd\te{f}".into()),
            StrPart::Expr(field("x")),
        ],
        triple: false,
    };
    assert_eq!(
        where_text(e(ExprKind::Str(s))),
        r#""a\"b\\c\nd\te\{f\}{.x}""#
    );
}

#[test]
fn long_records_break_one_entry_per_line() {
    let long = "x".repeat(40);
    let r = record("T", vec![("a", text(&long)), ("b", text(&long))]);
    let got = format(
        &flow(vec![step(StepKind::Reply(None, e(ExprKind::Record(r))))]),
        "",
    );
    let want =
        format!("flow f {{\n  reply T {{\n    a = \"{long}\"\n    b = \"{long}\"\n  }}\n}}\n");
    assert_eq!(got, want);
    let short = record("T", vec![("a", int(1)), ("b", int(2))]);
    assert_eq!(where_text(e(ExprKind::Record(short))), "T { a = 1, b = 2 }");
}

#[test]
fn triple_strings_are_indented_one_level_deeper() {
    let sql = StrLit {
        parts: vec![StrPart::Text("SELECT 1\n  FROM t\n".into())],
        triple: true,
    };
    let got = format(
        &flow(vec![step(StepKind::Let {
            name: id("q"),
            value: e(ExprKind::Str(sql)),
        })]),
        "",
    );
    assert_eq!(
        got,
        "flow f {\n  let q = \"\"\"\n    SELECT 1\n      FROM t\n    \"\"\"\n}\n"
    );
    let one = StrLit {
        parts: vec![StrPart::Text("SELECT 1".into())],
        triple: true,
    };
    assert_eq!(where_text(e(ExprKind::Str(one))), "\"\"\"SELECT 1\"\"\"");
}

#[test]
fn comments_are_placed_by_span() {
    let src = "type T {} // a\n// b\n\n\n// c\n";
    let at = |s: u32, e: u32| Span::new(s, e);
    let comment = |t: &str, s, e| Comment {
        text: t.to_string(),
        span: at(s, e),
    };
    let t = TypeDecl {
        doc: None,
        name: id("T"),
        fields: vec![],
        span: at(0, 9),
    };
    let f = File {
        decls: vec![Decl::Type(t)],
        comments: vec![
            comment(" a", 10, 14),
            comment(" b", 15, 19),
            comment(" c", 22, 26),
        ],
        span: at(0, 27),
    };
    assert_eq!(format(&f, src), "type T {} // a\n// b\n\n// c\n");
}
