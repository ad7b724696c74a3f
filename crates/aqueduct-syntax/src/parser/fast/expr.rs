//! Fast path for `expr`, `operand`, `prefix_op` and `infix_op`, and the
//! builder's precedence climbing and depth limit (the builder's `expr.rs`).
//!
//! `expr = { operand ~ (infix_op ~ operand)* }` is read into the same flat
//! run of prefix operators, operands and infix operators the builder gets
//! from pest, and precedence is applied by the same climbing loop, so the
//! trees are the same by construction. A single operand without prefix
//! operators (most expressions) is returned without building a run.
//!
//! Depth: the same two measures as the builder's ([`Depth`]: nesting, where
//! a flat chain of one precedence is one level, and tree height), computed by
//! the same steps (`deeper`, `link`, and the recursion level that prefix
//! operators drive), against the same `MAX_EXPR_DEPTH` and `MAX_TREE_DEPTH`.
//! Where the builder refuses, this parser gives up so the builder reports
//! it. If the builder's rule changes, change [`Fast::deeper`],
//! [`Fast::link`] and the level check in [`Fast::unary`] the same way.

use super::super::expr::{Depth, MAX_EXPR_DEPTH, MAX_TREE_DEPTH};
use super::cursor::{Fast, is_word_char, span};
use crate::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use aqueduct_diagnostics::Span;
use std::iter::Peekable;

/// Binding strength of `not`: between `and` (2) and comparisons (4).
const NOT_PRECEDENCE: u8 = 3;
/// Binding strength of unary `-`: tighter than every binary operator.
const NEG_PRECEDENCE: u8 = 9;

/// What stands in for an expression the builder refuses (too deep; `bad`
/// is set), as deep as the limit so nothing is built on top of it.
pub(super) fn refused(span: Span) -> (Expr, Depth) {
    (
        Expr {
            kind: ExprKind::Lit(crate::ast::Lit::Null),
            span,
        },
        Depth {
            nest: MAX_EXPR_DEPTH,
            tree: MAX_TREE_DEPTH,
        },
    )
}

/// Whether the builder refuses a node of this depth.
pub(super) fn exceeds(depth: Depth) -> bool {
    depth.nest > MAX_EXPR_DEPTH || depth.tree > MAX_TREE_DEPTH
}

/// One element of an expression's flat run.
enum Tok {
    Prefix(UnaryOp, Span),
    Infix(BinaryOp, Span),
    Operand(Expr, Depth),
}

