//! The tree builder's core (spans, child access, failure handling) and the
//! declarations that are not flows or tests: systems, option blocks, types,
//! channels, type expressions and operation calls.
//!
//! The builder trusts the grammar for the shape of the pairs, but never
//! indexes or unwraps: a pair that is missing where the grammar promises one
//! becomes an internal AQ0101 diagnostic instead of a panic.

use super::grammar::{Rule, is_atomic, is_token};
use crate::ast::{
    Arg, CallTarget, ChannelDecl, Decl, Endpoint, FieldDecl, FieldName, Ident, OpCall, OptionBlock,
    OptionEntry, OptionValue, SystemDecl, TypeDecl, TypeExpr, TypeExprKind,
};
use aqueduct_diagnostics::{Diagnostic, FileId, Span, codes};
use pest::iterators::Pair;

/// A pest pair of this grammar.
pub(super) type P<'i> = Pair<'i, Rule>;

/// Building stopped: the diagnostic saying why has been pushed already.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stop;

/// The result of building one node.
pub(super) type R<T> = Result<T, Stop>;

/// Turns the pairs of one parsed text (a whole file or one chunk of it) into
/// AST nodes, collecting literal errors on the way.
pub(super) struct Builder<'d> {
    /// The file the spans point into.
    pub(super) file: FileId,
    /// Byte offset of the parsed text in the file (non-zero for chunks).
    pub(super) base: u32,
    /// Diagnostics found while building.
    pub(super) diags: &'d mut Vec<Diagnostic>,
}

