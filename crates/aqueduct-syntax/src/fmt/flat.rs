//! One-line rendering of expressions, calls, types and names.
//!
//! These functions write the inline form of a node with canonical spacing
//! (`a + b`, `f(a, b)`, `T { a = 1, b = 2 }`, `if c { a } else { b }`). The
//! layout code in `exprs.rs` measures their output to choose between the
//! inline and the multi-line form. They never place comments.
//!
//! Parentheses are printed where the tree has a `Paren` node. A tree built
//! by hand may nest a looser operator under a tighter one without `Paren`;
//! parentheses are then added so the text still means that tree.

use crate::ast::{
    Arg, CallTarget, Expr, ExprKind, FieldName, Lit, OpCall, Path, PathRoot, PathSegment,
    RecordEntry, RecordLit, StrLit, StrPart, TypeExpr, TypeExprKind, UnaryOp,
};

/// True for a name that can be written without quotes.
pub(super) fn is_bare_ident(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Escapes the text of a `"…"` string or a quoted name.
pub(super) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '{' => out.push_str("\\{"),
            '}' => out.push_str("\\}"),
            c => out.push(c),
        }
    }
}

/// An option name: bare when it is an identifier, quoted otherwise.
pub(super) fn option_name(out: &mut String, name: &str) {
    if is_bare_ident(name) {
        out.push_str(name);
    } else {
        out.push('"');
        escape_into(out, name);
        out.push('"');
    }
}

/// A field name: bare when written bare and valid, quoted otherwise.
pub(super) fn field_name(out: &mut String, name: &FieldName) {
    if name.quoted || !is_bare_ident(&name.name) {
        out.push('"');
        escape_into(out, &name.name);
        out.push('"');
    } else {
        out.push_str(&name.name);
    }
}

/// `string`, `[Line]`, `decimal?`.
pub(super) fn type_expr(out: &mut String, ty: &TypeExpr) {
    match &ty.kind {
        TypeExprKind::Named(name) => out.push_str(&name.name),
        TypeExprKind::List(inner) => {
            out.push('[');
            type_expr(out, inner);
            out.push(']');
        }
    }
    if ty.optional {
        out.push('?');
    }
}

/// `a, name: b`
pub(super) fn args(out: &mut String, args: &[Arg]) {
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if let Some(name) = &arg.name {
            out.push_str(&name.name);
            out.push_str(": ");
        }
        expr(out, &arg.value);
    }
}

/// `crm` or `file("dlq")`: what an operation is called on.
pub(super) fn call_target(out: &mut String, target: &CallTarget) {
    match target {
        CallTarget::System(name) => out.push_str(&name.name),
        CallTarget::Inline { kind, args: a, .. } => {
            out.push_str(&kind.name);
            out.push('(');
            args(out, a);
            out.push(')');
        }
    }
}

/// `system.op(args)`
pub(super) fn op_call(out: &mut String, call: &OpCall) {
    call_target(out, &call.target);
    out.push('.');
    out.push_str(&call.op.name);
    out.push('(');
    args(out, &call.args);
    out.push(')');
}

/// The expression on one line.
pub(super) fn expr(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Lit(lit) => literal(out, lit),
        ExprKind::Str(s) => string(out, s),
        ExprKind::Path(p) => path(out, p),
        ExprKind::Ident(name) => out.push_str(&name.name),
        ExprKind::Unary {
            op, expr: inner, ..
        } => {
            out.push_str(unary_symbol(*op, inner));
            operand(out, inner, unary_needs_paren(*op, inner));
        }
        ExprKind::Binary { op, lhs, rhs, .. } => {
            let prec = op.precedence();
            operand(out, lhs, needs_paren(lhs, prec, false));
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            operand(out, rhs, needs_paren(rhs, prec, true));
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            out.push_str("if ");
            expr(out, cond);
            out.push_str(" { ");
            expr(out, then);
            out.push_str(" }");
            if let Some(otherwise) = otherwise {
                out.push_str(" else ");
                if matches!(otherwise.kind, ExprKind::If { .. }) {
                    expr(out, otherwise);
                } else {
                    out.push_str("{ ");
                    expr(out, otherwise);
                    out.push_str(" }");
                }
            }
        }
        ExprKind::Call { func, args: a } => {
            out.push_str(&func.name);
            out.push('(');
            args(out, a);
            out.push(')');
        }
        ExprKind::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                expr(out, item);
            }
            out.push(']');
        }
        ExprKind::Record(r) => record(out, r),
        ExprKind::Paren(inner) => {
            out.push('(');
            expr(out, inner);
            out.push(')');
        }
    }
}

/// The expression on one line, as a new string.
pub(super) fn expr_string(e: &Expr) -> String {
    let mut out = String::new();
    expr(&mut out, e);
    out
}

/// `-` or `not `; `- ` before another `-` (`- -1`, not `--1`).
pub(super) fn unary_symbol(op: UnaryOp, operand: &Expr) -> &'static str {
    match (op, &operand.kind) {
        (
            UnaryOp::Neg,
            ExprKind::Unary {
                op: UnaryOp::Neg, ..
            },
        ) => "- ",
        (UnaryOp::Neg, _) => "-",
        (UnaryOp::Not, _) => "not ",
    }
}

