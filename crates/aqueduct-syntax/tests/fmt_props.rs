//! Property tests of the formatter.
//!
//! - Random trees (systems, types, channels, flows with steps and policies,
//!   tests; expressions with every operator, prefix operators, parentheses,
//!   strings with escapes and interpolation, `"""` strings, paths, records,
//!   lists and `if`) are formatted, parsed back and compared with spans
//!   stripped; formatting the parsed result again changes nothing.
//! - Comments inserted at random line ends and on their own lines of a
//!   formatted file, whose lines are then partly joined and unindented,
//!   all survive formatting, once each, and the other properties hold.
//! - Every `.aq` file under `examples/` and `tests/fmt/` satisfies the same
//!   properties.
//!
//! The generator builds the trees the parser builds: where precedence
//! needs them it wraps operands in `Paren`, adjacent string pieces are
//! merged, and a `"""` text is already dedented.

use aqueduct_diagnostics::{FileId, Span};
use aqueduct_syntax::ast::*;
use aqueduct_syntax::{format, parse, strip_spans};
use proptest::prelude::*;
use proptest::sample::select;
use std::path::Path as FsPath;

// ------------------------------------------------------------- checking

fn parse_ok(text: &str) -> Result<File, String> {
    let parsed = parse(FileId(0), text);
    parsed.file.ok_or_else(|| {
        format!(
            "does not parse: {:#?}\n--- text ---\n{text}",
            parsed.diagnostics
        )
    })
}

fn comment_texts(file: &File) -> Vec<String> {
    let mut texts: Vec<String> = file.comments.iter().map(|c| c.text.clone()).collect();
    texts.sort();
    texts
}

/// The three properties for a parsed `file` of `text`.
fn check(file: &File, text: &str) -> Result<String, String> {
    let out = format(file, text);
    let again = parse_ok(&out)?;
    if strip_spans(file) != strip_spans(&again) {
        return Err(format!("the tree changed:\n--- formatted ---\n{out}"));
    }
    if comment_texts(file) != comment_texts(&again) {
        return Err(format!(
            "comments lost or duplicated:\n--- formatted ---\n{out}"
        ));
    }
    let twice = format(&again, &out);
    if twice != out {
        return Err(format!(
            "not idempotent:\n--- once ---\n{out}\n--- twice ---\n{twice}"
        ));
    }
    Ok(out)
}

fn aq_files(dir: &FsPath, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            aq_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "aq") {
            out.push(path);
        }
    }
}

#[test]
fn fmt_examples_and_golden_inputs_keep_the_properties() {
    let root = FsPath::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    aq_files(&root.join("../../examples"), &mut files);
    aq_files(&root.join("tests/fmt"), &mut files);
    assert!(!files.is_empty());
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        let file = match parse_ok(&text) {
            Ok(file) => file,
            // Examples of errors are not the formatter's business.
            Err(_) if !path.starts_with(root.join("tests/fmt")) => continue,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        if let Err(e) = check(&file, &text) {
            panic!("{}: {e}", path.display());
        }
    }
}

// ------------------------------------------------------------ generating

fn sp() -> Span {
    Span::default()
}

fn id(name: &str) -> Ident {
    Ident {
        name: name.to_string(),
        span: sp(),
    }
}

fn ex(kind: ExprKind) -> Expr {
    Expr { kind, span: sp() }
}

fn name() -> impl Strategy<Value = String> {
    select(vec![
        "id", "name", "city", "amount", "x1", "_tmp", "Account", "where", "map",
    ])
    .prop_map(String::from)
}

fn value_name() -> impl Strategy<Value = String> {
    select(vec!["csv", "jsonl", "upsert", "gold", "Tier"]).prop_map(String::from)
}

fn field_name() -> impl Strategy<Value = FieldName> {
    prop_oneof![
        3 => name().prop_map(|n| FieldName { name: n, quoted: false, span: sp() }),
        1 => select(vec!["Billing City", "a\"b", "x{y}", "id", "back\\slash"])
            .prop_map(|n| FieldName { name: n.to_string(), quoted: true, span: sp() }),
    ]
}

