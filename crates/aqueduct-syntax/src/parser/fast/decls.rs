//! Fast path for `file`, `decl`, `system_decl`, `option_body`,
//! `option_entry`, `option_block`, `type_decl`, `field_decl`, `field_name`,
//! `channel_decl`, `type_expr`, `list_type`, `endpoint`, `op_call`,
//! `inline_system`, `args` and `arg` (the builder's `build.rs`).

use super::super::expr::Depth;
use super::cursor::Fast;
use crate::ast::{
    Arg, CallTarget, ChannelDecl, Decl, Endpoint, FieldDecl, FieldName, Ident, OpCall, OptionBlock,
    OptionEntry, OptionValue, SystemDecl, TypeDecl, TypeExpr, TypeExprKind,
};

impl Fast<'_> {
    /// `file = { SOI ~ decl* ~ EOI }`
    pub(super) fn file(&mut self, expected: usize) -> Option<Vec<Decl>> {
        let mut decls = Vec::with_capacity(expected);
        loop {
            self.skip();
            if self.pos >= self.b.len() {
                return Some(decls);
            }
            // A failed `decl` ends the repetition, and `EOI` cannot match.
            decls.push(self.decl()?);
            if self.bad || self.exhausted {
                return None;
            }
        }
    }

    /// `decl`: dispatch on the declaration keyword.
    fn decl(&mut self) -> Option<Decl> {
        let start = self.start();
        match self.word() {
            b"system" => self.system(start).map(Decl::System),
            b"type" => self.type_decl(start).map(Decl::Type),
            b"channel" => self.channel(start).map(Decl::Channel),
            b"flow" => self.flow(start).map(Decl::Flow),
            b"test" => self.test(start).map(Decl::Test),
            _ => None,
        }
    }

    /// `system_decl = { kw_system ~ ident ~ colon ~ ident ~ option_body? }`
    fn system(&mut self, start: usize) -> Option<SystemDecl> {
        self.kw(b"system").then_some(())?;
        let name = self.ident()?;
        self.eat(b':').then_some(())?;
        let kind = self.ident()?;
        let m = self.mark();
        let options = match self.option_body() {
            Some(o) => o,
            None => {
                self.reset(m);
                Vec::new()
            }
        };
        Some(SystemDecl {
            doc: None,
            name,
            kind,
            options,
            span: self.span_from(start),
        })
    }

    /// `option_body = { lbrace ~ (option_entry ~ comma?)* ~ rbrace }`
    pub(super) fn option_body(&mut self) -> Option<Vec<OptionEntry>> {
        self.eat(b'{').then_some(())?;
        let mut out = Vec::new();
        loop {
            let m = self.mark();
            match self.option_entry() {
                Some(e) => out.push(e),
                None => {
                    self.reset(m);
                    break;
                }
            }
            self.comma();
        }
        self.eat(b'}').then_some(out)
    }

    /// `option_entry = { (ident | string) ~ assign ~ (option_block | expr) }`
    fn option_entry(&mut self) -> Option<OptionEntry> {
        let start = self.start();
        let name = match self.ident() {
            Some(i) => i,
            None => {
                // A quoted name (`"X-Api-Key" = …`) means the same name.
                let quoted = self.quoted_name()?;
                Ident {
                    name: quoted.name,
                    span: quoted.span,
                }
            }
        };
        self.assign().then_some(())?;
        let m = self.mark();
        let value = match self.option_block() {
            Some(b) => OptionValue::Block(b),
            None => {
                self.reset(m);
                OptionValue::Expr(self.expr()?)
            }
        };
        Some(OptionEntry {
            name,
            value,
            span: self.span_from(start),
        })
    }

    /// `option_block = { ident? ~ option_body }`
    fn option_block(&mut self) -> Option<OptionBlock> {
        let start = self.start();
        let kind = self.ident();
        let options = self.option_body()?;
        Some(OptionBlock {
            kind,
            options,
            span: self.span_from(start),
        })
    }

    /// `type_decl = { kw_type ~ ident ~ lbrace ~ (field_decl ~ comma?)* ~ rbrace }`
    fn type_decl(&mut self, start: usize) -> Option<TypeDecl> {
        self.kw(b"type").then_some(())?;
        let name = self.ident()?;
        self.eat(b'{').then_some(())?;
        let mut fields = Vec::with_capacity(8);
        loop {
            let m = self.mark();
            match self.field_decl() {
                Some(f) => fields.push(f),
                None => {
                    self.reset(m);
                    break;
                }
            }
            self.comma();
        }
        self.eat(b'}').then_some(())?;
        Some(TypeDecl {
            doc: None,
            name,
            fields,
            span: self.span_from(start),
        })
    }

    /// `field_decl = { field_name ~ colon ~ type_expr }`
    fn field_decl(&mut self) -> Option<FieldDecl> {
        let start = self.start();
        let name = self.field_name()?;
        self.eat(b':').then_some(())?;
        let ty = self.type_expr()?;
        Some(FieldDecl {
            doc: None,
            name,
            ty,
            span: self.span_from(start),
        })
    }

    /// `field_name = { ident | string }`
    pub(super) fn field_name(&mut self) -> Option<FieldName> {
        match self.ident() {
            Some(Ident { name, span }) => Some(FieldName {
                name,
                quoted: false,
                span,
            }),
            None => self.quoted_name(),
        }
    }

    /// `channel_decl = { kw_channel ~ ident ~ colon ~ type_expr ~ (kw_via ~ op_call)? }`
    fn channel(&mut self, start: usize) -> Option<ChannelDecl> {
        self.kw(b"channel").then_some(())?;
        let name = self.ident()?;
        self.eat(b':').then_some(())?;
        let ty = self.type_expr()?;
        let m = self.mark();
        let via = if self.kw(b"via") {
            let call = self.op_call();
            if call.is_none() {
                self.reset(m);
            }
            call
        } else {
            None
        };
        Some(ChannelDecl {
            doc: None,
            name,
            ty,
            via,
            span: self.span_from(start),
        })
    }

    /// `type_expr = { (list_type | type_name) ~ optional_mark? }`,
    /// `list_type = { lbracket ~ type_expr ~ rbracket }`.
    pub(super) fn type_expr(&mut self) -> Option<TypeExpr> {
        let start = self.start();
        let kind = if self.peek() == Some(b'[') {
            self.take(1);
            let elem = self.type_expr()?;
            self.eat(b']').then_some(())?;
            TypeExprKind::List(Box::new(elem))
        } else {
            TypeExprKind::Named(self.ident()?)
        };
        let optional = self.eat(b'?');
        Some(TypeExpr {
            kind,
            optional,
            span: self.span_from(start),
        })
    }

    /// `endpoint = { op_call | channel_ref }`
    pub(super) fn endpoint(&mut self) -> Option<Endpoint> {
        let m = self.mark();
        if let Some(call) = self.op_call() {
            return Some(Endpoint::Op(call));
        }
        self.reset(m);
        self.ident().map(Endpoint::Channel)
    }

    /// `op_call = { (inline_system | system_ref) ~ dot ~ op_name ~ args }`,
    /// `inline_system = { ident ~ args }`.
    pub(super) fn op_call(&mut self) -> Option<OpCall> {
        let start = self.start();
        let name = self.ident()?;
        let m = self.mark();
        let target = if self.at() == Some(b'(') {
            match self.args() {
                Some((args, _)) => CallTarget::Inline {
                    kind: name,
                    args,
                    span: self.span_from(start),
                },
                None => {
                    self.reset(m);
                    CallTarget::System(name)
                }
            }
        } else {
            CallTarget::System(name)
        };
        self.eat(b'.').then_some(())?;
        let op = self.ident()?;
        let (args, _) = self.args()?;
        Some(OpCall {
            target,
            op,
            args,
            span: self.span_from(start),
        })
    }

    /// `args = { lparen ~ (arg ~ comma?)* ~ rparen }`, with the depth of the
    /// deepest value.
    pub(super) fn args(&mut self) -> Option<(Vec<Arg>, Depth)> {
        self.eat(b'(').then_some(())?;
        let mut out = Vec::new();
        let mut depth = Depth::ZERO;
        loop {
            let m = self.mark();
            match self.arg() {
                Some((a, d)) => {
                    depth = depth.max(d);
                    out.push(a);
                }
                None => {
                    self.reset(m);
                    break;
                }
            }
            self.comma();
        }
        self.eat(b')').then_some((out, depth))
    }

    /// `arg = { (arg_name ~ colon)? ~ expr }`
    fn arg(&mut self) -> Option<(Arg, Depth)> {
        let start = self.start();
        let m = self.mark();
        let name = match self.ident() {
            Some(n) if self.eat(b':') => Some(n),
            _ => {
                self.reset(m);
                None
            }
        };
        let (value, depth) = self.expr_d()?;
        Some((
            Arg {
                name,
                value,
                span: self.span_from(start),
            },
            depth,
        ))
    }
}
