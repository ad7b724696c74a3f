//! Flow and test declarations: `mode`, `from`, steps, policies, and the
//! `given` / `stub` / `expect` lines of tests.

use super::build::{Builder, P, R};
use super::grammar::Rule;
use crate::ast::{
    Backoff, Expectation, Expr, FlowDecl, FlowItem, FromClause, ModeDecl, ModeKind, Policy,
    PolicyKind, RecordLit, RouteArm, Schedule, Step, StepKind, TargetRef, TestDecl, TestItem,
    TypeExpr,
};
use aqueduct_diagnostics::{Diagnostic, codes};

impl Builder<'_> {
    /// `flow NAME { … }`
    pub(super) fn flow(&mut self, p: P<'_>) -> R<FlowDecl> {
        let span = self.span(&p);
        let mut it = Self::kids(&p);
        let name = self.need(&mut it, span, "flow name")?;
        let mut items = Vec::new();
        for item in it {
            let ispan = self.span(&item);
            let inner = self.need(&mut Self::kids(&item), ispan, "flow line")?;
            items.push(match inner.as_rule() {
                Rule::mode_line => FlowItem::Mode(self.mode(inner)?),
                Rule::from_line => FlowItem::From(self.from(inner)?),
                Rule::step => FlowItem::Step(self.step(inner)?),
                _ => FlowItem::Policy(self.policy(inner)?),
            });
        }
        Ok(FlowDecl {
            doc: None,
            name: self.ident(&name),
            items,
            span,
        })
    }

    fn mode(&mut self, p: P<'_>) -> R<ModeDecl> {
        let span = self.span(&p);
        let mut it = Self::kids(&p);
        let kind_pair = self.need(&mut it, span, "mode")?;
        let kind_pair = self.need(&mut Self::kids(&kind_pair), span, "mode")?;
        let kind = match kind_pair.as_rule() {
            Rule::mode_sync => ModeKind::Sync,
            Rule::mode_async => ModeKind::Async,
            _ => ModeKind::Batch,
        };
        let mut schedule: Option<Schedule> = None;
        let mut chunk = None;
        for clause in it {
            let cspan = self.span(&clause);
            let rule = clause.as_rule();
            let value = self.need(&mut Self::kids(&clause), cspan, "value")?;
            let value = self.expr(value)?;
            let twice = match rule {
                Rule::chunk_clause => chunk.replace(value).is_some(),
                Rule::schedule_clause => schedule.replace(Schedule::Cron(value)).is_some(),
                _ => schedule.replace(Schedule::Every(value)).is_some(),
            };
            if twice {
                let word = clause.as_str().split_whitespace().next().unwrap_or("");
                let help = if rule == Rule::chunk_clause {
                    "keep one `chunk`"
                } else {
                    "a `mode` line takes one `schedule` or one `every`"
                };
                self.diags.push(
                    Diagnostic::error(
                        codes::AQ0101,
                        format!("this `mode` line sets its timing twice (`{word}`)"),
                    )
                    .with_primary(self.file, cspan, "second setting")
                    .with_help(help),
                );
            }
        }
        Ok(ModeDecl {
            kind,
            kind_span: self.span(&kind_pair),
            schedule,
            chunk,
            span,
        })
    }

    fn from(&mut self, p: P<'_>) -> R<FromClause> {
        let span = self.span(&p);
        let mut it = Self::kids(&p);
        let source = self.need(&mut it, span, "source")?;
        let source = self.endpoint(source)?;
        let as_type = self.opt_type(it.next())?;
        Ok(FromClause {
            source,
            as_type,
            span,
        })
    }

    fn opt_type(&mut self, p: Option<P<'_>>) -> R<Option<TypeExpr>> {
        p.map(|t| self.type_expr(t)).transpose()
    }

    fn opt_expr(&mut self, p: Option<P<'_>>) -> R<Option<Expr>> {
        p.map(|t| {
            let span = self.span(&t);
            // `within_clause` wraps its expression.
            let e = if t.as_rule() == Rule::within_clause {
                self.need(&mut Self::kids(&t), span, "duration")?
            } else {
                t
            };
            self.expr(e)
        })
        .transpose()
    }

    /// A `step` pair.
    fn step(&mut self, p: P<'_>) -> R<Step> {
        let span = self.span(&p);
        let inner = self.need(&mut Self::kids(&p), span, "step")?;
        let rule = inner.as_rule();
        let mut it = Self::kids(&inner);
        let kind = match rule {
            Rule::where_step => StepKind::Where(self.next_expr(&mut it, span, "condition")?),
            Rule::map_step => {
                let ty = self.need(&mut it, span, "record type")?;
                let body = self.need(&mut it, span, "record body")?;
                let rspan = self.span(&ty).to(self.span(&body));
                let ty = self.ident(&ty);
                let (entries, _) = self.record_entries(body)?;
                StepKind::Map(RecordLit {
                    ty: Some(ty),
                    entries,
                    span: rspan,
                })
            }
            Rule::let_step => {
                let name = self.need(&mut it, span, "binding name")?;
                let value = self.need(&mut it, span, "value")?;
                StepKind::Let {
                    name: self.ident(&name),
                    value: self.expr(value)?,
                }
            }
            Rule::enrich_step => {
                let name = self.need(&mut it, span, "binding name")?;
                let call = self.need(&mut it, span, "call")?;
                let call = self.op_call(call)?;
                let as_type = self.opt_type(it.next())?;
                StepKind::Enrich {
                    name: self.ident(&name),
                    call,
                    as_type,
                }
            }
            Rule::split_step => {
                let list = self.next_expr(&mut it, span, "list")?;
                StepKind::Split {
                    list,
                    as_type: self.opt_type(it.next())?,
                }
            }
            Rule::batch_step => {
                let size = self.next_expr(&mut it, span, "size")?;
                StepKind::Batch {
                    size,
                    within: self.opt_expr(it.next())?,
                }
            }
            Rule::dedupe_step => {
                let by = self.next_expr(&mut it, span, "key")?;
                StepKind::Dedupe {
                    by,
                    within: self.opt_expr(it.next())?,
                }
            }
            Rule::tap_step => StepKind::Tap(self.next_endpoint(&mut it, span, "target")?),
            Rule::to_step => StepKind::To(self.next_endpoint(&mut it, span, "target")?),
            Rule::reply_step => {
                let (status, value) = self.reply_parts(&mut it, span)?;
                StepKind::Reply(status, value)
            }
            Rule::route_step => {
                StepKind::Route(it.map(|arm| self.route_arm(arm)).collect::<R<_>>()?)
            }
            _ => return Err(self.bug(span, "unknown step")),
        };
        Ok(Step { kind, span })
    }

    fn route_arm(&mut self, p: P<'_>) -> R<RouteArm> {
        let span = self.span(&p);
        let mut condition = None;
        let mut steps = Vec::new();
        let mut braced = false;
        for k in Self::kids(&p) {
            match k.as_rule() {
                Rule::expr => condition = Some(self.expr(k)?),
                Rule::arm_block => {
                    braced = true;
                    steps = Self::kids(&k).map(|s| self.step(s)).collect::<R<_>>()?;
                }
                _ => steps.push(self.step(k)?),
            }
        }
        Ok(RouteArm {
            condition,
            steps,
            braced,
            span,
        })
    }

    /// A `policy` pair.
    fn policy(&mut self, p: P<'_>) -> R<Policy> {
        let span = self.span(&p);
        let inner = self.need(&mut Self::kids(&p), span, "policy")?;
        let rule = inner.as_rule();
        let mut it = Self::kids(&inner);
        let kind = match rule {
            Rule::retry_policy => {
                let attempts = self.next_expr(&mut it, span, "attempts")?;
                let backoff = match it.next() {
                    Some(b) => Some(self.backoff(b)?),
                    None => None,
                };
                PolicyKind::Retry { attempts, backoff }
            }
            Rule::timeout_policy => PolicyKind::Timeout(self.next_expr(&mut it, span, "duration")?),
            Rule::dead_letter_policy => {
                PolicyKind::DeadLetter(self.next_endpoint(&mut it, span, "target")?)
            }
            Rule::rate_limit_policy => {
                let count = self.next_expr(&mut it, span, "count")?;
                let per = self.next_expr(&mut it, span, "period")?;
                PolicyKind::RateLimit { count, per }
            }
            Rule::concurrency_policy => {
                PolicyKind::Concurrency(self.next_expr(&mut it, span, "limit")?)
            }
            Rule::circuit_breaker_policy => PolicyKind::CircuitBreaker({
                let b = self.need(&mut it, span, "settings")?;
                self.option_body(b)
            }?),
            _ => return Err(self.bug(span, "unknown policy")),
        };
        Ok(Policy { kind, span })
    }

    fn backoff(&mut self, p: P<'_>) -> R<Backoff> {
        let outer = self.span(&p);
        let inner = self.need(&mut Self::kids(&p), outer, "backoff")?;
        let span = self.span(&inner);
        let mut it = Self::kids(&inner);
        let first = self.need(&mut it, span, "delay")?;
        let first = self.expr(first)?;
        if inner.as_rule() == Rule::fixed_backoff {
            return Ok(Backoff::Fixed { delay: first, span });
        }
        let max = self.need(&mut it, span, "largest delay")?;
        Ok(Backoff::Exponential {
            base: first,
            max: self.expr(max)?,
            span,
        })
    }

    /// `test NAME for FLOW { … }`
    pub(super) fn test(&mut self, p: P<'_>) -> R<TestDecl> {
        let span = self.span(&p);
        let mut it = Self::kids(&p);
        let name = self.need(&mut it, span, "test name")?;
        let flow = self.need(&mut it, span, "flow name")?;
        let mut items = Vec::new();
        for item in it {
            let ispan = self.span(&item);
            let inner = self.need(&mut Self::kids(&item), ispan, "test line")?;
            let rule = inner.as_rule();
            let mut parts = Self::kids(&inner).peekable();
            items.push(match rule {
                Rule::given_item => TestItem::Given {
                    record: self.next_expr(&mut parts, ispan, "record")?,
                    span: ispan,
                },
                Rule::stub_item => {
                    let call = self.need(&mut parts, ispan, "call")?;
                    let call = self.op_call(call)?;
                    TestItem::Stub {
                        call,
                        value: self.next_expr(&mut parts, ispan, "answer")?,
                        span: ispan,
                    }
                }
                _ => {
                    let target =
                        Self::take_if(&mut parts, Rule::target_ref).map(|t| self.target_ref(&t));
                    let what = self.need(&mut parts, ispan, "expectation")?;
                    TestItem::Expect {
                        target,
                        what: self.expectation(what)?,
                        span: ispan,
                    }
                }
            });
        }
        Ok(TestDecl {
            doc: None,
            name: self.ident(&name),
            flow: self.ident(&flow),
            items,
            span,
        })
    }

    /// `reply_status? ~ expr` of a `reply` step or `expect reply` line.
    fn reply_parts<'i>(
        &mut self,
        it: &mut impl Iterator<Item = P<'i>>,
        span: aqueduct_diagnostics::Span,
    ) -> R<(Option<crate::ast::ReplyStatus>, Expr)> {
        let first = self.need(it, span, "reply")?;
        if first.as_rule() != Rule::reply_status {
            return Ok((None, self.expr(first)?));
        }
        let status = crate::ast::ReplyStatus {
            // three ASCII digits always fit
            code: first.as_str().parse().unwrap_or(0),
            span: self.span(&first),
        };
        Ok((Some(status), self.next_expr(it, span, "reply")?))
    }

    fn next_expr<'i>(
        &mut self,
        it: &mut impl Iterator<Item = P<'i>>,
        span: aqueduct_diagnostics::Span,
        what: &str,
    ) -> R<Expr> {
        let p = self.need(it, span, what)?;
        self.expr(p)
    }

    fn next_endpoint<'i>(
        &mut self,
        it: &mut impl Iterator<Item = P<'i>>,
        span: aqueduct_diagnostics::Span,
        what: &str,
    ) -> R<crate::ast::Endpoint> {
        let p = self.need(it, span, what)?;
        self.endpoint(p)
    }

    fn target_ref(&self, p: &P<'_>) -> TargetRef {
        let mut names = Self::kids(p).map(|n| self.ident(&n));
        let name = names.next().unwrap_or_else(|| self.ident(p));
        TargetRef {
            name,
            op: names.next(),
            span: self.span(p),
        }
    }

    fn expectation(&mut self, p: P<'_>) -> R<Expectation> {
        let span = self.span(&p);
        let inner = self.need(&mut Self::kids(&p), span, "expectation")?;
        let ispan = self.span(&inner);
        match inner.as_rule() {
            Rule::expect_nothing => Ok(Expectation::Nothing),
            Rule::expect_reply => {
                let (status, value) = self.reply_parts(&mut Self::kids(&inner), ispan)?;
                Ok(Expectation::Reply(status, value))
            }
            Rule::expect_error => Ok(Expectation::Error(self.next_expr(
                &mut Self::kids(&inner),
                ispan,
                "error",
            )?)),
            _ => Ok(Expectation::Record(self.expr(inner)?)),
        }
    }
}