fn type_expr() -> impl Strategy<Value = TypeExpr> {
    let leaf = (
        select(vec!["string", "int", "decimal", "Account"]),
        any::<bool>(),
    )
        .prop_map(|(n, optional)| TypeExpr {
            kind: TypeExprKind::Named(id(n)),
            optional,
            span: sp(),
        });
    leaf.prop_recursive(2, 4, 1, |inner| {
        (inner, any::<bool>()).prop_map(|(t, optional)| TypeExpr {
            kind: TypeExprKind::List(Box::new(t)),
            optional,
            span: sp(),
        })
    })
}

fn literal() -> impl Strategy<Value = Expr> {
    prop_oneof![
        Just(Lit::Null),
        any::<bool>().prop_map(Lit::Bool),
        select(vec![("0", 0), ("42", 42), ("10_000", 10_000), ("007", 7)]).prop_map(|(t, v)| {
            Lit::Int {
                text: t.to_string(),
                value: v,
            }
        }),
        select(vec!["12.50", "0.1"]).prop_map(|t| Lit::Decimal(t.to_string())),
        select(vec![("250ms", 250), ("30s", 30_000), ("1d", 86_400_000)]).prop_map(|(t, v)| {
            Lit::Duration {
                text: t.to_string(),
                millis: v,
            }
        }),
        select(vec![("64KiB", 65_536), ("512B", 512)]).prop_map(|(t, v)| Lit::Size {
            text: t.to_string(),
            bytes: v
        }),
    ]
    .prop_map(|l| ex(ExprKind::Lit(l)))
}

fn path() -> impl Strategy<Value = Expr> {
    let seg = prop_oneof![
        3 => field_name().prop_map(PathSegment::Field),
        1 => literal().prop_map(PathSegment::Index),
    ];
    let root = prop_oneof![
        Just(PathRoot::Record),
        name().prop_map(|n| PathRoot::Binding(id(&n)))
    ];
    (root, prop::collection::vec(seg, 0..3)).prop_map(|(root, mut segments)| {
        // `.[0]` is not a path: a record path starts with a field.
        while matches!(root, PathRoot::Record)
            && matches!(segments.first(), Some(PathSegment::Index(_)))
        {
            segments.remove(0);
        }
        ex(ExprKind::Path(Path { root, segments }))
    })
}

/// Text with the characters a string must escape.
fn text_piece() -> impl Strategy<Value = String> {
    prop::collection::vec(
        select(vec![
            "a", "Z", " ", "\"", "\\", "{", "}", "\n", "\t", "é", "//", "$",
        ]),
        1..6,
    )
    .prop_map(|v| v.concat())
}

fn string(interp: BoxedStrategy<Expr>) -> impl Strategy<Value = Expr> {
    let part = prop_oneof![
        2 => text_piece().prop_map(StrPart::Text),
        1 => interp.prop_map(StrPart::Expr),
    ];
    prop::collection::vec(part, 0..4).prop_map(|raw| {
        let mut parts: Vec<StrPart> = Vec::new();
        for p in raw {
            match (parts.last_mut(), p) {
                (Some(StrPart::Text(t)), StrPart::Text(more)) => t.push_str(&more),
                (_, p) => parts.push(p),
            }
        }
        ex(ExprKind::Str(StrLit {
            parts,
            triple: false,
        }))
    })
}

/// A dedented `"""` text: one line starts at column 0, no line is only
/// spaces at the end, and it does not end with `"` on its last line.
fn triple() -> impl Strategy<Value = Expr> {
    let line = (
        select(vec!["", "  ", "    ", "\t"]),
        select(vec!["SELECT *", "FROM t", "a \"q\" b", "", "{x} // y"]),
    );
    (prop::collection::vec(line, 1..5), any::<bool>()).prop_map(|(lines, newline_at_end)| {
        let mut lines: Vec<String> = lines
            .into_iter()
            .map(|(ind, t)| {
                if t.is_empty() {
                    String::new()
                } else {
                    format!("{ind}{t}")
                }
            })
            .collect();
        if let Some(first) = lines.iter_mut().find(|l| !l.trim().is_empty()) {
            *first = first.trim_start().to_string();
        }
        let mut text = lines.join("\n");
        if newline_at_end {
            text.push('\n');
        }
        let parts = if text.is_empty() {
            vec![]
        } else {
            vec![StrPart::Text(text)]
        };
        ex(ExprKind::Str(StrLit {
            parts,
            triple: true,
        }))
    })
}