impl Fast<'_> {
    /// An `expr`.
    pub(super) fn expr(&mut self) -> Option<Expr> {
        self.expr_d().map(|(e, _)| e)
    }

    /// An `expr` with the depth of its tree.
    pub(super) fn expr_d(&mut self) -> Option<(Expr, Depth)> {
        let mut toks = Vec::new();
        let mut first = self.operand(&mut toks)?;
        // `(infix_op ~ operand)*`: an operator without an operand after it
        // is not part of the expression.
        loop {
            let m = self.mark();
            let Some((op, op_span)) = self.infix_op() else {
                break;
            };
            if let Some((e, d)) = first.take() {
                toks.push(Tok::Operand(e, d));
            }
            let len = toks.len();
            toks.push(Tok::Infix(op, op_span));
            match self.operand(&mut toks) {
                Some(Some((e, d))) => toks.push(Tok::Operand(e, d)),
                Some(None) => {}
                None => {
                    toks.truncate(len);
                    self.reset(m);
                    break;
                }
            }
        }
        if let Some(only) = first {
            return Some(only);
        }
        let span = toks.first().map_or(Span::new(0, 0), |t| match t {
            Tok::Prefix(_, s) | Tok::Infix(_, s) => *s,
            Tok::Operand(e, _) => e.span,
        });
        let mut toks = toks.into_iter().peekable();
        // The grammar matched; `None` here is the builder refusing the tree
        // (`bad` is set): a placeholder stands in.
        Some(self.climb(&mut toks, 0, 0).unwrap_or_else(|| refused(span)))
    }

    /// `operand = { prefix_op* ~ primary }`. Without prefix operators the
    /// primary is returned; with them, operators and primary go on `toks`
    /// and the result is `Some(None)`. `None` when there is no operand.
    fn operand(&mut self, toks: &mut Vec<Tok>) -> Option<Option<(Expr, Depth)>> {
        let mut prefixed = false;
        while let Some(t) = self.prefix_op() {
            toks.push(t);
            prefixed = true;
        }
        let (e, d) = self.primary()?;
        if prefixed {
            toks.push(Tok::Operand(e, d));
            Some(None)
        } else {
            Some(Some((e, d)))
        }
    }

    /// `prefix_op = @{ "-" | ("not" ~ !(ASCII_ALPHANUMERIC | "_")) }`
    fn prefix_op(&mut self) -> Option<Tok> {
        let start = self.start();
        let (op, n) = match self.peek()? {
            b'-' => (UnaryOp::Neg, 1),
            b'n' if self.looking_at(b"not") && !self.peek_at(3).is_some_and(is_word_char) => {
                (UnaryOp::Not, 3)
            }
            _ => return None,
        };
        self.take(n);
        Some(Tok::Prefix(op, span(start, self.pos)))
    }

    /// `infix_op`: the operators in the grammar's order (`<=` before `<`).
    fn infix_op(&mut self) -> Option<(BinaryOp, Span)> {
        let start = self.start();
        let two = |a: u8, b: u8| -> bool { self.peek() == Some(a) && self.peek_at(1) == Some(b) };
        let word = |w: &[u8]| -> bool {
            self.looking_at(w) && !self.peek_at(w.len()).is_some_and(is_word_char)
        };
        let (op, n) = if two(b'=', b'=') {
            (BinaryOp::Eq, 2)
        } else if two(b'!', b'=') {
            (BinaryOp::Ne, 2)
        } else if two(b'<', b'=') {
            (BinaryOp::Le, 2)
        } else if two(b'>', b'=') {
            (BinaryOp::Ge, 2)
        } else if two(b'?', b'?') {
            (BinaryOp::Coalesce, 2)
        } else {
            match self.peek()? {
                b'<' => (BinaryOp::Lt, 1),
                b'>' => (BinaryOp::Gt, 1),
                b'+' => (BinaryOp::Add, 1),
                b'-' => (BinaryOp::Sub, 1),
                b'*' => (BinaryOp::Mul, 1),
                b'/' => (BinaryOp::Div, 1),
                b'%' => (BinaryOp::Rem, 1),
                b'a' if word(b"and") => (BinaryOp::And, 3),
                b'o' if word(b"or") => (BinaryOp::Or, 2),
                b'i' if word(b"in") => (BinaryOp::In, 2),
                _ => return None,
            }
        };
        self.take(n);
        Some((op, span(start, self.pos)))
    }

    /// Precedence climbing over `toks`: binary operators of at least `min`.
    /// `level` counts the recursion, which prefix operators drive. The
    /// builder's `climb`, line for line.
    fn climb(
        &mut self,
        toks: &mut Peekable<impl Iterator<Item = Tok>>,
        min: u8,
        level: u32,
    ) -> Option<(Expr, Depth)> {
        let (mut lhs, mut depth) = self.unary(toks, level)?;
        // the precedence of `lhs` when this loop built it (a chain so far)
        let mut chain: Option<u8> = None;
        while let Some(Tok::Infix(op, _)) = toks.peek() {
            let prec = op.precedence();
            if prec < min {
                break;
            }
            let Some(Tok::Infix(op, op_span)) = toks.next() else {
                break;
            };
            let (rhs, rd) = self.climb(toks, prec + 1, level + 1)?;
            let span = lhs.span.to(rhs.span);
            depth = self.link(depth, chain == Some(prec), rd);
            chain = Some(prec);
            if exceeds(depth) {
                // Refused (`bad` is set): building on would only make a
                // tree too deep to drop.
                return None;
            }
            lhs = Expr {
                kind: ExprKind::Binary {
                    op,
                    op_span,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            };
        }
        Some((lhs, depth))
    }

    /// An operand with its prefix operators (the builder's `unary`).
    fn unary(
        &mut self,
        toks: &mut Peekable<impl Iterator<Item = Tok>>,
        level: u32,
    ) -> Option<(Expr, Depth)> {
        match toks.next() {
            Some(Tok::Operand(e, d)) => Some((e, d)),
            Some(Tok::Prefix(op, op_span)) => {
                if level > MAX_EXPR_DEPTH {
                    // The builder stops here; so must the recursion.
                    self.bad = true;
                    return None;
                }
                let min = if op == UnaryOp::Not {
                    NOT_PRECEDENCE
                } else {
                    NEG_PRECEDENCE
                };
                let (expr, d) = self.climb(toks, min, level + 1)?;
                let span = op_span.to(expr.span);
                let depth = self.deeper(d);
                if exceeds(depth) {
                    return None;
                }
                Some((
                    Expr {
                        kind: ExprKind::Unary {
                            op,
                            op_span,
                            expr: Box::new(expr),
                        },
                        span,
                    },
                    depth,
                ))
            }
            // The grammar rules these out; never seen, but not a panic.
            Some(Tok::Infix(..)) | None => {
                self.bad = true;
                None
            }
        }
    }

    /// The depth of a node whose deepest child has depth `child`; notes a
    /// node the builder refuses (see [`exceeds`]).
    pub(super) fn deeper(&mut self, child: Depth) -> Depth {
        self.noted(Depth {
            nest: child.nest + 1,
            tree: child.tree + 1,
        })
    }

    /// The depth of a binary node: its left operand adds no nesting when it
    /// continues a chain of the same precedence (the builder's `link`).
    fn link(&mut self, lhs: Depth, same_chain: bool, rhs: Depth) -> Depth {
        let lhs_nest = if same_chain { lhs.nest } else { lhs.nest + 1 };
        self.noted(Depth {
            nest: lhs_nest.max(rhs.nest + 1),
            tree: lhs.tree.max(rhs.tree) + 1,
        })
    }

    fn noted(&mut self, depth: Depth) -> Depth {
        if exceeds(depth) {
            self.bad = true;
        }
        depth
    }
}
