//! Expressions: operator precedence over the flat operand/operator run.
//!
//! The grammar hands over an expression as a flat run of prefix operators,
//! operands and infix operators; this module applies precedence with a
//! precedence-climbing loop (left-associative binary operators, `not` looser
//! than comparisons, unary `-` tightest). Every builder returns the
//! [`Depth`] of the tree it built, so a pathological input is refused before
//! the tree gets deep enough to overflow the stack of whoever walks or drops
//! it. Two limits apply (`docs/language.md`, "Limits", states them exactly):
//! the nesting depth, where a flat chain of binary operators of one
//! precedence (`a + b - c + …`) counts as one level, is at most
//! [`MAX_EXPR_DEPTH`]; the depth of the tree itself, where every operator of
//! such a chain is a level, is at most [`MAX_TREE_DEPTH`].

use super::build::{Builder, P, R};
use super::grammar::Rule;
use crate::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use aqueduct_diagnostics::{Diagnostic, Span, codes};
use std::iter::Peekable;

/// The deepest nesting accepted. Above the bracket limit of the lexical
/// pass, so plain nesting is reported there first.
pub(super) const MAX_EXPR_DEPTH: u32 = 256;

/// The deepest expression tree accepted (a flat chain of `n` operators is a
/// tree `n` deep): what the recursive walkers after the parser (checker,
/// formatter, code generator, drop) handle on the CLI's stack.
pub(super) const MAX_TREE_DEPTH: u32 = 1024;

/// How deep an expression is, by the two measures the limits apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Depth {
    /// Nesting: each bracket, call, literal, prefix operator, `if` and
    /// operator precedence level adds one; the left operand of a binary
    /// operator continuing a chain of the same precedence adds none.
    pub(super) nest: u32,
    /// The height of the tree.
    pub(super) tree: u32,
}

impl Depth {
    /// Nothing (an empty list, a string without interpolations).
    pub(super) const ZERO: Depth = Depth { nest: 0, tree: 0 };
    /// A literal, a name or a path.
    pub(super) const LEAF: Depth = Depth { nest: 1, tree: 1 };

    /// The deeper of two, by each measure.
    pub(super) fn max(self, other: Depth) -> Depth {
        Depth {
            nest: self.nest.max(other.nest),
            tree: self.tree.max(other.tree),
        }
    }
}

/// Binding strength of `not`: between `and` (2) and comparisons (4).
const NOT_PRECEDENCE: u8 = 3;
/// Binding strength of unary `-`: tighter than every binary operator.
const NEG_PRECEDENCE: u8 = 9;

/// One element of the flat operator/operand run of an `expr` pair.
enum Tok {
    Prefix(UnaryOp, Span),
    Infix(BinaryOp, Span),
    Operand(Expr, Depth),
}

