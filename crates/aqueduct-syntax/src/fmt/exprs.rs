//! Expression layout: inline when the expression fits in the column limit,
//! otherwise broken at its outermost construct.
//!
//! - records: one entry per line between `T {` and `}`;
//! - lists and argument lists: one element per line, comma-separated;
//! - operator chains: broken after an operator, continuation lines one level
//!   deeper (a line that ends with an operator always continues);
//! - `if`: `if c {`, the value, `} else {`, the value, `}`.
//!
//! Some expressions are *hard*: they cannot be written on one line because
//! they hold a `"""` string or a record with a comment inside. A record with
//! a comment is always multi-line so the comment keeps its line; an argument
//! list with a hard argument stays hugged (`query("""` … `""")`).

use super::{Formatter, flat};
use crate::ast::{Arg, BinaryOp, Expr, ExprKind, OpCall, RecordEntry, RecordLit, StrLit, StrPart};
use aqueduct_diagnostics::Span;

impl Formatter<'_> {
    /// Writes an expression at the current position.
    pub(super) fn expr(&mut self, e: &Expr) {
        if !self.is_hard(e) {
            let text = flat::expr_string(e);
            if self.p.fits(text.chars().count()) {
                self.p.write(&text);
                self.p.advance(e.span.end);
                return;
            }
        }
        // A comment right after the opening token of a broken construct
        // (`[ // c`, `-[ // c`) then trails that token's line.
        self.p.advance_to(e.span.start);
        match &e.kind {
            ExprKind::Record(r) => self.record_block(r),
            ExprKind::List(items) => self.list_block(items, e.span),
            ExprKind::Call { func, args } => {
                self.p.write(&func.name);
                self.p.advance(func.span.end);
                self.args(args, e.span.end);
            }
            ExprKind::Binary { .. } => self.binary_chain(e),
            ExprKind::If { .. } => self.if_block(e),
            ExprKind::Str(s) if s.triple && !flat::triple_is_inline(s) => self.triple(s),
            ExprKind::Unary { op, expr, .. } => {
                self.p.write(flat::unary_symbol(*op, expr));
                self.operand(expr, flat::unary_needs_paren(*op, expr));
            }
            ExprKind::Paren(inner) => {
                self.p.write("(");
                self.expr(inner);
                self.p.write(")");
            }
            _ => self.p.write(&flat::expr_string(e)),
        }
        self.p.advance(e.span.end);
    }

    /// True when `e` cannot be written on one line.
    pub(super) fn is_hard(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Str(s) => {
                (s.triple && !flat::triple_is_inline(s))
                    || s.parts
                        .iter()
                        .any(|p| matches!(p, StrPart::Expr(e) if self.is_hard(e)))
            }
            ExprKind::Record(r) => self.record_is_hard(r),
            ExprKind::Unary { expr, .. } | ExprKind::Paren(expr) => self.is_hard(expr),
            ExprKind::Binary { lhs, rhs, .. } => self.is_hard(lhs) || self.is_hard(rhs),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.is_hard(cond)
                    || self.is_hard(then)
                    || otherwise.as_ref().is_some_and(|o| self.is_hard(o))
            }
            ExprKind::Call { args, .. } => self.args_are_hard(args),
            ExprKind::List(items) => items.iter().any(|i| self.is_hard(i)),
            ExprKind::Lit(_) | ExprKind::Path(_) | ExprKind::Ident(_) => false,
        }
    }

    fn record_is_hard(&self, r: &RecordLit) -> bool {
        self.p.has_comment_in(r.span)
            || r.entries.iter().any(|entry| match entry {
                RecordEntry::Field { value, .. } => self.is_hard(value),
                RecordEntry::Spread(_) => false,
            })
    }

    pub(super) fn args_are_hard(&self, args: &[Arg]) -> bool {
        args.iter().any(|a| self.is_hard(&a.value))
    }

    fn operand(&mut self, e: &Expr, paren: bool) {
        if paren {
            self.p.write("(");
        }
        self.expr(e);
        if paren {
            self.p.write(")");
        }
    }

    /// `system.op(args)` laid out like a function call.
    pub(super) fn op_call(&mut self, call: &OpCall) {
        let hard = self.args_are_hard(&call.args)
            || matches!(&call.target, crate::ast::CallTarget::Inline { args, .. } if self.args_are_hard(args));
        if !hard {
            let mut text = String::new();
            flat::op_call(&mut text, call);
            if self.p.fits(text.chars().count()) {
                self.p.write(&text);
                self.p.advance(call.span.end);
                return;
            }
        }
        self.p.advance_to(call.span.start);
        match &call.target {
            crate::ast::CallTarget::System(name) => self.p.write(&name.name),
            crate::ast::CallTarget::Inline { kind, args, span } => {
                self.p.write(&kind.name);
                self.p.advance(kind.span.end);
                self.args(args, span.end);
            }
        }
        self.p.write(".");
        self.p.write(&call.op.name);
        self.p.advance(call.op.span.end);
        self.args(&call.args, call.span.end);
        self.p.advance(call.span.end);
    }

    /// `(args)`: inline if it fits, hugged around hard arguments, else one
    /// argument per line.
    fn args(&mut self, args: &[Arg], end: u32) {
        let hard = self.args_are_hard(args);
        if !hard {
            let mut text = String::from("(");
            flat::args(&mut text, args);
            text.push(')');
            if self.p.fits(text.chars().count()) || args.is_empty() {
                self.p.write(&text);
                return;
            }
            self.p.write("(");
            self.p.advance_past('(');
            self.p.open_block();
            for (i, arg) in args.iter().enumerate() {
                self.p.item(arg.span.start);
                self.arg(arg);
                if i + 1 < args.len() {
                    self.p.write(",");
                }
                self.p.finish_item(arg.span.end);
            }
            self.p.close_block(end, ")");
            return;
        }
        self.p.write("(");
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                self.p.write(", ");
            }
            self.arg(arg);
        }
        self.p.write(")");
    }

    fn arg(&mut self, arg: &Arg) {
        if let Some(name) = &arg.name {
            self.p.write(&name.name);
            self.p.write(": ");
            self.p.advance(name.span.end);
        }
        self.expr(&arg.value);
    }

    /// `T {`, one entry per line, `}`.
    pub(super) fn record_block(&mut self, r: &RecordLit) {
        if let Some(ty) = &r.ty {
            self.p.write(&ty.name);
            self.p.write(" ");
            self.p.advance(ty.span.end);
        } else {
            self.p.advance_to(r.span.start);
        }
        if r.entries.is_empty() && !self.p.has_comment_in(r.span) {
            self.p.write("{}");
            self.p.advance(r.span.end);
            return;
        }
        self.p.write("{");
        self.p.advance_past('{');
        let outer = self.p.set_floor(r.span.start);
        self.p.open_block();
        for entry in &r.entries {
            match entry {
                RecordEntry::Field { name, value, span } => {
                    self.p.item(span.start);
                    let mut text = String::new();
                    flat::field_name(&mut text, name);
                    text.push_str(" = ");
                    self.p.write(&text);
                    self.p.advance(name.span.end);
                    self.expr(value);
                    self.p.finish_item(span.end);
                }
                RecordEntry::Spread(span) => {
                    self.p.item(span.start);
                    self.p.write("...");
                    self.p.finish_item(span.end);
                }
            }
        }
        self.p.close_block(r.span.end, "}");
        self.p.set_floor(outer);
    }

    fn list_block(&mut self, items: &[Expr], span: Span) {
        self.p.write("[");
        self.p.advance_past('[');
        self.p.open_block();
        for (i, item) in items.iter().enumerate() {
            self.p.item(item.span.start);
            self.expr(item);
            if i + 1 < items.len() {
                self.p.write(",");
            }
            self.p.finish_item(item.span.end);
        }
        self.p.close_block(span.end, "]");
    }

    /// A chain of operators of one precedence, broken after the operators
    /// whose right operand does not fit.
    fn binary_chain(&mut self, e: &Expr) {
        let mut rest: Vec<(BinaryOp, Span, &Expr)> = Vec::new();
        let mut first = e;
        let prec = match &e.kind {
            ExprKind::Binary { op, .. } => op.precedence(),
            _ => 0,
        };
        while let ExprKind::Binary {
            op,
            op_span,
            lhs,
            rhs,
        } = &first.kind
        {
            if op.precedence() != prec {
                break;
            }
            rest.push((*op, *op_span, rhs));
            first = lhs;
            if flat::needs_paren(lhs, prec, false) {
                break;
            }
        }
        rest.reverse();
        self.operand(first, flat::needs_paren(first, prec, false));
        let mut indented = false;
        for (op, op_span, rhs) in rest {
            let paren = flat::needs_paren(rhs, prec, true);
            let mut text = flat::expr_string(rhs);
            if paren {
                text = format!("({text})");
            }
            let inline =
                !self.is_hard(rhs) && self.p.fits(op.symbol().len() + 2 + text.chars().count());
            self.p.write(" ");
            self.p.write(op.symbol());
            self.p.advance(op_span.end);
            if inline {
                self.p.write(" ");
            } else {
                if !indented {
                    self.p.indent();
                    indented = true;
                }
                self.p.newline();
            }
            self.operand(rhs, paren);
        }
        if indented {
            self.p.dedent();
        }
    }

    /// `if c {` value `} else {` value `}` on separate lines.
    fn if_block(&mut self, e: &Expr) {
        let ExprKind::If {
            cond,
            then,
            otherwise,
        } = &e.kind
        else {
            return;
        };
        self.p.write("if ");
        self.expr(cond);
        self.p.write(" {");
        self.p.advance_past('{');
        self.p.open_block();
        self.p.item(then.span.start);
        self.expr(then);
        self.p.finish_item(then.span.end);
        let then_end = otherwise.as_ref().map_or(e.span.end, |o| o.span.start);
        self.p.close_block(then_end, "}");
        if let Some(otherwise) = otherwise {
            self.p.write(" else ");
            if matches!(otherwise.kind, ExprKind::If { .. }) {
                self.if_block(otherwise);
            } else {
                self.p.write("{");
                self.p.open_block();
                self.p.item(otherwise.span.start);
                self.expr(otherwise);
                self.p.finish_item(otherwise.span.end);
                self.p.close_block(e.span.end, "}");
            }
        }
    }

    /// `"""`, then the text's lines one level deeper than the current
    /// line. When the text ends with a line break the closing `"""` gets
    /// its own line at that depth, otherwise it ends the last line (the
    /// parser drops the break after the opening quotes, a last line of
    /// spaces, and the indentation common to the lines).
    fn triple(&mut self, s: &StrLit) {
        let text = s.as_plain().unwrap_or_default();
        self.p.write("\"\"\"");
        self.p.end_line();
        self.p.indent();
        let mut lines = text.split('\n').peekable();
        while let Some(line) = lines.next() {
            self.p.write(line);
            if lines.peek().is_some() {
                self.p.end_line();
            }
        }
        self.p.write("\"\"\"");
        self.p.dedent();
    }
}
