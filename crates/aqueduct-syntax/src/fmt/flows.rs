//! Flows: the `mode` and `from` lines, steps, `route` arms and policies.
//!
//! Items stay in source order, one per line (the checker enforces their
//! order, the formatter never moves them). A `map` body is always a block;
//! a route arm with one unbraced step stays on the `when … =>` line, a
//! braced arm is a block; policies are one line each, `circuit_breaker`
//! included.

use super::{Formatter, flat};
use crate::ast::{
    Backoff, Endpoint, FlowDecl, FlowItem, ModeDecl, ModeKind, OptionEntry, OptionValue, Policy,
    PolicyKind, RouteArm, Schedule, Step, StepKind, TypeExpr,
};
use aqueduct_diagnostics::Span;

impl Formatter<'_> {
    pub(super) fn flow(&mut self, f: &FlowDecl) {
        self.doc(f.doc.as_ref());
        self.p.write(&format!("flow {} ", f.name.name));
        self.p.advance(f.name.span.end);
        self.block(&f.items, f.span, Self::flow_item, |i| {
            flow_item_span(i).start
        });
    }

    fn flow_item(&mut self, item: &FlowItem) -> Span {
        match item {
            FlowItem::Mode(m) => self.mode(m),
            FlowItem::From(from) => {
                self.p.write("from ");
                self.endpoint(&from.source);
                self.as_type(from.as_type.as_ref());
            }
            FlowItem::Step(step) => self.step(step),
            FlowItem::Policy(policy) => self.policy(policy),
        }
        flow_item_span(item)
    }

    fn mode(&mut self, m: &ModeDecl) {
        self.p.write(match m.kind {
            ModeKind::Sync => "mode sync",
            ModeKind::Async => "mode async",
            ModeKind::Batch => "mode batch",
        });
        self.p.advance(m.kind_span.end);
        match &m.schedule {
            Some(Schedule::Cron(e)) => {
                self.p.write(" schedule ");
                self.expr(e);
            }
            Some(Schedule::Every(e)) => {
                self.p.write(" every ");
                self.expr(e);
            }
            None => {}
        }
        if let Some(chunk) = &m.chunk {
            self.p.write(" chunk ");
            self.expr(chunk);
        }
    }

    fn as_type(&mut self, ty: Option<&TypeExpr>) {
        if let Some(ty) = ty {
            let mut text = String::from(" as ");
            flat::type_expr(&mut text, ty);
            self.p.write(&text);
            self.p.advance(ty.span.end);
        }
    }

    /// An operation (laid out like a call) or a channel name.
    pub(super) fn endpoint(&mut self, ep: &Endpoint) {
        match ep {
            Endpoint::Op(call) => self.op_call(call),
            Endpoint::Channel(name) => {
                self.p.write(&name.name);
                self.p.advance(name.span.end);
            }
        }
    }

    /// One step, without the line break after it.
    fn step(&mut self, step: &Step) {
        match &step.kind {
            StepKind::Where(e) => {
                self.p.write("where ");
                self.expr(e);
            }
            StepKind::Map(r) => {
                self.p.write("map ");
                self.record_block(r);
            }
            StepKind::Let { name, value } => {
                self.p.write(&format!("let {} = ", name.name));
                self.expr(value);
            }
            StepKind::Enrich {
                name,
                call,
                as_type,
            } => {
                self.p.write(&format!("enrich {} = ", name.name));
                self.op_call(call);
                self.as_type(as_type.as_ref());
            }
            StepKind::Split { list, as_type } => {
                self.p.write("split ");
                self.expr(list);
                self.as_type(as_type.as_ref());
            }
            StepKind::Batch { size, within } => {
                self.p.write("batch ");
                self.expr(size);
                self.within(within.as_ref());
            }
            StepKind::Dedupe { by, within } => {
                self.p.write("dedupe by ");
                self.expr(by);
                self.within(within.as_ref());
            }
            StepKind::Tap(ep) => {
                self.p.write("tap ");
                self.endpoint(ep);
            }
            StepKind::Route(arms) => {
                self.p.write("route ");
                // A comment after `route {` trails the `route {` line.
                self.p.advance_to(step.span.start.saturating_add(5));
                self.block(arms, step.span, Self::route_arm, |a| a.span.start);
            }
            StepKind::To(ep) => {
                self.p.write("to ");
                self.endpoint(ep);
            }
            StepKind::Reply(status, e) => {
                self.p.write("reply ");
                if let Some(s) = status {
                    self.p.write(&format!("{} ", s.code));
                }
                self.expr(e);
            }
        }
        self.p.advance(step.span.end);
    }

    fn within(&mut self, within: Option<&crate::ast::Expr>) {
        if let Some(d) = within {
            self.p.write(" within ");
            self.expr(d);
        }
    }

    /// `when COND => STEP`, `when COND => {` … `}` or `else => …`.
    fn route_arm(&mut self, arm: &RouteArm) -> Span {
        match &arm.condition {
            Some(cond) => {
                self.p.write("when ");
                self.expr(cond);
            }
            None => {
                self.p.write("else");
                self.p.advance_to(arm.span.start.saturating_add(4));
            }
        }
        self.p.write(" => ");
        match arm.steps.as_slice() {
            [only] if !arm.braced => self.step(only),
            steps => self.block(steps, arm.span, Self::arm_step, |s| s.span.start),
        }
        arm.span
    }

    fn arm_step(&mut self, step: &Step) -> Span {
        self.step(step);
        step.span
    }

    fn policy(&mut self, policy: &Policy) {
        match &policy.kind {
            PolicyKind::Retry { attempts, backoff } => {
                self.p.write("retry ");
                self.expr(attempts);
                if let Some(b) = backoff {
                    let mut text = String::from(" backoff ");
                    backoff_text(&mut text, b);
                    self.p.write(&text);
                }
            }
            PolicyKind::Timeout(d) => {
                self.p.write("timeout ");
                self.expr(d);
            }
            PolicyKind::DeadLetter(ep) => {
                self.p.write("dead_letter ");
                self.endpoint(ep);
            }
            PolicyKind::RateLimit { count, per } => {
                self.p.write("rate_limit ");
                self.expr(count);
                self.p.write(" per ");
                self.expr(per);
            }
            PolicyKind::Concurrency(n) => {
                self.p.write("concurrency ");
                self.expr(n);
            }
            PolicyKind::CircuitBreaker(entries) => {
                let mut text = String::from("circuit_breaker ");
                option_block(&mut text, entries);
                self.p.write(&text);
            }
        }
        self.p.advance(policy.span.end);
    }
}

