//! Declarations: `system`, `type`, `channel` and `test` (flows are in
//! `flows.rs`), with their doc comments, option blocks and test lines.
//!
//! Layout: the header on one line, the body one entry per line two spaces
//! deeper, `}` on its own line; an empty body is `{}`; a system without
//! options has no braces at all (`system out: stdio`).

use super::{Formatter, flat};
use crate::ast::{
    ChannelDecl, Decl, Doc, Expectation, FieldDecl, OptionEntry, OptionValue, SystemDecl, TestDecl,
    TestItem, TypeDecl,
};
use aqueduct_diagnostics::Span;

impl Formatter<'_> {
    /// One declaration, without the line break after its last line.
    pub(super) fn decl(&mut self, d: &Decl) {
        match d {
            Decl::System(s) => self.system(s),
            Decl::Type(t) => self.type_decl(t),
            Decl::Channel(c) => self.channel(c),
            Decl::Flow(f) => self.flow(f),
            Decl::Test(t) => self.test(t),
        }
    }

    /// The doc comment. A comment between the doc and the name is not
    /// written here (a `//` line after `///` lines would detach them): it
    /// trails the header line instead.
    pub(super) fn doc(&mut self, doc: Option<&Doc>) {
        if let Some(doc) = doc {
            self.p.doc(doc);
        }
    }

    /// `{`, the entries (one per line), `}`; `{}` when there are none.
    /// `entry` prints one entry and returns its span.
    pub(super) fn block<T>(
        &mut self,
        items: &[T],
        span: Span,
        mut entry: impl FnMut(&mut Self, &T) -> Span,
        start_of: impl Fn(&T) -> u32,
    ) {
        self.block_of(items, span, &mut entry, start_of, false);
    }

    /// [`Formatter::block`]; `takes_doc` when the entries take doc comments
    /// (the fields of a type).
    pub(super) fn block_of<T>(
        &mut self,
        items: &[T],
        span: Span,
        entry: &mut impl FnMut(&mut Self, &T) -> Span,
        start_of: impl Fn(&T) -> u32,
        takes_doc: bool,
    ) {
        if items.is_empty() && !self.p.has_comment_in(span) {
            self.p.write("{}");
            self.p.advance(span.end);
            return;
        }
        self.p.write("{");
        self.p.advance_past('{');
        self.p.open_block();
        for item in items {
            if takes_doc {
                self.p.doc_item(start_of(item));
            } else {
                self.p.item(start_of(item));
            }
            let item_span = entry(self, item);
            self.p.finish_item(item_span.end);
        }
        self.p.close_block(span.end, "}");
    }

    fn system(&mut self, s: &SystemDecl) {
        self.doc(s.doc.as_ref());
        self.p
            .write(&format!("system {}: {}", s.name.name, s.kind.name));
        self.p.advance(s.kind.span.end);
        if s.options.is_empty() && !self.p.has_comment_in(s.span) {
            return;
        }
        self.p.write(" ");
        self.options(&s.options, s.span);
    }

    fn options(&mut self, options: &[OptionEntry], span: Span) {
        self.block(options, span, Self::option, |o| o.span.start);
    }

    fn option(&mut self, o: &OptionEntry) -> Span {
        let mut name = String::new();
        super::flat::option_name(&mut name, &o.name.name);
        self.p.write(&name);
        self.p.write(" = ");
        self.p.advance(o.name.span.end);
        match &o.value {
            OptionValue::Expr(e) => self.expr(e),
            OptionValue::Block(b) => {
                if let Some(kind) = &b.kind {
                    self.p.write(&kind.name);
                    self.p.write(" ");
                    self.p.advance(kind.span.end);
                }
                self.options(&b.options, b.span);
            }
        }
        o.span
    }

    fn type_decl(&mut self, t: &TypeDecl) {
        self.doc(t.doc.as_ref());
        self.p.write(&format!("type {} ", t.name.name));
        self.p.advance(t.name.span.end);
        self.block_of(
            &t.fields,
            t.span,
            &mut Self::field,
            |f| {
                f.doc
                    .as_ref()
                    .map_or(f.span.start, |d| d.span.start.min(f.span.start))
            },
            true,
        );
    }

    fn field(&mut self, f: &FieldDecl) -> Span {
        self.doc(f.doc.as_ref());
        let mut text = String::new();
        flat::field_name(&mut text, &f.name);
        text.push_str(": ");
        flat::type_expr(&mut text, &f.ty);
        self.p.write(&text);
        f.span
    }

    fn channel(&mut self, c: &ChannelDecl) {
        self.doc(c.doc.as_ref());
        let mut text = format!("channel {}: ", c.name.name);
        flat::type_expr(&mut text, &c.ty);
        self.p.write(&text);
        self.p.advance(c.ty.span.end);
        if let Some(via) = &c.via {
            self.p.write(" via ");
            self.op_call(via);
        }
    }

    fn test(&mut self, t: &TestDecl) {
        self.doc(t.doc.as_ref());
        self.p
            .write(&format!("test {} for {} ", t.name.name, t.flow.name));
        self.p.advance(t.flow.span.end);
        self.block(&t.items, t.span, Self::test_item, |i| {
            test_item_span(i).start
        });
    }

    fn test_item(&mut self, item: &TestItem) -> Span {
        match item {
            TestItem::Given { record, .. } => {
                self.p.write("given ");
                self.expr(record);
            }
            TestItem::Stub { call, value, .. } => {
                self.p.write("stub ");
                self.op_call(call);
                self.p.write(" => ");
                self.expr(value);
            }
            TestItem::Expect { target, what, .. } => {
                self.p.write("expect ");
                if let Some(target) = target {
                    self.p.write(&target.name.name);
                    if let Some(op) = &target.op {
                        self.p.write(".");
                        self.p.write(&op.name);
                    }
                    self.p.write(": ");
                    self.p.advance(target.span.end);
                }
                match what {
                    Expectation::Record(e) => self.expr(e),
                    Expectation::Nothing => self.p.write("nothing"),
                    Expectation::Reply(status, e) => {
                        self.p.write("reply ");
                        if let Some(s) = status {
                            self.p.write(&format!("{} ", s.code));
                        }
                        self.expr(e);
                    }
                    Expectation::Error(e) => {
                        self.p.write("error ");
                        self.expr(e);
                    }
                }
            }
        }
        test_item_span(item)
    }
}

fn test_item_span(item: &TestItem) -> Span {
    match item {
        TestItem::Given { span, .. }
        | TestItem::Stub { span, .. }
        | TestItem::Expect { span, .. } => *span,
    }
}
