//! Primary expressions: literals, strings, paths, calls, lists, record
//! literals, parentheses and `if`. Each returns the depth of the tree it
//! built (see `expr.rs`).

use super::build::{Builder, P, R};
use super::expr::Depth;
use super::grammar::Rule;
use crate::ast::{
    Expr, ExprKind, FieldName, Lit, Path, PathRoot, PathSegment, RecordEntry, RecordLit,
};
use aqueduct_diagnostics::Span;

impl Builder<'_> {
    /// Everything but operators.
    pub(super) fn primary(&mut self, p: P<'_>) -> R<(Expr, Depth)> {
        let span = self.span(&p);
        let leaf = |kind| Ok((Expr { kind, span }, Depth::LEAF));
        match p.as_rule() {
            Rule::number => {
                let lit = self.number(&p);
                leaf(ExprKind::Lit(lit))
            }
            Rule::lit_true => leaf(ExprKind::Lit(Lit::Bool(true))),
            Rule::lit_false => leaf(ExprKind::Lit(Lit::Bool(false))),
            Rule::lit_null => leaf(ExprKind::Lit(Lit::Null)),
            Rule::value_name => leaf(ExprKind::Ident(self.ident(&p))),
            Rule::string | Rule::triple_string => {
                let (s, d) = self.string(p)?;
                Ok((
                    Expr {
                        kind: ExprKind::Str(s),
                        span,
                    },
                    self.deeper(d, span)?,
                ))
            }
            Rule::record_path | Rule::binding_path => self.path(p),
            Rule::paren => {
                let inner = self.need(&mut Self::kids(&p), span, "expression")?;
                let (e, d) = self.expr_d(inner)?;
                Ok((
                    Expr {
                        kind: ExprKind::Paren(Box::new(e)),
                        span,
                    },
                    self.deeper(d, span)?,
                ))
            }
            Rule::list => {
                let mut items = Vec::new();
                let mut depth = Depth::ZERO;
                for k in Self::kids(&p) {
                    let (e, d) = self.expr_d(k)?;
                    depth = depth.max(d);
                    items.push(e);
                }
                Ok((
                    Expr {
                        kind: ExprKind::List(items),
                        span,
                    },
                    self.deeper(depth, span)?,
                ))
            }
            Rule::call => {
                let mut it = Self::kids(&p);
                let func = self.need(&mut it, span, "function name")?;
                let args_pair = self.need(&mut it, span, "arguments")?;
                let mut args = Vec::new();
                let mut depth = Depth::ZERO;
                for a in Self::kids(&args_pair) {
                    let (arg, d) = self.arg(a)?;
                    depth = depth.max(d);
                    args.push(arg);
                }
                let func = self.ident(&func);
                Ok((
                    Expr {
                        kind: ExprKind::Call { func, args },
                        span,
                    },
                    self.deeper(depth, span)?,
                ))
            }
            Rule::record_lit => {
                let mut it = Self::kids(&p).peekable();
                let ty = Self::take_if(&mut it, Rule::value_name).map(|t| self.ident(&t));
                let body = self.need(&mut it, span, "record body")?;
                let (entries, d) = self.record_entries(body)?;
                let record = RecordLit { ty, entries, span };
                Ok((
                    Expr {
                        kind: ExprKind::Record(record),
                        span,
                    },
                    self.deeper(d, span)?,
                ))
            }
            Rule::if_expr => self.if_expr(p),
            _ => Err(self.bug(span, "unknown expression")),
        }
    }

    /// The entries of a `record_body`, with the depth of the deepest value.
    pub(super) fn record_entries(&mut self, body: P<'_>) -> R<(Vec<RecordEntry>, Depth)> {
        let mut entries = Vec::new();
        let mut depth = Depth::ZERO;
        for e in Self::kids(&body) {
            let span = self.span(&e);
            let mut it = Self::kids(&e);
            let first = self.need(&mut it, span, "record entry")?;
            if first.as_rule() == Rule::spread {
                entries.push(RecordEntry::Spread(span));
                continue;
            }
            let name = self.field_name(first)?;
            let value = self.need(&mut it, span, "field value")?;
            let (value, d) = self.expr_d(value)?;
            depth = depth.max(d);
            entries.push(RecordEntry::Field { name, value, span });
        }
        Ok((entries, depth))
    }

    /// `.a.b[0]`, `$x.y`.
    fn path(&mut self, p: P<'_>) -> R<(Expr, Depth)> {
        let span = self.span(&p);
        let mut it = Self::kids(&p).peekable();
        let root = if p.as_rule() == Rule::binding_path {
            let name = self.need(&mut it, span, "binding name")?;
            PathRoot::Binding(self.ident(&name))
        } else {
            PathRoot::Record
        };
        let mut segments = Vec::new();
        let mut depth = Depth::ZERO;
        for seg in it {
            let sspan = self.span(&seg);
            match seg.as_rule() {
                Rule::path_word => segments.push(PathSegment::Field(FieldName {
                    name: seg.as_str().to_string(),
                    quoted: false,
                    span: sspan,
                })),
                Rule::quoted_seg => {
                    let s = self.need(&mut Self::kids(&seg), sspan, "quoted field name")?;
                    segments.push(PathSegment::Field(self.quoted_name(s)?));
                }
                Rule::index_seg => {
                    let e = self.need(&mut Self::kids(&seg), sspan, "index")?;
                    let (e, d) = self.expr_d(e)?;
                    depth = depth.max(d);
                    segments.push(PathSegment::Index(e));
                }
                _ => return Err(self.bug(sspan, "unknown path segment")),
            }
        }
        Ok((
            Expr {
                kind: ExprKind::Path(Path { root, segments }),
                span,
            },
            self.deeper(depth, span)?,
        ))
    }

    /// `if c { a } else if c2 { b } else { d }`; `else if` arms nest in `otherwise`.
    fn if_expr(&mut self, p: P<'_>) -> R<(Expr, Depth)> {
        let span = self.span(&p);
        let mut it = Self::kids(&p);
        let cond = self.need(&mut it, span, "condition")?;
        let then = self.need(&mut it, span, "value")?;
        let first = self.branch(cond, then)?;
        // (start of the `if` keyword, condition, value) for each `else if`.
        let mut arms = Vec::new();
        let mut otherwise: Option<(Expr, Depth)> = None;
        for k in it {
            let kspan = self.span(&k);
            if k.as_rule() == Rule::else_if {
                let start = k
                    .clone()
                    .into_inner()
                    .find(|t| t.as_rule() == Rule::kw_if)
                    .map_or(kspan.start, |t| self.span(&t).start);
                let mut inner = Self::kids(&k);
                let c = self.need(&mut inner, kspan, "condition")?;
                let v = self.need(&mut inner, kspan, "value")?;
                arms.push((start, self.branch(c, v)?));
            } else {
                let v = self.need(&mut Self::kids(&k), kspan, "value")?;
                otherwise = Some(self.expr_d(v)?);
            }
        }
        // Fold from the last arm so each `else if` becomes the `otherwise` of the one before.
        for (start, (c, v, d)) in arms.into_iter().rev() {
            let (rest, rd) = match otherwise.take() {
                Some((e, d)) => (Some(Box::new(e)), d),
                None => (None, Depth::ZERO),
            };
            let espan = Span::new(start, span.end);
            let depth = self.deeper(d.max(rd), espan)?;
            otherwise = Some((
                Expr {
                    kind: ExprKind::If {
                        cond: Box::new(c),
                        then: Box::new(v),
                        otherwise: rest,
                    },
                    span: espan,
                },
                depth,
            ));
        }
        let (c, v, d) = first;
        let (rest, rd) = match otherwise {
            Some((e, d)) => (Some(Box::new(e)), d),
            None => (None, Depth::ZERO),
        };
        let depth = self.deeper(d.max(rd), span)?;
        Ok((
            Expr {
                kind: ExprKind::If {
                    cond: Box::new(c),
                    then: Box::new(v),
                    otherwise: rest,
                },
                span,
            },
            depth,
        ))
    }

    fn branch(&mut self, cond: P<'_>, value: P<'_>) -> R<(Expr, Expr, Depth)> {
        let (c, cd) = self.expr_d(cond)?;
        let (v, vd) = self.expr_d(value)?;
        Ok((c, v, cd.max(vd)))
    }
}