fn flow_item_span(item: &FlowItem) -> Span {
    match item {
        FlowItem::Mode(m) => m.span,
        FlowItem::From(f) => f.span,
        FlowItem::Step(s) => s.span,
        FlowItem::Policy(p) => p.span,
    }
}

/// `exponential(1s, 1m)` or `fixed(5s)`.
fn backoff_text(out: &mut String, b: &Backoff) {
    match b {
        Backoff::Exponential { base, max, .. } => {
            out.push_str("exponential(");
            flat::expr(out, base);
            out.push_str(", ");
            flat::expr(out, max);
            out.push(')');
        }
        Backoff::Fixed { delay, .. } => {
            out.push_str("fixed(");
            flat::expr(out, delay);
            out.push(')');
        }
    }
}

/// `{ a = 1, b = 2 }` with nested blocks inline (for `circuit_breaker`).
fn option_block(out: &mut String, entries: &[OptionEntry]) {
    if entries.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{ ");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        flat::option_name(out, &entry.name.name);
        out.push_str(" = ");
        match &entry.value {
            OptionValue::Expr(e) => flat::expr(out, e),
            OptionValue::Block(b) => {
                if let Some(kind) = &b.kind {
                    out.push_str(&kind.name);
                    out.push(' ');
                }
                option_block(out, &b.options);
            }
        }
    }
    out.push_str(" }");
}
