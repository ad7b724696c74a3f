//! Checking and lowering one flow: header (`mode`, `from`), steps, policies.
//!
//! A [`FlowChecker`] walks the flow's lines in order, threading a [`Scope`]
//! (the current record type, `$bindings`, non-null paths) from step to step.
//! Steps are in `steps.rs`, operation calls in `ops.rs`, policies in
//! `policies.rs`: they are all `impl FlowChecker` blocks.

use crate::decls::{Decls, doc_lines};
use crate::ops::Resolved;
use crate::project::Ctx;
use crate::typeck::{Scope, TypeEnv, Typer};
use aqueduct_catalog::Role;
use aqueduct_diagnostics::{Diagnostic, FileId, Span, codes};
use aqueduct_graph::{self as graph, Mode, ModeKind, Type};
use aqueduct_syntax::ast;

/// Checks one flow; its results are kept for lowering and graph rules.
pub(crate) struct FlowChecker<'c, 'a> {
    pub ctx: &'c mut Ctx<'a>,
    pub env: &'c TypeEnv,
    pub decls: &'c Decls<'a>,
    pub file: FileId,
    pub flow: &'a ast::FlowDecl,
    pub mode: Option<ModeKind>,
    /// Targets delivered to (label, record type, span), for fan-in checks and tests.
    pub targets: Vec<TargetUse>,
    /// Channels read and written, for graph rules.
    pub reads_channel: Option<String>,
    /// `enrich` calls made (system, operation, answer type), for test stubs.
    pub calls: Vec<(String, String, Type)>,
    /// Route arm labels (`s3.1` → `when .amount > 100`), for drawing.
    pub route_labels: Vec<(String, String)>,
}

/// A delivery to a target from a flow.
#[derive(Debug, Clone)]
pub(crate) struct TargetUse {
    /// `system.op` or a channel name.
    pub label: String,
    /// The system name or channel name alone.
    pub name: String,
    /// The arguments of an operation (deliveries with the same label and
    /// arguments go to the same place); empty for channels and dead letters,
    /// which the fan-in check skips.
    pub args: Vec<graph::Arg>,
    /// The record type delivered.
    pub ty: Type,
    /// Where it is written.
    pub file: FileId,
    pub span: Span,
    /// True for channels.
    pub channel: bool,
    /// True for `dead_letter` targets (they carry envelopes, not the record type).
    pub dead_letter: bool,
}

/// What one flow lowered to.
pub(crate) struct CheckedFlow {
    pub flow: graph::Flow,
    pub targets: Vec<TargetUse>,
    pub reads_channel: Option<String>,
    pub calls: Vec<(String, String, Type)>,
    pub route_labels: Vec<(String, String)>,
    pub file: FileId,
    pub name_span: Span,
}

impl<'c, 'a> FlowChecker<'c, 'a> {
    /// Checks `flow` and returns its lowered form (`None` when the header is
    /// too broken to say anything about its steps).
    pub fn check(
        ctx: &'c mut Ctx<'a>,
        env: &'c TypeEnv,
        decls: &'c Decls<'a>,
        file: FileId,
        flow: &'a ast::FlowDecl,
    ) -> Option<CheckedFlow> {
        let mut fc = FlowChecker::bare(ctx, env, decls, file, flow);
        let mode = fc.check_mode();
        fc.mode = mode.as_ref().map(|m| m.kind);
        let source = fc.check_source();
        let steps_ast: Vec<&'a ast::Step> = flow
            .items
            .iter()
            .filter_map(|i| match i {
                ast::FlowItem::Step(s) => Some(s),
                _ => None,
            })
            .collect();
        let (source, scope) = match source {
            Ok((src, ty)) => {
                let scope = Scope {
                    current: Some(ty),
                    ..Scope::default()
                };
                (Some(src), scope)
            }
            // The source did not resolve (reported): the steps are still
            // checked against its declared type, or else against the unknown
            // type, so that the one mistake gives one diagnostic.
            Err(declared) => (
                None,
                Scope {
                    current: Some(declared.unwrap_or_else(Typer::unknown)),
                    ..Scope::default()
                },
            ),
        };
        let steps = fc.check_steps(&steps_ast, scope, "s");
        fc.check_paths(&steps_ast);
        let policies = fc.check_policies();
        let (mode, source) = (mode?, source?);
        let origin = fc.ctx.origin(file, flow.span);
        Some(CheckedFlow {
            flow: graph::Flow {
                name: flow.name.name.clone(),
                doc: doc_lines(&flow.doc),
                mode,
                source,
                steps,
                policies,
                origin,
            },
            targets: fc.targets,
            reads_channel: fc.reads_channel,
            calls: fc.calls,
            route_labels: fc.route_labels,
            file,
            name_span: flow.name.span,
        })
    }