fn leaf() -> BoxedStrategy<Expr> {
    prop_oneof![
        3 => literal(),
        3 => path(),
        1 => value_name().prop_map(|n| ex(ExprKind::Ident(id(&n)))),
        1 => string(path().boxed()),
        1 => triple(),
    ]
    .boxed()
}

const OPS: [BinaryOp; 15] = [
    BinaryOp::Or,
    BinaryOp::And,
    BinaryOp::Eq,
    BinaryOp::Ne,
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
    BinaryOp::In,
    BinaryOp::Coalesce,
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Rem,
];

/// `not` takes every following operator of this precedence or tighter.
const NOT_PREC: u8 = 3;

fn paren(e: Expr) -> Expr {
    ex(ExprKind::Paren(Box::new(e)))
}

/// True when the text of `e` ends with a `not` operand that would swallow
/// a following operator.
fn right_edge_not(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => true,
        ExprKind::Unary { expr, .. } => right_edge_not(expr),
        ExprKind::Binary { rhs, .. } => right_edge_not(rhs),
        _ => false,
    }
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let p = op.precedence();
    let lhs = match &lhs.kind {
        ExprKind::Binary { op: l, .. } if l.precedence() < p => paren(lhs),
        _ if p >= NOT_PREC && right_edge_not(&lhs) => paren(lhs),
        _ => lhs,
    };
    let rhs = match &rhs.kind {
        ExprKind::Binary { op: r, .. } if r.precedence() <= p => paren(rhs),
        _ => rhs,
    };
    ex(ExprKind::Binary {
        op,
        op_span: sp(),
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
    })
}

fn unary(op: UnaryOp, operand: Expr) -> Expr {
    let wrap = match (&operand.kind, op) {
        (ExprKind::Binary { .. }, UnaryOp::Neg) => true,
        (ExprKind::Binary { op, .. }, UnaryOp::Not) => op.precedence() < NOT_PREC,
        _ => false,
    };
    let operand = if wrap { paren(operand) } else { operand };
    ex(ExprKind::Unary {
        op,
        op_span: sp(),
        expr: Box::new(operand),
    })
}

fn record_lit(value: BoxedStrategy<Expr>, typed: bool) -> impl Strategy<Value = RecordLit> {
    let entry = prop_oneof![
        6 => (field_name(), value).prop_map(|(name, value)| RecordEntry::Field { name, value, span: sp() }),
        1 => Just(RecordEntry::Spread(sp())),
    ];
    let ty = if typed {
        Just(true).boxed()
    } else {
        any::<bool>().boxed()
    };
    (
        ty,
        select(vec!["Customer", "Line"]),
        prop::collection::vec(entry, 0..5),
    )
        .prop_map(|(has_ty, t, entries)| RecordLit {
            ty: has_ty.then(|| id(t)),
            entries,
            span: sp(),
        })
}

fn args(value: BoxedStrategy<Expr>) -> impl Strategy<Value = Vec<Arg>> {
    let positional = prop::collection::vec(value.clone(), 0..3);
    let named = prop::collection::vec((name(), value), 0..2);
    (positional, named).prop_map(|(pos, named)| {
        let mut out: Vec<Arg> = pos
            .into_iter()
            .map(|value| Arg {
                name: None,
                value,
                span: sp(),
            })
            .collect();
        out.extend(named.into_iter().map(|(n, value)| Arg {
            name: Some(id(&n)),
            value,
            span: sp(),
        }));
        out
    })
}

