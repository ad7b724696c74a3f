//! Expressions and literals: precedence, paths, calls, records, `if`,
//! numbers with units, strings with escapes and interpolation.

use super::expr;
use crate::ast::*;

/// A compact rendering of an expression for precedence tests.
fn sexp(e: &Expr) -> String {
    let list = |items: &[Expr]| items.iter().map(sexp).collect::<Vec<_>>().join(" ");
    match &e.kind {
        ExprKind::Lit(Lit::Int { value, .. }) => value.to_string(),
        ExprKind::Lit(Lit::Decimal(t)) => t.clone(),
        ExprKind::Lit(Lit::Duration { millis, .. }) => format!("{millis}ms"),
        ExprKind::Lit(Lit::Size { bytes, .. }) => format!("{bytes}B"),
        ExprKind::Lit(Lit::Bool(b)) => b.to_string(),
        ExprKind::Lit(Lit::Null) => "null".into(),
        ExprKind::Str(s) => {
            let parts: Vec<String> = s
                .parts
                .iter()
                .map(|p| match p {
                    StrPart::Text(t) => format!("{t:?}"),
                    StrPart::Expr(e) => format!("{{{}}}", sexp(e)),
                })
                .collect();
            format!("str[{}]", parts.join(" "))
        }
        ExprKind::Path(p) => {
            let mut out = match &p.root {
                PathRoot::Record => ".".to_string(),
                PathRoot::Binding(b) => format!("${}.", b.name),
            };
            for s in &p.segments {
                match s {
                    PathSegment::Field(f) if f.quoted => out.push_str(&format!("<{}>.", f.name)),
                    PathSegment::Field(f) => out.push_str(&format!("{}.", f.name)),
                    PathSegment::Index(i) => out.push_str(&format!("[{}].", sexp(i))),
                }
            }
            out
        }
        ExprKind::Ident(i) => i.name.clone(),
        ExprKind::Unary {
            op: UnaryOp::Not,
            expr,
            ..
        } => format!("(not {})", sexp(expr)),
        ExprKind::Unary {
            op: UnaryOp::Neg,
            expr,
            ..
        } => format!("(neg {})", sexp(expr)),
        ExprKind::Binary { op, lhs, rhs, .. } => {
            format!("({} {} {})", op.symbol(), sexp(lhs), sexp(rhs))
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => match otherwise {
            Some(o) => format!("(if {} {} {})", sexp(cond), sexp(then), sexp(o)),
            None => format!("(if {} {})", sexp(cond), sexp(then)),
        },
        ExprKind::Call { func, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{}: {}", n.name, sexp(&a.value)),
                    None => sexp(&a.value),
                })
                .collect();
            format!("{}({})", func.name, args.join(", "))
        }
        ExprKind::List(items) => format!("[{}]", list(items)),
        ExprKind::Record(r) => {
            let entries: Vec<String> = r
                .entries
                .iter()
                .map(|e| match e {
                    RecordEntry::Field { name, value, .. } => {
                        format!("{}={}", name.name, sexp(value))
                    }
                    RecordEntry::Spread(_) => "...".into(),
                })
                .collect();
            format!(
                "{}{{{}}}",
                r.ty.as_ref().map_or("", |t| t.name.as_str()),
                entries.join(" ")
            )
        }
        ExprKind::Paren(e) => format!("(paren {})", sexp(e)),
    }
}

fn x(src: &str) -> String {
    sexp(&expr(src))
}