impl Builder<'_> {
    /// The span of a pair, in file offsets, without trailing whitespace.
    ///
    /// pest puts the implicit whitespace before an optional or repeated
    /// element outside of it, so a rule ending in `x?` or `x*` that matched
    /// nothing there ends after the whitespace (and comments) that follow.
    /// The real end is the end of the last token inside: follow the last
    /// child down until an atomic rule, whose span is always exact.
    ///
    /// The walk reads the token queue backwards: right before the end token
    /// of a pair comes the end token of its last child (or its own start
    /// token when it has none). This is the same walk as descending with
    /// `into_inner().next_back()`, without building a `Pairs` (which counts
    /// the children) at each level; it runs for every node of the tree.
    pub(super) fn span(&self, p: &P<'_>) -> Span {
        let start = p.as_span().start();
        let mut end = p.as_span().end();
        if !is_atomic(p.as_rule()) {
            let mut tokens = p.clone().tokens().rev().skip(1);
            while let Some(pest::Token::End { rule, pos }) = tokens.next() {
                end = pos.pos();
                if is_atomic(rule) {
                    break;
                }
            }
        }
        Span::new(self.offset(start), self.offset(end))
    }

    /// A chunk offset as a file offset (files are far below 4 GiB; see `MAX_FILE_BYTES`).
    pub(super) fn offset(&self, pos: usize) -> u32 {
        self.base
            .saturating_add(u32::try_from(pos).unwrap_or(u32::MAX))
    }

    /// The children of a pair without keyword and punctuation tokens.
    pub(super) fn kids<'i>(p: &P<'i>) -> impl Iterator<Item = P<'i>> + use<'i> {
        p.clone().into_inner().filter(|k| !is_token(k.as_rule()))
    }

    /// Records a tree shape the grammar should have ruled out, and stops.
    pub(super) fn bug(&mut self, span: Span, what: &str) -> Stop {
        self.diags.push(
            Diagnostic::error(codes::AQ0101, format!("internal parser error: {what}"))
                .with_primary(self.file, span, "the parser could not read this")
                .with_help("this is a bug in aqueduct; please report it with this file"),
        );
        Stop
    }

    /// The next child, which the grammar guarantees.
    pub(super) fn need<'i>(
        &mut self,
        it: &mut impl Iterator<Item = P<'i>>,
        parent: Span,
        what: &str,
    ) -> R<P<'i>> {
        match it.next() {
            Some(p) => Ok(p),
            None => Err(self.bug(parent, &format!("missing {what}"))),
        }
    }

    /// The next child when it has rule `rule`, consuming it.
    pub(super) fn take_if<'i>(
        it: &mut std::iter::Peekable<impl Iterator<Item = P<'i>>>,
        rule: Rule,
    ) -> Option<P<'i>> {
        if it.peek().is_some_and(|p| p.as_rule() == rule) {
            it.next()
        } else {
            None
        }
    }

    /// A name.
    pub(super) fn ident(&self, p: &P<'_>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(p),
        }
    }

    /// The pairs of a `file` rule → declarations.
    pub(super) fn decls(&mut self, file: P<'_>) -> R<Vec<Decl>> {
        let mut out = Vec::new();
        for d in Self::kids(&file) {
            if d.as_rule() != Rule::decl {
                continue;
            }
            let span = self.span(&d);
            let inner = self.need(&mut Self::kids(&d), span, "declaration")?;
            out.push(self.decl(inner)?);
        }
        Ok(out)
    }

    fn decl(&mut self, p: P<'_>) -> R<Decl> {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::system_decl => self.system(p).map(Decl::System),
            Rule::type_decl => self.type_decl(p).map(Decl::Type),
            Rule::channel_decl => self.channel(p).map(Decl::Channel),
            Rule::flow_decl => self.flow(p).map(Decl::Flow),
            Rule::test_decl => self.test(p).map(Decl::Test),
            _ => Err(self.bug(span, "unknown declaration")),
        }
    }

    fn system(&mut self, p: P<'_>) -> R<SystemDecl> {
        let span = self.span(&p);
        let mut it = Self::kids(&p);
        let name = self.need(&mut it, span, "system name")?;
        let kind = self.need(&mut it, span, "connector kind")?;
        let options = match it.next() {
            Some(body) => self.option_body(body)?,
            None => Vec::new(),
        };
        Ok(SystemDecl {
            doc: None,
            name: self.ident(&name),
            kind: self.ident(&kind),
            options,
            span,
        })
    }

    /// `{ name = value … }` → its entries.
    pub(super) fn option_body(&mut self, p: P<'_>) -> R<Vec<OptionEntry>> {
        Self::kids(&p).map(|e| self.option_entry(e)).collect()
    }

    fn option_entry(&mut self, p: P<'_>) -> R<OptionEntry> {
        let span = self.span(&p);
        let mut it = Self::kids(&p);
        let name = self.need(&mut it, span, "option name")?;
        let value = self.need(&mut it, span, "option value")?;
        let value = if value.as_rule() == Rule::option_block {
            let block_span = self.span(&value);
            let mut inner = Self::kids(&value).peekable();
            let kind = Self::take_if(&mut inner, Rule::ident).map(|k| self.ident(&k));
            let body = self.need(&mut inner, block_span, "option block")?;
            OptionValue::Block(OptionBlock {
                kind,
                options: self.option_body(body)?,
                span: block_span,
            })
        } else {
            OptionValue::Expr(self.expr(value)?)
        };
        // A quoted name (`"X-Api-Key" = …`) is for keys that are not
        // identifiers, such as HTTP header names; it means the same name.
        let name = if name.as_rule() == Rule::string {
            let quoted = self.quoted_name(name)?;
            Ident {
                name: quoted.name,
                span: quoted.span,
            }
        } else {
            self.ident(&name)
        };
        Ok(OptionEntry { name, value, span })
    }

    fn type_decl(&mut self, p: P<'_>) -> R<TypeDecl> {
        let span = self.span(&p);
        let mut it = Self::kids(&p);
        let name = self.need(&mut it, span, "type name")?;
        let mut fields = Vec::new();
        for f in it {
            let fspan = self.span(&f);
            let mut inner = Self::kids(&f);
            let fname = self.need(&mut inner, fspan, "field name")?;
            let ty = self.need(&mut inner, fspan, "field type")?;
            fields.push(FieldDecl {
                doc: None,
                name: self.field_name(fname)?,
                ty: self.type_expr(ty)?,
                span: fspan,
            });
        }
        Ok(TypeDecl {
            doc: None,
            name: self.ident(&name),
            fields,
            span,
        })
    }

    /// A `field_name` pair: a name or a quoted string.
    pub(super) fn field_name(&mut self, p: P<'_>) -> R<FieldName> {
        let span = self.span(&p);
        let inner = self.need(&mut Self::kids(&p), span, "field name")?;
        if inner.as_rule() == Rule::string {
            self.quoted_name(inner)
        } else {
            Ok(FieldName {
                name: inner.as_str().to_string(),
                quoted: false,
                span,
            })
        }
    }

    fn channel(&mut self, p: P<'_>) -> R<ChannelDecl> {
        let span = self.span(&p);
        let mut it = Self::kids(&p);
        let name = self.need(&mut it, span, "channel name")?;
        let ty = self.need(&mut it, span, "channel type")?;
        let via = match it.next() {
            Some(call) => Some(self.op_call(call)?),
            None => None,
        };
        Ok(ChannelDecl {
            doc: None,
            name: self.ident(&name),
            ty: self.type_expr(ty)?,
            via,
            span,
        })
    }

    /// `string`, `[T]`, `T?`.
    pub(super) fn type_expr(&mut self, p: P<'_>) -> R<TypeExpr> {
        let span = self.span(&p);
        let mut it = Self::kids(&p);
        let head = self.need(&mut it, span, "type")?;
        let optional = it
            .next()
            .is_some_and(|m| m.as_rule() == Rule::optional_mark);
        let kind = if head.as_rule() == Rule::list_type {
            let hspan = self.span(&head);
            let elem = self.need(&mut Self::kids(&head), hspan, "element type")?;
            TypeExprKind::List(Box::new(self.type_expr(elem)?))
        } else {
            TypeExprKind::Named(self.ident(&head))
        };
        Ok(TypeExpr {
            kind,
            optional,
            span,
        })
    }

    /// `endpoint` → an operation or a channel.
    pub(super) fn endpoint(&mut self, p: P<'_>) -> R<Endpoint> {
        let span = self.span(&p);
        let inner = self.need(&mut Self::kids(&p), span, "endpoint")?;
        if inner.as_rule() == Rule::op_call {
            Ok(Endpoint::Op(self.op_call(inner)?))
        } else {
            Ok(Endpoint::Channel(self.ident(&inner)))
        }
    }

    /// `system.op(args)` or `kind(args).op(args)`.
    pub(super) fn op_call(&mut self, p: P<'_>) -> R<OpCall> {
        let span = self.span(&p);
        let mut it = Self::kids(&p);
        let target = self.need(&mut it, span, "system")?;
        let target = if target.as_rule() == Rule::inline_system {
            let tspan = self.span(&target);
            let mut inner = Self::kids(&target);
            let kind = self.need(&mut inner, tspan, "connector kind")?;
            let args = self.need(&mut inner, tspan, "arguments")?;
            CallTarget::Inline {
                kind: self.ident(&kind),
                args: self.args(args)?,
                span: tspan,
            }
        } else {
            CallTarget::System(self.ident(&target))
        };
        let op = self.need(&mut it, span, "operation")?;
        let args = self.need(&mut it, span, "arguments")?;
        Ok(OpCall {
            target,
            op: self.ident(&op),
            args: self.args(args)?,
            span,
        })
    }

    /// `(a, name: b)` → arguments.
    pub(super) fn args(&mut self, p: P<'_>) -> R<Vec<Arg>> {
        Self::kids(&p)
            .map(|a| self.arg(a).map(|(arg, _)| arg))
            .collect()
    }

    /// One argument, with the depth of its value.
    pub(super) fn arg(&mut self, p: P<'_>) -> R<(Arg, super::expr::Depth)> {
        let span = self.span(&p);
        let mut it = Self::kids(&p).peekable();
        let name = Self::take_if(&mut it, Rule::arg_name).map(|n| Ident {
            name: n.as_str().to_string(),
            span: self.span(&n),
        });
        let value = self.need(&mut it, span, "argument value")?;
        let (value, depth) = self.expr_d(value)?;
        Ok((Arg { name, value, span }, depth))
    }
}