fn expr() -> BoxedStrategy<Expr> {
    leaf()
        .prop_recursive(4, 48, 4, |inner| {
            prop_oneof![
                4 => (select(OPS.to_vec()), inner.clone(), inner.clone()).prop_map(|(op, l, r)| binary(op, l, r)),
                1 => (select(vec![UnaryOp::Neg, UnaryOp::Not]), inner.clone()).prop_map(|(op, e)| unary(op, e)),
                1 => inner.clone().prop_map(paren),
                1 => (select(vec!["trim", "concat", "env"]), args(inner.clone()))
                    .prop_map(|(f, args)| ex(ExprKind::Call { func: id(f), args })),
                1 => prop::collection::vec(inner.clone(), 0..4).prop_map(|v| ex(ExprKind::List(v))),
                1 => record_lit(inner.clone(), false).prop_map(|r| ex(ExprKind::Record(r))),
                1 => (inner.clone(), inner.clone(), prop::option::of(inner.clone())).prop_map(|(c, t, o)| {
                    ex(ExprKind::If { cond: Box::new(c), then: Box::new(t), otherwise: o.map(Box::new) })
                }),
                1 => string(inner.prop_filter("one-line", |e| !has_triple(e)).boxed()).boxed(),
            ]
        })
        .boxed()
}

/// True when `e` holds a `"""` string (kept out of interpolations).
fn has_triple(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Str(s) => {
            s.triple
                || s.parts
                    .iter()
                    .any(|p| matches!(p, StrPart::Expr(e) if has_triple(e)))
        }
        ExprKind::Unary { expr, .. } | ExprKind::Paren(expr) => has_triple(expr),
        ExprKind::Binary { lhs, rhs, .. } => has_triple(lhs) || has_triple(rhs),
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            has_triple(cond)
                || has_triple(then)
                || otherwise.as_ref().is_some_and(|o| has_triple(o))
        }
        ExprKind::Call { args, .. } => args.iter().any(|a| has_triple(&a.value)),
        ExprKind::List(items) => items.iter().any(has_triple),
        ExprKind::Record(r) => r
            .entries
            .iter()
            .any(|e| matches!(e, RecordEntry::Field { value, .. } if has_triple(value))),
        ExprKind::Lit(_) | ExprKind::Path(_) | ExprKind::Ident(_) => false,
    }
}

fn doc() -> impl Strategy<Value = Option<Doc>> {
    prop::option::of(prop::collection::vec(
        select(vec!["Docs.", "", " indented", "with `code`"]),
        1..3,
    ))
    .prop_map(|lines| {
        lines.map(|l| Doc {
            lines: l.into_iter().map(String::from).collect(),
            span: sp(),
        })
    })
}

/// An option value: the grammar reads `{ … }` and `T { … }` after `=` as a
/// nested block, so a record literal is never an option's value.
fn option_value_expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        literal(),
        string(path().boxed()),
        value_name().prop_map(|n| ex(ExprKind::Ident(id(&n)))),
        (
            select(vec!["env", "secret"]),
            prop::collection::vec(string(literal().boxed()), 1..3)
        )
            .prop_map(|(f, v)| {
                let args = v
                    .into_iter()
                    .map(|value| Arg {
                        name: None,
                        value,
                        span: sp(),
                    })
                    .collect();
                ex(ExprKind::Call { func: id(f), args })
            }),
        prop::collection::vec(literal(), 0..3).prop_map(|v| ex(ExprKind::List(v))),
    ]
}

fn options(depth: u32) -> BoxedStrategy<Vec<OptionEntry>> {
    let value = if depth == 0 {
        option_value_expr().prop_map(OptionValue::Expr).boxed()
    } else {
        prop_oneof![
            3 => option_value_expr().prop_map(OptionValue::Expr),
            1 => (prop::option::of(value_name()), options(depth - 1)).prop_map(|(kind, options)| {
                OptionValue::Block(OptionBlock { kind: kind.map(|k| id(&k)), options, span: sp() })
            }),
        ]
        .boxed()
    };
    prop::collection::vec((name(), value), 0..4)
        .prop_map(|v| {
            v.into_iter()
                .map(|(n, value)| OptionEntry {
                    name: id(&n),
                    value,
                    span: sp(),
                })
                .collect()
        })
        .boxed()
}

