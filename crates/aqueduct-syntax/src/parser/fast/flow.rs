//! Fast path for flows and tests: `flow_decl`, `flow_item`, `mode_line`,
//! `from_line`, `step` and every `*_step`, `route_arm`, `arm_block`,
//! `policy` and every `*_policy`, `backoff`, `test_decl`, `test_item`,
//! `target_ref` and `expectation` (the builder's `flow.rs`).
//!
//! Every alternative of `flow_item`, `step`, `policy`, `backoff` and
//! `test_item` starts with its own keyword, so they dispatch on the word.

use super::cursor::Fast;
use crate::ast::{
    Backoff, Expectation, Expr, FlowDecl, FlowItem, FromClause, ModeDecl, ModeKind, Policy,
    PolicyKind, RecordLit, RouteArm, Schedule, Step, StepKind, TargetRef, TestDecl, TestItem,
    TypeExpr,
};

/// One clause of a `mode` line.
enum Clause {
    /// `schedule "…"` or `every D`.
    Timing(Schedule),
    /// `chunk N`.
    Chunk(Expr),
}

impl Fast<'_> {
    /// `flow_decl = { kw_flow ~ ident ~ lbrace ~ flow_item* ~ rbrace }`
    pub(super) fn flow(&mut self, start: usize) -> Option<FlowDecl> {
        self.kw(b"flow").then_some(())?;
        let name = self.ident()?;
        self.eat(b'{').then_some(())?;
        let mut items = Vec::with_capacity(8);
        loop {
            let m = self.mark();
            match self.flow_item() {
                Some(i) => items.push(i),
                None => {
                    self.reset(m);
                    break;
                }
            }
        }
        self.eat(b'}').then_some(())?;
        Some(FlowDecl {
            doc: None,
            name,
            items,
            span: self.span_from(start),
        })
    }

    /// `flow_item = { mode_line | from_line | step | policy }`
    fn flow_item(&mut self) -> Option<FlowItem> {
        let start = self.start();
        match self.word() {
            b"mode" => self.mode_line(start).map(FlowItem::Mode),
            b"from" => self.source_line(start).map(FlowItem::From),
            b"retry" | b"timeout" | b"dead_letter" | b"rate_limit" | b"concurrency"
            | b"circuit_breaker" => self.policy(start).map(FlowItem::Policy),
            _ => self.step().map(FlowItem::Step),
        }
    }

    /// `mode_line = { kw_mode ~ mode_kind ~ (schedule_clause | every_clause | chunk_clause)* }`
    fn mode_line(&mut self, start: usize) -> Option<ModeDecl> {
        self.kw(b"mode").then_some(())?;
        let kind_start = self.start();
        let kind = match self.word() {
            b"sync" => ModeKind::Sync,
            b"async" => ModeKind::Async,
            b"batch" => ModeKind::Batch,
            _ => return None,
        };
        let n = self.word_len();
        self.take(n);
        let kind_span = self.span_from(kind_start);
        let mut schedule = None;
        let mut chunk = None;
        loop {
            let m = self.mark();
            let word = self.word();
            let clause = match word {
                // `schedule_clause = { kw_schedule ~ string }`
                b"schedule" => {
                    self.kw(word);
                    self.skip();
                    self.string_expr()
                        .map(|e| Clause::Timing(Schedule::Cron(e)))
                }
                // `every_clause = { kw_every ~ expr }`
                b"every" => {
                    self.kw(word);
                    self.expr().map(|e| Clause::Timing(Schedule::Every(e)))
                }
                // `chunk_clause = { kw_chunk ~ expr }`
                b"chunk" => {
                    self.kw(word);
                    self.expr().map(Clause::Chunk)
                }
                _ => None,
            };
            let twice = match clause {
                Some(Clause::Timing(s)) => schedule.replace(s).is_some(),
                Some(Clause::Chunk(e)) => chunk.replace(e).is_some(),
                None => {
                    self.reset(m);
                    break;
                }
            };
            // The builder reports a timing set twice: leave that to it.
            if twice {
                self.bad = true;
            }
        }
        Some(ModeDecl {
            kind,
            kind_span,
            schedule,
            chunk,
            span: self.span_from(start),
        })
    }

    /// `from_line = { kw_from ~ endpoint ~ (kw_as ~ type_expr)? }`
    fn source_line(&mut self, start: usize) -> Option<FromClause> {
        self.kw(b"from").then_some(())?;
        let source = self.endpoint()?;
        let as_type = self.as_type();
        Some(FromClause {
            source,
            as_type,
            span: self.span_from(start),
        })
    }

    /// `(kw_as ~ type_expr)?`
    fn as_type(&mut self) -> Option<TypeExpr> {
        let m = self.mark();
        if !self.kw(b"as") {
            return None;
        }
        let ty = self.type_expr();
        if ty.is_none() {
            self.reset(m);
        }
        ty
    }

    /// `within_clause?`, `within_clause = { kw_within ~ expr }`
    fn within(&mut self) -> Option<Expr> {
        let m = self.mark();
        if !self.kw(b"within") {
            return None;
        }
        let e = self.expr();
        if e.is_none() {
            self.reset(m);
        }
        e
    }

    /// `step = { &step_word ~ (where_step | map_step | …) }`
    fn step(&mut self) -> Option<Step> {
        let start = self.start();
        let word = self.word();
        let kind = match word {
            // `where_step = { kw_where ~ expr }`
            b"where" => {
                self.kw(word);
                StepKind::Where(self.expr()?)
            }
            // `map_step = { kw_map ~ map_type ~ record_body }`
            b"map" => {
                self.kw(word);
                let ty_start = self.start();
                let ty = self.ident()?;
                let (entries, _) = self.record_body()?;
                // From the record type to `}`: the builder's `map_type` to `record_body`.
                let span = self.span_from(ty_start);
                StepKind::Map(RecordLit {
                    ty: Some(ty),
                    entries,
                    span,
                })
            }
            // `let_step = { kw_let ~ ident ~ assign ~ expr }`
            b"let" => {
                self.kw(word);
                let name = self.ident()?;
                self.assign().then_some(())?;
                let value = self.expr()?;
                StepKind::Let { name, value }
            }
            // `enrich_step = { kw_enrich ~ ident ~ assign ~ op_call ~ (kw_as ~ type_expr)? }`
            b"enrich" => {
                self.kw(word);
                let name = self.ident()?;
                self.assign().then_some(())?;
                let call = self.op_call()?;
                let as_type = self.as_type();
                StepKind::Enrich {
                    name,
                    call,
                    as_type,
                }
            }
            // `split_step = { kw_split ~ expr ~ (kw_as ~ type_expr)? }`
            b"split" => {
                self.kw(word);
                let list = self.expr()?;
                let as_type = self.as_type();
                StepKind::Split { list, as_type }
            }
            // `batch_step = { kw_batch ~ expr ~ within_clause? }`
            b"batch" => {
                self.kw(word);
                let size = self.expr()?;
                let within = self.within();
                StepKind::Batch { size, within }
            }
            // `dedupe_step = { kw_dedupe ~ kw_by ~ expr ~ within_clause? }`
            b"dedupe" => {
                self.kw(word);
                self.kw(b"by").then_some(())?;
                let by = self.expr()?;
                let within = self.within();
                StepKind::Dedupe { by, within }
            }
            // `tap_step = { kw_tap ~ endpoint }`
            b"tap" => {
                self.kw(word);
                StepKind::Tap(self.endpoint()?)
            }
            // `route_step = { kw_route ~ lbrace ~ route_arm* ~ rbrace }`
            b"route" => {
                self.kw(word);
                self.eat(b'{').then_some(())?;
                let mut arms = Vec::new();
                loop {
                    let m = self.mark();
                    match self.route_arm() {
                        Some(a) => arms.push(a),
                        None => {
                            self.reset(m);
                            break;
                        }
                    }
                }
                self.eat(b'}').then_some(())?;
                StepKind::Route(arms)
            }
            // `to_step = { kw_to ~ endpoint }`
            b"to" => {
                self.kw(word);
                StepKind::To(self.endpoint()?)
            }
            // `reply_step = { kw_reply ~ reply_status? ~ expr }`
            b"reply" => {
                self.kw(word);
                let status = self.reply_status();
                StepKind::Reply(status, self.expr()?)
            }
            _ => return None,
        };
        Some(Step {
            kind,
            span: self.span_from(start),
        })
    }

    /// `route_arm = { (kw_when ~ expr | kw_else) ~ arrow ~ (arm_block | step) }`,
    /// `arm_block = { lbrace ~ step* ~ rbrace }`.
    fn route_arm(&mut self) -> Option<RouteArm> {
        let start = self.start();
        let condition = if self.kw(b"when") {
            Some(self.expr()?)
        } else if self.kw(b"else") {
            None
        } else {
            return None;
        };
        self.arrow().then_some(())?;
        let m = self.mark();
        let block = if self.eat(b'{') {
            let mut steps = Vec::new();
            loop {
                let sm = self.mark();
                match self.step() {
                    Some(s) => steps.push(s),
                    None => {
                        self.reset(sm);
                        break;
                    }
                }
            }
            self.eat(b'}').then_some(steps)
        } else {
            None
        };
        let (steps, braced) = match block {
            Some(steps) => (steps, true),
            None => {
                self.reset(m);
                (vec![self.step()?], false)
            }
        };
        Some(RouteArm {
            condition,
            steps,
            braced,
            span: self.span_from(start),
        })
    }

    /// `policy = { &policy_word ~ (retry_policy | timeout_policy | …) }`
    fn policy(&mut self, start: usize) -> Option<Policy> {
        let word = self.word();
        self.kw(word).then_some(())?;
        let kind = match word {
            // `retry_policy = { kw_retry ~ expr ~ (kw_backoff ~ backoff)? }`
            b"retry" => {
                let attempts = self.expr()?;
                let m = self.mark();
                let backoff = if self.kw(b"backoff") {
                    let b = self.backoff();
                    if b.is_none() {
                        self.reset(m);
                    }
                    b
                } else {
                    None
                };
                PolicyKind::Retry { attempts, backoff }
            }
            // `timeout_policy = { kw_timeout ~ expr }`
            b"timeout" => PolicyKind::Timeout(self.expr()?),
            // `dead_letter_policy = { kw_dead_letter ~ endpoint }`
            b"dead_letter" => PolicyKind::DeadLetter(self.endpoint()?),
            // `rate_limit_policy = { kw_rate_limit ~ expr ~ kw_per ~ expr }`
            b"rate_limit" => {
                let count = self.expr()?;
                self.kw(b"per").then_some(())?;
                let per = self.expr()?;
                PolicyKind::RateLimit { count, per }
            }
            // `concurrency_policy = { kw_concurrency ~ expr }`
            b"concurrency" => PolicyKind::Concurrency(self.expr()?),
            // `circuit_breaker_policy = { kw_circuit_breaker ~ option_body }`
            b"circuit_breaker" => PolicyKind::CircuitBreaker(self.option_body()?),
            _ => return None,
        };
        Some(Policy {
            kind,
            span: self.span_from(start),
        })
    }

    /// `backoff = { exponential_backoff | fixed_backoff }`,
    /// `exponential_backoff = { kw_exponential ~ lparen ~ expr ~ comma? ~ expr ~ comma? ~ rparen }`,
    /// `fixed_backoff = { kw_fixed ~ lparen ~ expr ~ comma? ~ rparen }`.
    fn backoff(&mut self) -> Option<Backoff> {
        let start = self.start();
        if self.kw(b"exponential") {
            self.eat(b'(').then_some(())?;
            let base = self.expr()?;
            self.comma();
            let max = self.expr()?;
            self.comma();
            self.eat(b')').then_some(())?;
            Some(Backoff::Exponential {
                base,
                max,
                span: self.span_from(start),
            })
        } else if self.kw(b"fixed") {
            self.eat(b'(').then_some(())?;
            let delay = self.expr()?;
            self.comma();
            self.eat(b')').then_some(())?;
            Some(Backoff::Fixed {
                delay,
                span: self.span_from(start),
            })
        } else {
            None
        }
    }

    /// `test_decl = { kw_test ~ ident ~ kw_for ~ ident ~ lbrace ~ test_item* ~ rbrace }`
    pub(super) fn test(&mut self, start: usize) -> Option<TestDecl> {
        self.kw(b"test").then_some(())?;
        let name = self.ident()?;
        self.kw(b"for").then_some(())?;
        let flow = self.ident()?;
        self.eat(b'{').then_some(())?;
        let mut items = Vec::new();
        loop {
            let m = self.mark();
            match self.test_item() {
                Some(i) => items.push(i),
                None => {
                    self.reset(m);
                    break;
                }
            }
        }
        self.eat(b'}').then_some(())?;
        Some(TestDecl {
            doc: None,
            name,
            flow,
            items,
            span: self.span_from(start),
        })
    }

    /// `test_item = { given_item | stub_item | expect_item }`
    fn test_item(&mut self) -> Option<TestItem> {
        let start = self.start();
        if self.kw(b"given") {
            // `given_item = { kw_given ~ expr }`
            let record = self.expr()?;
            Some(TestItem::Given {
                record,
                span: self.span_from(start),
            })
        } else if self.kw(b"stub") {
            // `stub_item = { kw_stub ~ op_call ~ arrow ~ expr }`
            let call = self.op_call()?;
            self.arrow().then_some(())?;
            let value = self.expr()?;
            Some(TestItem::Stub {
                call,
                value,
                span: self.span_from(start),
            })
        } else if self.kw(b"expect") {
            // `expect_item = { kw_expect ~ (target_ref ~ colon)? ~ expectation }`
            let m = self.mark();
            let target = match self.target_ref() {
                Some(t) if self.eat(b':') => Some(t),
                _ => {
                    self.reset(m);
                    None
                }
            };
            let what = self.expectation()?;
            Some(TestItem::Expect {
                target,
                what,
                span: self.span_from(start),
            })
        } else {
            None
        }
    }

    /// `target_ref = { ident ~ (dot ~ ident)? }`
    fn target_ref(&mut self) -> Option<TargetRef> {
        let start = self.start();
        let name = self.ident()?;
        let m = self.mark();
        let op = if self.eat(b'.') {
            let op = self.ident();
            if op.is_none() {
                self.reset(m);
            }
            op
        } else {
            None
        };
        Some(TargetRef {
            name,
            op,
            span: self.span_from(start),
        })
    }

    /// `expectation = { expect_nothing | expect_reply | expect_error | expr }`
    fn expectation(&mut self) -> Option<Expectation> {
        if self.kw(b"nothing") {
            return Some(Expectation::Nothing);
        }
        let m = self.mark();
        if self.kw(b"reply") {
            let status = self.reply_status();
            if let Some(e) = self.expr() {
                return Some(Expectation::Reply(status, e));
            }
            self.reset(m);
        }
        let m = self.mark();
        if self.kw(b"error") {
            if let Some(e) = self.expr() {
                return Some(Expectation::Error(e));
            }
            self.reset(m);
        }
        self.expr().map(Expectation::Record)
    }
}

impl Fast<'_> {
    /// `reply_status = @{ ASCII_DIGIT{3} ~ &((" " | "\t")+ ~ ("{" | "\"" | ASCII_ALPHA_UPPER)) }`,
    /// skipping the whitespace before it; `None` (nothing consumed but
    /// whitespace) when the text there is not a status.
    pub(super) fn reply_status(&mut self) -> Option<crate::ast::ReplyStatus> {
        self.skip();
        let start = self.pos;
        let rest = self.b.get(start..)?;
        if rest.len() < 4 || !rest[..3].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let spaces = rest[3..]
            .iter()
            .take_while(|c| **c == b' ' || **c == b'\t')
            .count();
        let next = *rest.get(3 + spaces)?;
        if spaces == 0 || !(next == b'{' || next == b'"' || next.is_ascii_uppercase()) {
            return None;
        }
        let code = self.text.get(start..start + 3)?.parse().ok()?;
        self.take(3);
        Some(crate::ast::ReplyStatus {
            code,
            span: self.span_from(start),
        })
    }
}