impl Builder<'_> {
    /// An `expr` (or any primary) pair → expression.
    pub(super) fn expr(&mut self, p: P<'_>) -> R<Expr> {
        self.expr_d(p).map(|(e, _)| e)
    }

    /// Like [`Builder::expr`], also returning the depth of the tree.
    pub(super) fn expr_d(&mut self, p: P<'_>) -> R<(Expr, Depth)> {
        if p.as_rule() != Rule::expr {
            return self.primary(p);
        }
        // Most expressions are one operand without prefix operators (`.id`,
        // `"text"`, `2`): build the primary directly, as the loop below
        // would, without collecting a run of one.
        if let Some(only) = single_primary(&p) {
            return self.primary(only);
        }
        let mut toks = Vec::new();
        for k in Self::kids(&p) {
            if k.as_rule() == Rule::operand {
                for o in Self::kids(&k) {
                    let tok = self.tok(o)?;
                    toks.push(tok);
                }
            } else {
                let tok = self.tok(k)?;
                toks.push(tok);
            }
        }
        let span = self.span(&p);
        let mut toks = toks.into_iter().peekable();
        self.climb(&mut toks, 0, 0, span)
    }

    /// One element of the flat run: an operator or an operand.
    fn tok(&mut self, k: P<'_>) -> R<Tok> {
        let span = self.span(&k);
        Ok(match k.as_rule() {
            Rule::prefix_op if k.as_str() == "-" => Tok::Prefix(UnaryOp::Neg, span),
            Rule::prefix_op => Tok::Prefix(UnaryOp::Not, span),
            Rule::infix_op => match binary_op(k.as_str()) {
                Some(op) => Tok::Infix(op, span),
                None => return Err(self.bug(span, "unknown operator")),
            },
            _ => {
                let (e, d) = self.primary(k)?;
                Tok::Operand(e, d)
            }
        })
    }

    /// Precedence climbing over `toks`: binary operators of at least `min`.
    /// `level` counts the recursion, which prefix operators drive.
    fn climb(
        &mut self,
        toks: &mut Peekable<impl Iterator<Item = Tok>>,
        min: u8,
        level: u32,
        at: Span,
    ) -> R<(Expr, Depth)> {
        let (mut lhs, mut depth) = self.unary(toks, level, at)?;
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
            let (rhs, rd) = self.climb(toks, prec + 1, level + 1, at)?;
            let span = lhs.span.to(rhs.span);
            depth = self.link(depth, chain == Some(prec), rd, span)?;
            chain = Some(prec);
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
        Ok((lhs, depth))
    }

    /// An operand with its prefix operators.
    fn unary(
        &mut self,
        toks: &mut Peekable<impl Iterator<Item = Tok>>,
        level: u32,
        at: Span,
    ) -> R<(Expr, Depth)> {
        match toks.next() {
            Some(Tok::Operand(e, d)) => Ok((e, d)),
            Some(Tok::Prefix(op, op_span)) => {
                if level > MAX_EXPR_DEPTH {
                    return Err(self.too_deep(op_span));
                }
                let min = if op == UnaryOp::Not {
                    NOT_PRECEDENCE
                } else {
                    NEG_PRECEDENCE
                };
                let (expr, d) = self.climb(toks, min, level + 1, at)?;
                let span = op_span.to(expr.span);
                let depth = self.deeper(d, span)?;
                Ok((
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
            Some(Tok::Infix(_, span)) => Err(self.bug(span, "operator without operand")),
            None => Err(self.bug(at, "missing operand")),
        }
    }

    /// The depth of a node whose deepest child has depth `child`; refuses
    /// nesting deeper than [`MAX_EXPR_DEPTH`] and trees deeper than
    /// [`MAX_TREE_DEPTH`].
    pub(super) fn deeper(&mut self, child: Depth, span: Span) -> R<Depth> {
        self.limit(
            Depth {
                nest: child.nest + 1,
                tree: child.tree + 1,
            },
            span,
        )
    }

    /// The depth of a binary node: its left operand adds no nesting when it
    /// continues a chain of the same precedence (`same_chain`).
    fn link(&mut self, lhs: Depth, same_chain: bool, rhs: Depth, span: Span) -> R<Depth> {
        let lhs_nest = if same_chain { lhs.nest } else { lhs.nest + 1 };
        self.limit(
            Depth {
                nest: lhs_nest.max(rhs.nest + 1),
                tree: lhs.tree.max(rhs.tree) + 1,
            },
            span,
        )
    }

    fn limit(&mut self, depth: Depth, span: Span) -> R<Depth> {
        if depth.nest > MAX_EXPR_DEPTH {
            Err(self.too_deep(span))
        } else if depth.tree > MAX_TREE_DEPTH {
            Err(self.too_long(span))
        } else {
            Ok(depth)
        }
    }

    fn too_long(&mut self, span: Span) -> super::build::Stop {
        self.diags.push(
            Diagnostic::error(codes::AQ0101, "this expression is too long")
                .with_primary(
                    self.file,
                    span,
                    format!("its tree is more than {MAX_TREE_DEPTH} operators deep"),
                )
                .with_help("split it into `let` steps"),
        );
        super::build::Stop
    }

    pub(super) fn too_deep(&mut self, span: Span) -> super::build::Stop {
        self.diags.push(
            Diagnostic::error(codes::AQ0101, "this expression is nested too deeply")
                .with_primary(
                    self.file,
                    span,
                    format!("more than {MAX_EXPR_DEPTH} levels of brackets, calls or operators"),
                )
                .with_help("split it into `let` steps"),
        );
        super::build::Stop
    }
}

/// The primary of an `expr` pair made of one operand without prefix
/// operators, if it is one.
fn single_primary<'i>(p: &P<'i>) -> Option<P<'i>> {
    let mut kids = p.clone().into_inner();
    let operand = kids.next()?;
    if kids.next().is_some() || operand.as_rule() != Rule::operand {
        return None;
    }
    let mut inner = operand.into_inner();
    let primary = inner.next()?;
    if inner.next().is_some() || primary.as_rule() == Rule::prefix_op {
        return None;
    }
    Some(primary)
}

/// The operator an `infix_op` pair spells.
fn binary_op(text: &str) -> Option<BinaryOp> {
    Some(match text {
        "or" => BinaryOp::Or,
        "and" => BinaryOp::And,
        "==" => BinaryOp::Eq,
        "!=" => BinaryOp::Ne,
        "<" => BinaryOp::Lt,
        "<=" => BinaryOp::Le,
        ">" => BinaryOp::Gt,
        ">=" => BinaryOp::Ge,
        "in" => BinaryOp::In,
        "??" => BinaryOp::Coalesce,
        "+" => BinaryOp::Add,
        "-" => BinaryOp::Sub,
        "*" => BinaryOp::Mul,
        "/" => BinaryOp::Div,
        "%" => BinaryOp::Rem,
        _ => return None,
    })
}