fn op_call() -> impl Strategy<Value = OpCall> {
    let target = prop_oneof![
        3 => select(vec!["crm", "erp"]).prop_map(|n| CallTarget::System(id(n))),
        1 => args(literal().boxed()).prop_map(|args| CallTarget::Inline { kind: id("file"), args, span: sp() }),
    ];
    (
        target,
        select(vec!["query", "upsert", "append"]),
        args(expr()),
    )
        .prop_map(|(target, op, args)| OpCall {
            target,
            op: id(op),
            args,
            span: sp(),
        })
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    prop_oneof![3 => op_call().prop_map(Endpoint::Op), 1 => name().prop_map(|n| Endpoint::Channel(id(&n)))]
}

fn step_kind(depth: u32) -> BoxedStrategy<StepKind> {
    let simple = prop_oneof![
        expr().prop_map(StepKind::Where),
        record_lit(expr(), true).prop_map(StepKind::Map),
        (name(), expr()).prop_map(|(n, value)| StepKind::Let {
            name: id(&n),
            value
        }),
        (name(), op_call(), prop::option::of(type_expr())).prop_map(|(n, call, as_type)| {
            StepKind::Enrich {
                name: id(&n),
                call,
                as_type,
            }
        }),
        (expr(), prop::option::of(type_expr()))
            .prop_map(|(list, as_type)| StepKind::Split { list, as_type }),
        (expr(), prop::option::of(literal()))
            .prop_map(|(size, within)| StepKind::Batch { size, within }),
        (expr(), prop::option::of(literal()))
            .prop_map(|(by, within)| StepKind::Dedupe { by, within }),
        endpoint().prop_map(StepKind::Tap),
        endpoint().prop_map(StepKind::To),
        expr().prop_map(|e| StepKind::Reply(None, e)),
    ];
    if depth == 0 {
        return simple.boxed();
    }
    let step = step_kind(depth - 1).prop_map(|kind| Step { kind, span: sp() });
    let arm = (
        prop::option::of(expr()),
        any::<bool>(),
        prop::collection::vec(step, 0..3),
    )
        .prop_map(|(condition, braced, mut steps)| {
            let braced = braced || steps.len() != 1;
            if !braced {
                steps.truncate(1);
            }
            RouteArm {
                condition,
                steps,
                braced,
                span: sp(),
            }
        });
    prop_oneof![4 => simple, 1 => prop::collection::vec(arm, 0..3).prop_map(StepKind::Route)]
        .boxed()
}

fn policy() -> impl Strategy<Value = PolicyKind> {
    let backoff = prop_oneof![
        (literal(), literal()).prop_map(|(base, max)| Backoff::Exponential {
            base,
            max,
            span: sp()
        }),
        literal().prop_map(|delay| Backoff::Fixed { delay, span: sp() }),
    ];
    let breaker = prop::collection::vec((name(), literal()), 0..3).prop_map(|v| {
        PolicyKind::CircuitBreaker(
            v.into_iter()
                .map(|(n, e)| OptionEntry {
                    name: id(&n),
                    value: OptionValue::Expr(e),
                    span: sp(),
                })
                .collect(),
        )
    });
    prop_oneof![
        (expr(), prop::option::of(backoff))
            .prop_map(|(attempts, backoff)| PolicyKind::Retry { attempts, backoff }),
        expr().prop_map(PolicyKind::Timeout),
        endpoint().prop_map(PolicyKind::DeadLetter),
        (expr(), expr()).prop_map(|(count, per)| PolicyKind::RateLimit { count, per }),
        expr().prop_map(PolicyKind::Concurrency),
        breaker,
    ]
}