    /// A checker for calls outside any flow (a channel's `via`).
    pub fn bare(
        ctx: &'c mut Ctx<'a>,
        env: &'c TypeEnv,
        decls: &'c Decls<'a>,
        file: FileId,
        flow: &'a ast::FlowDecl,
    ) -> Self {
        FlowChecker {
            ctx,
            env,
            decls,
            file,
            flow,
            mode: None,
            targets: Vec::new(),
            reads_channel: None,
            calls: Vec::new(),
            route_labels: Vec::new(),
        }
    }

    /// A typer for this flow's file.
    pub fn typer(&mut self) -> Typer<'_> {
        Typer::new(self.env, self.file, &mut self.ctx.diags)
    }

    /// Pushes a diagnostic.
    pub fn report(&mut self, d: Diagnostic) {
        self.ctx.diags.push(d);
    }

    fn check_mode(&mut self) -> Option<Mode> {
        let modes: Vec<&ast::ModeDecl> = self
            .flow
            .items
            .iter()
            .filter_map(|i| match i {
                ast::FlowItem::Mode(m) => Some(m),
                _ => None,
            })
            .collect();
        for extra in modes.iter().skip(1) {
            let first = modes[0].span;
            self.report(
                Diagnostic::error(
                    codes::AQ0308,
                    format!("flow `{}` declares its mode twice", self.flow.name.name),
                )
                .with_primary(self.file, extra.span, "second `mode` line")
                .with_context(self.file, first, "first `mode` line")
                .with_help("a flow has one timing mode: keep one `mode` line"),
            );
        }
        let Some(decl) = modes.first() else {
            self.report(
                Diagnostic::error(codes::AQ0701, format!("flow `{}` does not say its timing mode", self.flow.name.name))
                    .with_primary(self.file, self.flow.name.span, "no `mode` line in this flow")
                    .with_help("add `mode sync` (request-reply), `mode async` (events) or `mode batch` (bounded input)"),
            );
            return None;
        };
        let kind = match decl.kind {
            ast::ModeKind::Sync => ModeKind::Sync,
            ast::ModeKind::Async => ModeKind::Async,
            ast::ModeKind::Batch => ModeKind::Batch,
        };
        if kind != ModeKind::Batch {
            let extra = decl.schedule.as_ref().map(|s| match s {
                ast::Schedule::Cron(e) | ast::Schedule::Every(e) => e.span,
            });
            for span in extra.into_iter().chain(decl.chunk.as_ref().map(|c| c.span)) {
                self.report(
                    Diagnostic::error(
                        codes::AQ0710,
                        format!(
                            "`{}` flows do not run on a schedule or in chunks",
                            kind.as_str()
                        ),
                    )
                    .with_primary(self.file, span, "only `mode batch` takes this")
                    .with_context(
                        self.file,
                        decl.kind_span,
                        format!("this flow is `{}`", kind.as_str()),
                    )
                    .with_help(
                        "remove it, or make the flow `mode batch` if it reads a bounded source",
                    ),
                );
            }
        }
        let schedule = decl.schedule.as_ref().and_then(|s| self.check_schedule(s));
        let chunk = decl
            .chunk
            .as_ref()
            .and_then(|c| self.positive_int(c, "chunk size"));
        Some(Mode {
            kind,
            schedule,
            chunk,
        })
    }

    fn check_schedule(&mut self, schedule: &ast::Schedule) -> Option<graph::Schedule> {
        match schedule {
            ast::Schedule::Cron(e) => {
                let text = match &e.kind {
                    ast::ExprKind::Str(s) => s.as_plain(),
                    _ => None,
                };
                let Some(text) = text else {
                    self.report(
                        Diagnostic::error(
                            codes::AQ0708,
                            "`schedule` takes a cron expression in a string",
                        )
                        .with_primary(self.file, e.span, "not a plain string")
                        .with_help("write e.g. `schedule \"0 2 * * *\"` (every day at 02:00)"),
                    );
                    return None;
                };
                match self.ctx.validate_cron(&text) {
                    Ok(()) => Some(graph::Schedule::Cron(text)),
                    Err(why) => {
                        self.report(
                            Diagnostic::error(codes::AQ0708, format!("`{text}` is not a valid cron expression: {why}"))
                                .with_primary(self.file, e.span, "invalid cron expression")
                                .with_help("cron takes 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, e.g. `\"0 2 * * *\"`"),
                        );
                        None
                    }
                }
            }
            ast::Schedule::Every(e) => self
                .positive_duration(e, "`every`")
                .map(graph::Schedule::Every),
        }
    }

    /// The source of the flow and the type of its records; when it does not
    /// resolve, the type declared with `as`, if any.
    fn check_source(&mut self) -> Result<(graph::Source, Type), Option<Type>> {
        let froms: Vec<&'a ast::FromClause> = self
            .flow
            .items
            .iter()
            .filter_map(|i| match i {
                ast::FlowItem::From(f) => Some(f),
                _ => None,
            })
            .collect();
        for extra in froms.iter().skip(1) {
            let first = froms[0].span;
            self.report(
                Diagnostic::error(codes::AQ0308, format!("flow `{}` has more than one `from`", self.flow.name.name))
                    .with_primary(self.file, extra.span, "second source")
                    .with_context(self.file, first, "first source")
                    .with_help("a flow reads one source; merge several sources by writing each to a channel that this flow reads"),
            );
        }
        let Some(from) = froms.first() else {
            self.report(
                Diagnostic::error(
                    codes::AQ0306,
                    format!("flow `{}` has no source", self.flow.name.name),
                )
                .with_primary(
                    self.file,
                    self.flow.name.span,
                    "no `from` line in this flow",
                )
                .with_help("add `from system.operation(…) as Type`, or `from CHANNEL`"),
            );
            return Err(None);
        };
        let declared = from.as_type.as_ref().map(|t| self.typer().resolve_type(t));
        let scope = Scope::default();
        let Some(resolved) = self.endpoint(&from.source, Role::Source, &scope) else {
            return Err(declared);
        };
        let origin = self.ctx.origin(self.file, from.span);
        match resolved {
            Resolved::Channel(name, ty) => {
                if let Some(declared) = &declared
                    && declared != &ty
                    && !Typer::mentions_unknown(declared)
                {
                    self.report(
                        Diagnostic::error(
                            codes::AQ0601,
                            format!("channel `{name}` carries `{ty}`, not `{declared}`"),
                        )
                        .with_primary(
                            self.file,
                            from.as_type.as_ref().map_or(from.span, |t| t.span),
                            "declared type differs",
                        )
                        .with_help(format!("remove `as {declared}`, or write `as {ty}`")),
                    );
                }
                self.reads_channel = Some(name.clone());
                Ok((
                    graph::Source {
                        endpoint: graph::Endpoint::Channel(name),
                        record_type: ty.clone(),
                        origin,
                    },
                    ty,
                ))
            }
            Resolved::Op(op, spec) => {
                let label = format!("{}.{}", op.system, op.operation);
                self.check_source_mode(&label, spec, from.source.span());
                if let Some((why, fix)) = crate::delivery::at_most_once(&op) {
                    // A note, not a warning: reading at most once is a
                    // legitimate choice, and `--deny-warnings` must not fail
                    // a project that made it on purpose.
                    self.report(
                        Diagnostic::note(
                            codes::AQ0420,
                            format!(
                                "flow `{}` reads `{label}` at most once",
                                self.flow.name.name
                            ),
                        )
                        .with_primary(self.file, from.source.span(), why)
                        .with_help(fix),
                    );
                }
                let ty = match (declared, &spec.record) {
                    (Some(t), _) => {
                        if op.operation == "changes" {
                            let span = from.as_type.as_ref().map_or(from.span, |t| t.span);
                            self.check_change_fields(&label, &t, span);
                        }
                        t
                    }
                    (None, aqueduct_catalog::RecordShape::Fixed(fields)) => {
                        self.ctx.fixed_type(spec, &op.connector, fields)
                    }
                    (None, _) => {
                        self.report(
                            Diagnostic::error(codes::AQ0409, format!("the records of `{}.{}` need a declared type", op.system, op.operation))
                                .with_primary(self.file, from.source.span(), "source without `as Type`")
                                .with_help("add `as TYPE` after the source, with a `type TYPE { … }` describing the fields you read".to_string()),
                        );
                        Typer::unknown()
                    }
                };
                if op.operation == "query"
                    && let ast::Endpoint::Op(call) = &from.source
                {
                    self.check_resume_key(&label, call, &ty);
                }
                Ok((
                    graph::Source {
                        endpoint: graph::Endpoint::Op(op),
                        record_type: ty.clone(),
                        origin,
                    },
                    ty,
                ))
            }
        }
    }

    /// The reserved fields of a change record (`_op`, `_commit_time`), if
    /// the declared type has them, must have the types the source fills in.
    fn check_change_fields(&mut self, label: &str, ty: &Type, span: Span) {
        for (field, declared, expected) in crate::changes::wrong_metadata(self.env, ty) {
            self.report(
                Diagnostic::error(
                    codes::AQ0411,
                    format!("field `{field}` of a `{label}` record is `{expected}`, not `{declared}`"),
                )
                .with_primary(self.file, span, format!("`{ty}` declares `{field}: {declared}`"))
                .with_help(format!(
                    "declare `{field}: {expected}`: `changes` fills it in; or rename the field if it is a column of the table"
                )),
            );
        }
    }

    /// The mode rules that depend on the source: sync needs request-reply,
    /// batch needs a bounded source.
    fn check_source_mode(
        &mut self,
        label: &str,
        spec: &aqueduct_catalog::OperationSpec,
        span: Span,
    ) {
        match self.mode {
            Some(ModeKind::Sync) if !spec.request_reply => self.report(
                Diagnostic::error(codes::AQ0702, format!("a `sync` flow cannot read from `{label}`: it cannot wait for a reply"))
                    .with_primary(self.file, span, "not a request-reply source")
                    .with_help("read from an inbound endpoint (`api.post(\"/path\")`) for request-reply, or make the flow `mode async`"),
            ),
            Some(ModeKind::Batch) if !spec.bounded => self.report(
                Diagnostic::error(codes::AQ0707, format!("a `batch` flow needs a source that ends; `{label}` never does"))
                    .with_primary(self.file, span, "unbounded source")
                    .with_help("use a bounded source such as a query or a file glob, or make the flow `mode async`"),
            ),
            Some(mode) if !spec.modes.contains(&crate::ops::catalog_mode(mode)) => self.report(
                Diagnostic::error(codes::AQ0405, format!("`{label}` cannot be used in {} flow", crate::ops::a_mode(mode)))
                    .with_primary(self.file, span, format!("not available in `{}` mode", mode.as_str()))
                    .with_help(format!("`{}` works in: {}", spec.name, crate::ops::mode_list(spec.modes))),
            ),
            _ => {}
        }
    }

    /// A positive integer literal (chunk sizes, batch sizes, counts).
    pub fn positive_int(&mut self, e: &ast::Expr, what: &str) -> Option<u64> {
        match &e.kind {
            ast::ExprKind::Lit(ast::Lit::Int { value, .. }) if *value > 0 => Some(*value as u64),
            _ => {
                self.report(
                    Diagnostic::error(
                        codes::AQ0712,
                        format!("the {what} must be a whole number above zero"),
                    )
                    .with_primary(self.file, e.span, "expected a positive integer")
                    .with_help(format!("write the {what} as a number such as `100`")),
                );
                None
            }
        }
    }

    /// A positive duration literal, in milliseconds.
    pub fn positive_duration(&mut self, e: &ast::Expr, what: &str) -> Option<u64> {
        match &e.kind {
            ast::ExprKind::Lit(ast::Lit::Duration { millis, .. }) if *millis > 0 => Some(*millis),
            ast::ExprKind::Lit(ast::Lit::Duration { .. }) => {
                self.report(
                    Diagnostic::error(codes::AQ0709, format!("{what} needs a duration above zero"))
                        .with_primary(self.file, e.span, "zero duration")
                        .with_help("write a positive duration such as `30s`"),
                );
                None
            }
            _ => {
                self.report(
                    Diagnostic::error(codes::AQ0709, format!("{what} takes a duration"))
                        .with_primary(self.file, e.span, "not a duration")
                        .with_help("write a duration such as `250ms`, `30s`, `5m`, `2h` or `1d`"),
                );
                None
            }
        }
    }
}

/// Every flow of the project, checked.
pub(crate) fn check_all<'a>(
    ctx: &mut Ctx<'a>,
    env: &TypeEnv,
    decls: &Decls<'a>,
) -> Vec<CheckedFlow> {
    let mut out = Vec::with_capacity(decls.flows.len());
    for (file, decl) in &decls.order {
        if let ast::Decl::Flow(flow) = decl {
            // Only the first declaration of a name is checked (duplicates were reported).
            if decls
                .flows
                .get(&flow.name.name)
                .is_some_and(|at| std::ptr::eq(at.decl, flow))
                && let Some(checked) = FlowChecker::check(ctx, env, decls, *file, flow)
            {
                out.push(checked);
            }
        }
    }
    out
}