/// True when the operand of a prefix operator must be parenthesised: `-`
/// binds tighter than every infix operator, `not` only tighter than `and`
/// and `or` (`not a == b` is `not (a == b)`).
pub(super) fn unary_needs_paren(op: UnaryOp, operand: &Expr) -> bool {
    match (&operand.kind, op) {
        (ExprKind::Binary { .. }, UnaryOp::Neg) => true,
        (ExprKind::Binary { op, .. }, UnaryOp::Not) => op.precedence() < NOT_PRECEDENCE,
        _ => false,
    }
}

/// The binding strength of `not` as an operand: it takes every following
/// operator of this precedence or tighter into its operand.
const NOT_PRECEDENCE: u8 = 3;

/// True when `child`, an operand of an infix operator of precedence `prec`,
/// must be parenthesised to keep its place in the tree. All infix operators
/// are left associative; a `not` at the right edge of a left operand would
/// swallow the operator that follows it.
pub(super) fn needs_paren(child: &Expr, prec: u8, is_rhs: bool) -> bool {
    let looser = match &child.kind {
        ExprKind::Binary { op, .. } => {
            op.precedence() < prec || (is_rhs && op.precedence() == prec)
        }
        _ => false,
    };
    looser || (!is_rhs && prec >= NOT_PRECEDENCE && ends_with_not(child))
}

/// True when the printed form of `e` ends with a `not` operand (`a and not b`).
fn ends_with_not(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => true,
        ExprKind::Unary { op, expr, .. } => !unary_needs_paren(*op, expr) && ends_with_not(expr),
        ExprKind::Binary { op, rhs, .. } => {
            !needs_paren(rhs, op.precedence(), true) && ends_with_not(rhs)
        }
        _ => false,
    }
}

fn operand(out: &mut String, e: &Expr, paren: bool) {
    if paren {
        out.push('(');
    }
    expr(out, e);
    if paren {
        out.push(')');
    }
}

fn literal(out: &mut String, lit: &Lit) {
    match lit {
        Lit::Null => out.push_str("null"),
        Lit::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Lit::Int { text, .. } | Lit::Duration { text, .. } | Lit::Size { text, .. } => {
            out.push_str(text);
        }
        Lit::Decimal(text) => out.push_str(text),
    }
}

/// True for a `"""` string that stays on one line: `"""SELECT 1"""`. Text
/// over several lines, or starting with a space (the parser would take it
/// for indentation), or ending with `"`, is laid out by `exprs.rs`.
pub(super) fn triple_is_inline(s: &StrLit) -> bool {
    s.as_plain()
        .is_some_and(|t| !t.contains('\n') && !t.starts_with([' ', '\t']) && !t.ends_with('"'))
}

/// A `"…"` string with its interpolations, or a one-line `"""` string.
pub(super) fn string(out: &mut String, s: &StrLit) {
    if s.triple {
        out.push_str("\"\"\"");
        if let Some(text) = s.as_plain() {
            out.push_str(&text);
        }
        out.push_str("\"\"\"");
        return;
    }
    out.push('"');
    for part in &s.parts {
        match part {
            StrPart::Text(text) => escape_into(out, text),
            StrPart::Expr(e) => {
                out.push('{');
                expr(out, e);
                out.push('}');
            }
        }
    }
    out.push('"');
}

/// `.`, `.a.b`, `.items[0]`, `.("odd name")`, `$name.field`.
pub(super) fn path(out: &mut String, p: &Path) {
    let mut dot_pending = false;
    match &p.root {
        PathRoot::Record => out.push('.'),
        PathRoot::Binding(name) => {
            out.push('$');
            out.push_str(&name.name);
            dot_pending = true;
        }
    }
    for segment in &p.segments {
        match segment {
            PathSegment::Field(name) => {
                if dot_pending {
                    out.push('.');
                }
                if name.quoted || !is_bare_ident(&name.name) {
                    out.push('(');
                    field_name(out, name);
                    out.push(')');
                } else {
                    out.push_str(&name.name);
                }
                dot_pending = true;
            }
            PathSegment::Index(index) => {
                out.push('[');
                expr(out, index);
                out.push(']');
                dot_pending = true;
            }
        }
    }
}

/// `T { a = 1, ... }`, `{ a = 1 }` or `T {}`.
pub(super) fn record(out: &mut String, r: &RecordLit) {
    if let Some(ty) = &r.ty {
        out.push_str(&ty.name);
        out.push(' ');
    }
    if r.entries.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{ ");
    for (i, entry) in r.entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        record_entry(out, entry);
    }
    out.push_str(" }");
}

/// `name = value` or `...`.
pub(super) fn record_entry(out: &mut String, entry: &RecordEntry) {
    match entry {
        RecordEntry::Field { name, value, .. } => {
            field_name(out, name);
            out.push_str(" = ");
            expr(out, value);
        }
        RecordEntry::Spread(_) => out.push_str("..."),
    }
}