fn flow_item() -> impl Strategy<Value = FlowItem> {
    let mode = (
        select(vec![ModeKind::Sync, ModeKind::Async, ModeKind::Batch]),
        prop::option::of(prop_oneof![
            string(Just(ex(ExprKind::Lit(Lit::Null))).boxed())
                .prop_filter(
                    "plain text",
                    |e| matches!(&e.kind, ExprKind::Str(s) if s.as_plain().is_some())
                )
                .prop_map(Schedule::Cron),
            literal().prop_map(Schedule::Every),
        ]),
        prop::option::of(literal()),
    )
        .prop_map(|(kind, schedule, chunk)| {
            FlowItem::Mode(ModeDecl {
                kind,
                kind_span: sp(),
                schedule,
                chunk,
                span: sp(),
            })
        });
    let from = (endpoint(), prop::option::of(type_expr())).prop_map(|(source, as_type)| {
        FlowItem::From(FromClause {
            source,
            as_type,
            span: sp(),
        })
    });
    prop_oneof![
        1 => mode,
        1 => from,
        4 => step_kind(2).prop_map(|kind| FlowItem::Step(Step { kind, span: sp() })),
        1 => policy().prop_map(|kind| FlowItem::Policy(Policy { kind, span: sp() })),
    ]
}

fn test_item() -> impl Strategy<Value = TestItem> {
    let target = prop::option::of((
        select(vec!["erp", "out"]),
        prop::option::of(select(vec!["upsert"])),
    ))
    .prop_map(|t| {
        t.map(|(n, op)| TargetRef {
            name: id(n),
            op: op.map(id),
            span: sp(),
        })
    });
    let what = prop_oneof![
        expr().prop_map(Expectation::Record),
        Just(Expectation::Nothing),
        expr().prop_map(|e| Expectation::Reply(None, e)),
        expr().prop_map(Expectation::Error),
    ];
    prop_oneof![
        expr().prop_map(|record| TestItem::Given { record, span: sp() }),
        (op_call(), expr()).prop_map(|(call, value)| TestItem::Stub {
            call,
            value,
            span: sp()
        }),
        (target, what).prop_map(|(target, what)| TestItem::Expect {
            target,
            what,
            span: sp()
        }),
    ]
}

fn field_decl() -> impl Strategy<Value = FieldDecl> {
    (doc(), field_name(), type_expr()).prop_map(|(doc, name, ty)| FieldDecl {
        doc,
        name,
        ty,
        span: sp(),
    })
}

fn decl() -> impl Strategy<Value = Decl> {
    prop_oneof![
        (doc(), name(), options(2)).prop_map(|(doc, n, options)| {
            Decl::System(SystemDecl {
                doc,
                name: id(&n),
                kind: id("postgres"),
                options,
                span: sp(),
            })
        }),
        (doc(), name(), prop::collection::vec(field_decl(), 0..4)).prop_map(|(doc, n, fields)| {
            Decl::Type(TypeDecl {
                doc,
                name: id(&n),
                fields,
                span: sp(),
            })
        }),
        (doc(), name(), type_expr(), prop::option::of(op_call())).prop_map(|(doc, n, ty, via)| {
            Decl::Channel(ChannelDecl {
                doc,
                name: id(&n),
                ty,
                via,
                span: sp(),
            })
        }),
        (doc(), name(), prop::collection::vec(flow_item(), 0..6)).prop_map(|(doc, n, items)| {
            Decl::Flow(FlowDecl {
                doc,
                name: id(&n),
                items,
                span: sp(),
            })
        }),
        (doc(), name(), prop::collection::vec(test_item(), 0..4)).prop_map(|(doc, n, items)| {
            Decl::Test(TestDecl {
                doc,
                name: id(&n),
                flow: id("f"),
                items,
                span: sp(),
            })
        }),
    ]
}

fn file() -> impl Strategy<Value = File> {
    prop::collection::vec(decl(), 0..4).prop_map(|decls| File {
        decls,
        comments: Vec::new(),
        span: sp(),
    })
}

