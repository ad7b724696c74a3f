//! Steps of a flow, checked in order with the scope threaded through them.
//!
//! `route` and `reply` end a path: a step after them is reported (AQ0309).
//! A route arm checks its steps in a copy of the scope, narrowed by its
//! condition.

use crate::flows::{FlowChecker, TargetUse};
use crate::ops::Resolved;
use crate::typeck::{Scope, Typer};
use aqueduct_catalog::{RecordShape, Role};
use aqueduct_diagnostics::{Diagnostic, Span, codes};
use aqueduct_graph::{self as graph, ExprKind, ModeKind, StepKind, Type};
use aqueduct_syntax::ast;

/// `{prefix}{n}{suffix}`, the id of a step or arm (`s3`, `s3.1.`), without
/// the formatting machinery: it runs for every step.
fn numbered(prefix: &str, n: usize, suffix: &str) -> String {
    // Digits by hand: one exact allocation per id, no formatting machinery.
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let digits = std::str::from_utf8(&digits[at..]).unwrap_or("0");
    let mut id = String::with_capacity(prefix.len() + digits.len() + suffix.len());
    id.push_str(prefix);
    id.push_str(digits);
    id.push_str(suffix);
    id
}

impl<'a> FlowChecker<'_, 'a> {
    /// Checks a sequence of steps; nested ids start with `prefix`.
    pub fn check_steps(
        &mut self,
        steps: &[&'a ast::Step],
        mut scope: Scope,
        prefix: &str,
    ) -> Vec<graph::Step> {
        let mut out = Vec::new();
        let mut ended_by: Option<(Span, &'static str)> = None;
        for (n, step) in steps.iter().enumerate() {
            if let Some((end_span, what)) = ended_by.take() {
                self.report(
                    Diagnostic::error(
                        codes::AQ0309,
                        format!("this step can never run: the path already ended with `{what}`"),
                    )
                    .with_primary(self.file, step.span, "unreachable step")
                    .with_context(
                        self.file,
                        end_span,
                        format!("the path ends at this `{what}`"),
                    )
                    .with_help(format!(
                        "move the step before `{what}`, or into the arms of the route"
                    )),
                );
                // Once per path: the rest of it is unreachable too.
                break;
            }
            let id = numbered(prefix, n + 1, "");
            let input = scope.current.clone().unwrap_or(Type::Json);
            let kind = self.check_step(step, &mut scope, &id);
            match &step.kind {
                // A `reply` outside a sync flow is reported (AQ0705) and
                // ends nothing: the steps after it are checked as usual.
                ast::StepKind::Reply(..) if self.mode.is_none_or(|m| m == ModeKind::Sync) => {
                    ended_by = Some((step.span, "reply"))
                }
                ast::StepKind::Route(_) => ended_by = Some((step.span, "route")),
                _ => {}
            }
            let Some(kind) = kind else { continue };
            let output = scope.current.clone().unwrap_or(Type::Json);
            let status = match &step.kind {
                ast::StepKind::Reply(Some(s), _) => Some(s.code),
                _ => None,
            };
            out.push(graph::Step {
                id,
                kind,
                input,
                output,
                origin: self.ctx.origin(self.file, step.span),
                status,
            });
        }
        out
    }

    /// AQ0713 unless `s` is a status a reply with a body can have: 200–599
    /// except 204, 205 and 304 (which have no body).
    fn check_status(&mut self, s: &ast::ReplyStatus) {
        if (200..=599).contains(&s.code) && ![204, 205, 304].contains(&s.code) {
            return;
        }
        self.report(
            Diagnostic::error(
                codes::AQ0713,
                format!("`{}` is not a status a reply can have", s.code),
            )
            .with_primary(self.file, s.span, "not a status for a reply with a body")
            .with_help(
                "use 200–599 (not 204, 205 or 304, which have no body): 201 for a create, 404 for an absent record, 409 for a conflict",
            ),
        );
    }

    fn check_step(&mut self, step: &'a ast::Step, scope: &mut Scope, id: &str) -> Option<StepKind> {
        match &step.kind {
            ast::StepKind::Where(cond) => {
                // the picture shows the condition on the `where` node
                let text = self.source_text(cond.span);
                self.route_labels
                    .push((format!("where:{id}"), format!("where {text}")));
                let typed = self.typer().condition(cond, scope);
                let proven = self.typer().narrowings(cond);
                scope.non_null.extend(proven);
                Some(StepKind::Where(typed))
            }
            ast::StepKind::Map(lit) => {
                let typed = self.typer().map_block(lit, scope);
                scope.non_null.clear();
                match typed.kind {
                    ExprKind::Record { ty, fields } => {
                        scope.current = Some(Type::Record(ty.clone()));
                        Some(StepKind::Map { ty, fields })
                    }
                    // The `map` type was unknown or not a record (reported):
                    // later steps must not report on what it would hold.
                    _ => {
                        scope.current = Some(Typer::unknown());
                        None
                    }
                }
            }
            ast::StepKind::Let { name, value } => {
                let typed = self.typer().expr(value, scope);
                scope.bindings.push((name.name.clone(), typed.ty.clone()));
                Some(StepKind::Let {
                    name: name.name.clone(),
                    value: typed,
                })
            }
            ast::StepKind::Enrich {
                name,
                call,
                as_type,
            } => {
                let declared = as_type.as_ref().map(|t| self.typer().resolve_type(t));
                let resolved = self.op_call(call, Role::Call, scope);
                let (call_ref, ty) = match resolved {
                    Some((op, spec)) => {
                        let ty = match (declared, &spec.record) {
                            (Some(t), _) => t,
                            (None, RecordShape::Fixed(fields)) => {
                                self.ctx.fixed_type(spec, &op.connector, fields)
                            }
                            (None, _) => Type::Json,
                        };
                        let ty = if spec.may_answer_null() {
                            ty.optional()
                        } else {
                            ty
                        };
                        self.calls
                            .push((op.system.clone(), op.operation.clone(), ty.clone()));
                        (Some(op), ty)
                    }
                    // The call did not resolve (reported): its answer is unknown.
                    None => (None, declared.unwrap_or_else(Typer::unknown)),
                };
                scope.bindings.push((name.name.clone(), ty.clone()));
                call_ref.map(|call| StepKind::Enrich {
                    name: name.name.clone(),
                    call,
                    ty,
                })
            }
            ast::StepKind::Split { list, as_type } => {
                let (typed, element) = self.typer().split_list(list, scope);
                let declared = as_type.as_ref().map(|t| self.typer().resolve_type(t));
                let ty = match declared {
                    // Elements of `json` lists are converted to the declared type at run time.
                    Some(d) if element == Type::Json || Typer::mentions_unknown(&d) => d,
                    Some(d) if element.required() != d.required() => {
                        let span = as_type.as_ref().map_or(list.span, |t| t.span);
                        self.report(
                            Diagnostic::error(
                                codes::AQ0601,
                                format!("the list holds `{element}`, not `{d}`"),
                            )
                            .with_primary(self.file, span, "declared element type differs")
                            .with_help(format!(
                                "remove `as {d}`: the elements are already `{element}`"
                            )),
                        );
                        d
                    }
                    _ => element.required().clone(),
                };
                scope.current = Some(ty.clone());
                scope.non_null.clear();
                Some(StepKind::Split { list: typed, ty })
            }
            ast::StepKind::Batch { size, within } => {
                let size = self.positive_int(size, "batch size");
                let within_ms = within
                    .as_ref()
                    .and_then(|w| self.positive_duration(w, "`within`"));
                size.map(|size| StepKind::Batch { size, within_ms })
            }
            ast::StepKind::Dedupe { by, within } => {
                let key = self.typer().expr(by, scope);
                let within_ms = within
                    .as_ref()
                    .and_then(|w| self.positive_duration(w, "`within`"));
                Some(StepKind::Dedupe { key, within_ms })
            }
            ast::StepKind::Tap(ep) => self.deliver(ep, scope, false).map(StepKind::Tap),
            ast::StepKind::To(ep) => self.deliver(ep, scope, false).map(StepKind::To),
            ast::StepKind::Route(arms) => Some(StepKind::Route(self.check_route(arms, scope, id))),
            ast::StepKind::Reply(status, value) => {
                if let Some(s) = status {
                    self.check_status(s);
                }
                if let Some(mode) = self.mode.filter(|m| *m != ModeKind::Sync) {
                    self.report(
                        Diagnostic::error(codes::AQ0705, format!("`reply` answers a caller, and {} flow has none", crate::ops::a_mode(mode)))
                            .with_primary(self.file, step.span, "nobody waits for this reply")
                            .with_help("deliver with `to …` instead, or make the flow `mode sync` with an inbound endpoint source"),
                    );
                }
                let typed = match &value.kind {
                    ast::ExprKind::Record(lit) => {
                        let name = lit.ty.as_ref().map(|t| t.name.clone());
                        self.typer().record(lit, scope, name.as_deref())
                    }
                    _ => self.typer().expr(value, scope),
                };
                Some(StepKind::Reply(typed))
            }
        }
    }

    fn check_route(
        &mut self,
        arms: &'a [ast::RouteArm],
        scope: &Scope,
        id: &str,
    ) -> Vec<graph::RouteArm> {
        let mut out = Vec::new();
        let mut else_span: Option<Span> = None;
        let mut seen: Vec<(&ast::Expr, Span)> = Vec::new();
        for (i, arm) in arms.iter().enumerate() {
            if let Some(else_at) = else_span {
                self.report(
                    Diagnostic::error(
                        codes::AQ0304,
                        "this route arm can never be taken: `else` above takes every record",
                    )
                    .with_primary(self.file, arm.span, "unreachable arm")
                    .with_context(self.file, else_at, "`else` matches everything")
                    .with_help("move `else` to the end of the route"),
                );
            }
            let mut arm_scope = scope.clone();
            let condition = match &arm.condition {
                Some(cond) => {
                    if let ast::ExprKind::Lit(ast::Lit::Bool(false)) = cond.kind {
                        self.report(
                            Diagnostic::error(
                                codes::AQ0304,
                                "this route arm can never be taken: its condition is `false`",
                            )
                            .with_primary(self.file, cond.span, "always false")
                            .with_help("remove the arm, or give it a real condition"),
                        );
                    }
                    if let Some((_, first)) = seen
                        .iter()
                        .find(|(earlier, _)| aqueduct_syntax::same_shape(earlier, cond))
                    {
                        let first = *first;
                        self.report(
                            Diagnostic::error(codes::AQ0304, "this route arm can never be taken: an earlier arm has the same condition")
                                .with_primary(self.file, cond.span, "same condition again")
                                .with_context(self.file, first, "this arm takes these records first")
                                .with_help("merge the two arms, or change one condition"),
                        );
                    }
                    seen.push((cond, cond.span));
                    let typed = self.typer().condition(cond, scope);
                    let proven = self.typer().narrowings(cond);
                    arm_scope.non_null.extend(proven);
                    let text = self.source_text(cond.span);
                    self.route_labels.push((
                        numbered(&format!("{id}."), i + 1, ""),
                        format!("when {text}"),
                    ));
                    Some(typed)
                }
                None => {
                    else_span = Some(arm.span);
                    self.route_labels
                        .push((numbered(&format!("{id}."), i + 1, ""), "else".to_string()));
                    None
                }
            };
            let steps: Vec<&'a ast::Step> = arm.steps.iter().collect();
            let steps =
                self.check_steps(&steps, arm_scope, &numbered(&format!("{id}."), i + 1, "."));
            out.push(graph::RouteArm { condition, steps });
        }
        out
    }

    /// Resolves a `to`/`tap`/`dead_letter` target and records the delivery.
    pub fn deliver(
        &mut self,
        ep: &'a ast::Endpoint,
        scope: &Scope,
        dead_letter: bool,
    ) -> Option<graph::Endpoint> {
        let current = if dead_letter {
            Type::Json
        } else {
            scope.current.clone().unwrap_or(Type::Json)
        };
        let resolved = self.endpoint(ep, Role::Target, scope)?;
        match resolved {
            Resolved::Channel(name, ty) => {
                if !dead_letter
                    && current != ty
                    && current != Type::Json
                    && !Typer::mentions_unknown(&current)
                {
                    self.report(
                        Diagnostic::error(codes::AQ0305, format!("channel `{name}` carries `{ty}`, but this flow sends `{current}`"))
                            .with_primary(self.file, ep.span(), format!("sends `{current}`"))
                            .with_help(format!("`map {ty} {{ … }}` before delivering, or send to a channel of `{current}`")),
                    );
                }
                self.targets.push(TargetUse {
                    label: name.clone(),
                    name: name.clone(),
                    args: Vec::new(),
                    ty: current,
                    file: self.file,
                    span: ep.span(),
                    channel: true,
                    dead_letter,
                });
                Some(graph::Endpoint::Channel(name))
            }
            Resolved::Op(op, _) => {
                let label = format!("{}.{}", op.system, op.operation);
                // Only the fan-in check reads them, and it skips dead letters.
                let args = if dead_letter {
                    Vec::new()
                } else {
                    op.args.clone()
                };
                self.targets.push(TargetUse {
                    label,
                    name: op.system.clone(),
                    args,
                    ty: current,
                    file: self.file,
                    span: ep.span(),
                    channel: false,
                    dead_letter,
                });
                Some(graph::Endpoint::Op(op))
            }
        }
    }

    /// The source text of `span` in this flow's file, on one line.
    pub fn source_text(&self, span: Span) -> String {
        let text = self
            .ctx
            .sources
            .get(self.file)
            .and_then(|f| f.text.get(span.range()))
            .unwrap_or("");
        let mut out = String::with_capacity(text.len());
        for word in text.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        out
    }

    /// Sync flows must reply on every path; every flow must deliver somewhere.
    pub fn check_paths(&mut self, steps: &[&'a ast::Step]) {
        if !delivers(steps.iter().copied()) {
            self.report(
                Diagnostic::error(
                    codes::AQ0307,
                    format!("flow `{}` never delivers a record", self.flow.name.name),
                )
                .with_primary(
                    self.file,
                    self.flow.name.span,
                    "no `to` or `reply` in this flow",
                )
                .with_help("add `to system.operation(…)` (or `reply …` in a sync flow)"),
            );
            return;
        }
        if self.mode == Some(ModeKind::Sync) {
            let mut gaps = Vec::new();
            if !replies(steps.iter().copied(), &mut gaps) {
                let mut d = Diagnostic::error(
                    codes::AQ0703,
                    format!(
                        "a path through sync flow `{}` ends without a `reply`",
                        self.flow.name.name
                    ),
                )
                .with_primary(
                    self.file,
                    self.flow.name.span,
                    "the caller would wait for an answer that never comes",
                );
                for gap in gaps {
                    d = d.with_context(self.file, gap, "this path has no `reply`");
                }
                self.report(
                    d.with_help("end every path (each route arm, and `else`) with `reply …`"),
                );
            }
        }
    }
}

/// True when some path delivers (`to`, `reply`, `tap`).
fn delivers<'s>(steps: impl Iterator<Item = &'s ast::Step>) -> bool {
    steps.into_iter().any(|s| match &s.kind {
        ast::StepKind::To(_) | ast::StepKind::Reply(..) | ast::StepKind::Tap(_) => true,
        ast::StepKind::Route(arms) => arms.iter().any(|a| delivers(a.steps.iter())),
        _ => false,
    })
}

/// True when every path replies; collects the spans of arms that do not.
fn replies<'s>(steps: impl Iterator<Item = &'s ast::Step>, gaps: &mut Vec<Span>) -> bool {
    for step in steps {
        match &step.kind {
            ast::StepKind::Reply(..) => return true,
            ast::StepKind::Route(arms) => {
                let mut all = true;
                for arm in arms {
                    if !replies(arm.steps.iter(), gaps) {
                        gaps.push(arm.span);
                        all = false;
                    }
                }
                if !arms.iter().any(|a| a.condition.is_none()) {
                    gaps.push(step.span);
                    all = false;
                }
                return all;
            }
            _ => {}
        }
    }
    false
}