#[test]
fn literals() {
    assert_eq!(x("10_000"), "10000");
    assert!(
        matches!(expr("10_000").kind, ExprKind::Lit(Lit::Int { ref text, value: 10_000 }) if text == "10_000")
    );
    assert!(matches!(expr("12.50").kind, ExprKind::Lit(Lit::Decimal(ref t)) if t == "12.50"));
    for (src, ms) in [
        ("250ms", 250),
        ("30s", 30_000),
        ("5m", 300_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
    ] {
        assert!(
            matches!(expr(src).kind, ExprKind::Lit(Lit::Duration { ref text, millis }) if text == src && millis == ms),
            "{src}"
        );
    }
    for (src, b) in [
        ("512B", 512),
        ("64KiB", 65_536),
        ("10MiB", 10_485_760),
        ("1GiB", 1 << 30),
        ("2KB", 2000),
        ("3MB", 3_000_000),
        ("1GB", 1_000_000_000),
    ] {
        assert!(
            matches!(expr(src).kind, ExprKind::Lit(Lit::Size { ref text, bytes }) if text == src && bytes == b),
            "{src}"
        );
    }
    assert_eq!(x("[true, false, null]"), "[true false null]");
    assert_eq!(x("[1 2\n3,]"), "[1 2 3]");
}

#[test]
fn strings() {
    assert_eq!(
        x(r#""a\"b\\c\n\t\r\{\}\u{1F600}""#),
        format!("str[{:?}]", "a\"b\\c\n\t\r{}\u{1F600}")
    );
    assert_eq!(x(r#""""#), "str[]");
    assert_eq!(
        x(r#""order {.id} for {.customer.name}!""#),
        r#"str["order " {.id.} " for " {.customer.name.} "!"]"#
    );
    assert_eq!(x(r#""{f("x")}""#), "str[{f(str[\"x\"])}]");
    let triple = expr("\"\"\"\n    select *\n      from t\n    \"\"\"");
    let ExprKind::Str(s) = &triple.kind else {
        panic!()
    };
    assert!(s.triple);
    assert_eq!(s.as_plain().as_deref(), Some("select *\n  from t\n"));
    assert_eq!(x("\"\"\"raw \\n {x}\"\"\""), r#"str["raw \\n {x}"]"#);
}

#[test]
fn precedence() {
    assert_eq!(x("1 + 2 * 3"), "(+ 1 (* 2 3))");
    assert_eq!(x(".a ?? 0 > 5"), "(> (?? .a. 0) 5)");
    assert_eq!(x("not .a and .b"), "(and (not .a.) .b.)");
    assert_eq!(x("not .a == .b"), "(not (== .a. .b.))");
    assert_eq!(x("a or b and c"), "(or a (and b c))");
    assert_eq!(x("1 - 2 - 3"), "(- (- 1 2) 3)");
    assert_eq!(x("-.a * 2"), "(* (neg .a.) 2)");
    assert_eq!(
        x(".x in [1, 2] and .y % 2 == 0"),
        "(and (in .x. [1 2]) (== (% .y. 2) 0))"
    );
    assert_eq!(x(".a ?? .b + 1"), "(?? .a. (+ .b. 1))");
    assert_eq!(x("(1 + 2) * 3"), "(* (paren (+ 1 2)) 3)");
    assert_eq!(x("order != 1"), "(!= order 1)");
}

#[test]
fn paths_calls_records_ifs() {
    assert_eq!(x("."), ".");
    assert_eq!(x(".a.b"), ".a.b.");
    assert_eq!(x(".items[0]"), ".items.[0].");
    assert_eq!(x(".(\"odd name\")"), ".<odd name>.");
    assert_eq!(x(".a.(\"x y\")"), ".a.<x y>.");
    assert_eq!(x("$name"), "$name.");
    assert_eq!(x("$name.field[1]"), "$name.field.[1].");
    assert_eq!(x(".type.in.map"), ".type.in.map.");
    assert_eq!(x("concat(.a, sep: \"-\")"), "concat(.a., sep: str[\"-\"])");
    assert_eq!(
        x("Customer { a = 1, \"b c\" = 2, ... }"),
        "Customer{a=1 b c=2 ...}"
    );
    assert_eq!(x("{ a = { b = 1 } }"), "{a={b=1}}");
    assert_eq!(
        x("if .a { 1 } else if .b { 2 } else { 3 }"),
        "(if .a. 1 (if .b. 2 3))"
    );
    assert_eq!(x("if flag { gold }"), "(if flag gold)");
}