/// Puts `// cN` comments into `text`: at the end of a line when
/// `trailing`, else on a line of its own before it. Lines inside a `"""`
/// string (a comment there would be text), lines that hold `//` already
/// and the gap between a doc comment and its declaration are skipped.
fn insert_comments(text: &str, spots: &[(usize, bool)]) -> String {
    let mut lines: Vec<(String, bool, bool)> = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let starts_inside = inside;
        if line.matches("\"\"\"").count() % 2 == 1 {
            inside = !inside;
        }
        lines.push((line.to_string(), starts_inside, inside));
    }
    for (n, &(at, trailing)) in spots.iter().enumerate() {
        let comment = format!("// c{n}");
        let is_doc = |i: usize| {
            lines
                .get(i)
                .is_some_and(|l| l.0.trim_start().starts_with("///"))
        };
        let safe: Vec<usize> = (0..lines.len())
            .filter(|&i| match lines.get(i) {
                Some(l) if trailing => !l.2 && !l.0.contains("//"),
                Some(l) => !l.1 && (i == 0 || !is_doc(i - 1)),
                None => false,
            })
            .collect();
        match safe.get(at % safe.len().max(1)) {
            Some(&i) if trailing => {
                if let Some(line) = lines.get_mut(i) {
                    line.0.push_str(&format!(" {comment}"));
                }
            }
            Some(&i) => lines.insert(i, (comment, false, false)),
            None => lines.push((comment, false, false)),
        }
    }
    let mut out: Vec<String> = lines.into_iter().map(|l| l.0).collect();
    out.push(String::new());
    out.join("\n")
}

/// Messes up the layout of `text` without changing its meaning: joins
/// line `i` with the next for each `i` in `joins` and drops indentation
/// (never inside a `"""` string or after a `//`).
fn mess(text: &str, joins: &[usize]) -> String {
    let mut lines: Vec<(String, bool, bool)> = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let starts_inside = inside;
        if line.matches("\"\"\"").count() % 2 == 1 {
            inside = !inside;
        }
        let line = if starts_inside {
            line.to_string()
        } else {
            line.trim_start().to_string()
        };
        lines.push((line, starts_inside, inside));
    }
    for &j in joins {
        let i = j % lines.len().max(1);
        let joinable = lines.get(i).is_some_and(|l| !l.2 && !l.0.contains("//"))
            && lines.get(i + 1).is_some_and(|l| !l.1);
        if joinable {
            let next = lines.remove(i + 1);
            if let Some(line) = lines.get_mut(i) {
                line.0 = format!("{} {}", line.0, next.0);
                line.2 = next.2;
            }
        }
    }
    let mut out: Vec<String> = lines.into_iter().map(|l| l.0).collect();
    out.push(String::new());
    out.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fmt_random_trees_survive_formatting(file in file()) {
        let out = format(&file, "");
        let parsed = parse_ok(&out).map_err(TestCaseError::fail)?;
        prop_assert_eq!(strip_spans(&file), strip_spans(&parsed), "formatted:\n{}", out);
        prop_assert_eq!(format(&parsed, &out), out.clone(), "not idempotent");
    }

    #[test]
    fn fmt_comments_anywhere_survive_formatting(
        file in file(),
        spots in prop::collection::vec((0usize..200, any::<bool>()), 1..8),
        joins in prop::collection::vec(0usize..200, 0..8),
    ) {
        let text = mess(&insert_comments(&format(&file, ""), &spots), &joins);
        let parsed = parse_ok(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(parsed.comments.len(), spots.len(), "comments not inserted:\n{}", text);
        check(&parsed, &text).map_err(TestCaseError::fail)?;
    }
}

/// Inputs the property tests once shrank to: comments next to brackets and
/// operators inside broken expressions.
#[test]
fn fmt_comment_regressions() {
    let cases = [
        "channel id: string via crm.query(null or\n  \"\"\"\n    SELECT *\n    \"\"\" or // c0\n  -[ // c1\n    null\n  ])\n",
        "channel id: string via file(id: 64KiB).query(concat(amount: null) or trim(\"a\"), name: (null and\n  null) == // c0\n  [ // c1\n    null or\n      \"\"\"\n        SELECT *\n        SELECT *\"\"\"\n  ])\n",
        "flow id {\n  enrich id = crm.query(\n    null,\n    id: null or // c0\n      Customer {\n        id = .(\"Billing City\")\n        id = trim($amount.amount, 12.50, amount: null)\n        name = 12.50\n      }\n  )\n  mode sync\n}\n",
        "flow id {\n  enrich id = crm.query(null, id: null or\n    Customer { // c0\n      id = .x\n    })\n}\n",
    ];
    for text in cases {
        let file = parse_ok(text).unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = check(&file, text) {
            panic!("{e}\n--- input ---\n{text}");
        }
    }
}
