//! Sources, targets and calls: `system.op(args)`, inline systems and channel
//! names, checked against the catalogue and resolved to [`OpRef`]s.

use crate::flows::FlowChecker;
use crate::options::{self, Written, WrittenValue, describe_expr, describe_type, example};
use crate::typeck::Scope;
use aqueduct_catalog::{ConnectorSpec, Mode as CatMode, OperationSpec, ParamSpec, Role, ValueType};
use aqueduct_diagnostics::{Diagnostic, Span, codes, did_you_mean};
use aqueduct_graph::{Arg, Expr, ExprKind, ModeKind, OpRef, System, Type, Value};
use aqueduct_syntax::ast;

/// What an endpoint resolved to.
pub(crate) enum Resolved {
    /// A channel and the type it carries.
    Channel(String, Type),
    /// An operation and its catalogue entry.
    Op(OpRef, &'static OperationSpec),
}

/// The catalogue's name for a mode.
pub(crate) fn catalog_mode(mode: ModeKind) -> CatMode {
    match mode {
        ModeKind::Sync => CatMode::Sync,
        ModeKind::Async => CatMode::Async,
        ModeKind::Batch => CatMode::Batch,
    }
}

/// "a `sync`", "an `async`", "a `batch`": a mode with its article.
pub(crate) fn a_mode(mode: ModeKind) -> String {
    let article = if mode == ModeKind::Async { "an" } else { "a" };
    format!("{article} `{}`", mode.as_str())
}

/// Modes as a readable list.
pub(crate) fn mode_list(modes: &[CatMode]) -> String {
    modes
        .iter()
        .map(|m| match m {
            CatMode::Sync => "`sync`",
            CatMode::Async => "`async`",
            CatMode::Batch => "`batch`",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Source => "a source",
        Role::Target => "a target",
        Role::Call => "a call (`enrich`)",
    }
}

/// A constant expression.
pub(crate) fn lit(value: Value, ty: Type) -> Expr {
    Expr {
        kind: ExprKind::Lit(value),
        ty,
    }
}

impl<'a> FlowChecker<'_, 'a> {
    /// Resolves a source or target endpoint.
    pub fn endpoint(
        &mut self,
        ep: &'a ast::Endpoint,
        role: Role,
        scope: &Scope,
    ) -> Option<Resolved> {
        match ep {
            ast::Endpoint::Channel(name) => {
                if let Some(ty) = self.ctx_channel_type(&name.name) {
                    return Some(Resolved::Channel(name.name.clone(), ty));
                }
                let d = if self.decls.systems.contains_key(&name.name) {
                    Diagnostic::error(
                        codes::AQ0204,
                        format!("`{}` is a system, not a channel", name.name),
                    )
                    .with_primary(self.file, name.span, "a system needs an operation here")
                    .with_help(format!(
                        "name an operation of the system, e.g. `{}.operation(…)`",
                        name.name
                    ))
                } else {
                    let candidates = self
                        .decls
                        .channels
                        .keys()
                        .into_iter()
                        .chain(self.decls.systems.keys());
                    let d = Diagnostic::error(
                        codes::AQ0204,
                        format!("no channel or system is named `{}`", name.name),
                    )
                    .with_primary(self.file, name.span, "unknown name");
                    match did_you_mean(&name.name, candidates) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help(format!("declare it: `channel {}: Type`", name.name)),
                    }
                };
                self.report(d);
                None
            }
            ast::Endpoint::Op(call) => self
                .op_call(call, role, scope)
                .map(|(op, spec)| Resolved::Op(op, spec)),
        }
    }

    fn ctx_channel_type(&self, name: &str) -> Option<Type> {
        self.ctx.channel_types.get(name).cloned()
    }

    /// Checks `system.op(args)` in `role` and resolves it.
    pub fn op_call(
        &mut self,
        call: &'a ast::OpCall,
        role: Role,
        scope: &Scope,
    ) -> Option<(OpRef, &'static OperationSpec)> {
        let (system, connector) = self.call_target(&call.target)?;
        let Some(spec) = connector.operation(&call.op.name, role) else {
            let other: Vec<&OperationSpec> = connector.operations_named(&call.op.name).collect();
            let d = if let Some(first) = other.first() {
                let alternatives: Vec<&str> = connector
                    .operations
                    .iter()
                    .filter(|o| o.role == role)
                    .map(|o| o.name)
                    .collect();
                Diagnostic::error(
                    codes::AQ0404,
                    format!(
                        "`{}.{}` is {}, not {}",
                        system,
                        call.op.name,
                        role_name(first.role),
                        role_name(role)
                    ),
                )
                .with_primary(
                    self.file,
                    call.op.span,
                    format!("cannot be used as {}", role_name(role)),
                )
                .with_help(if alternatives.is_empty() {
                    format!(
                        "`{}` systems have no operation usable as {}",
                        connector.kind,
                        role_name(role)
                    )
                } else {
                    format!(
                        "operations of `{}` usable here: {}",
                        connector.kind,
                        quoted(&alternatives)
                    )
                })
            } else {
                let names: Vec<&str> = connector
                    .operations
                    .iter()
                    .filter(|o| o.role == role)
                    .map(|o| o.name)
                    .collect();
                let d = Diagnostic::error(
                    codes::AQ0211,
                    format!(
                        "`{}` systems have no operation `{}`",
                        connector.kind, call.op.name
                    ),
                )
                .with_primary(self.file, call.op.span, "unknown operation");
                match did_you_mean(&call.op.name, names.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!(
                        "operations of `{}` as {}: {}",
                        connector.kind,
                        role_name(role),
                        quoted(&names)
                    )),
                }
            };
            self.report(d);
            return None;
        };
        if role != Role::Source
            && let Some(mode) = self.mode
            && !spec.modes.contains(&catalog_mode(mode))
        {
            self.report(
                Diagnostic::error(
                    codes::AQ0405,
                    format!(
                        "`{}.{}` cannot be used in {} flow",
                        system,
                        spec.name,
                        a_mode(mode)
                    ),
                )
                .with_primary(
                    self.file,
                    call.span,
                    format!("not available in `{}` mode", mode.as_str()),
                )
                .with_help(format!(
                    "`{}` works in: {}",
                    spec.name,
                    mode_list(spec.modes)
                )),
            );
        }
        let args = self.op_args(call, spec, scope)?;
        let origin = self.ctx.origin(self.file, call.span);
        Some((
            OpRef {
                system,
                connector: connector.kind.to_string(),
                operation: spec.name.to_string(),
                args,
                origin,
            },
            spec,
        ))
    }

    /// The system an operation is called on: declared, or inline.
    fn call_target(
        &mut self,
        target: &'a ast::CallTarget,
    ) -> Option<(String, &'static ConnectorSpec)> {
        match target {
            ast::CallTarget::System(name) => {
                let Some(at) = self.decls.systems.get(&name.name) else {
                    let d = if self.decls.channels.contains_key(&name.name) {
                        Diagnostic::error(
                            codes::AQ0201,
                            format!("`{}` is a channel; channels have no operations", name.name),
                        )
                        .with_primary(self.file, name.span, "a channel")
                        .with_help(format!("write the channel name alone: `to {}`", name.name))
                    } else {
                        let d = Diagnostic::error(
                            codes::AQ0201,
                            format!("no system is named `{}`", name.name),
                        )
                        .with_primary(
                            self.file,
                            name.span,
                            "unknown system",
                        );
                        match did_you_mean(&name.name, self.decls.systems.keys()) {
                            Some(s) => d.with_help(format!("did you mean `{s}`?")),
                            None => d.with_help(format!(
                                "declare it: `system {}: KIND {{ … }}`",
                                name.name
                            )),
                        }
                    };
                    self.report(d);
                    return None;
                };
                // An unknown kind was reported on the system declaration.
                let connector = aqueduct_catalog::connector(&at.decl.kind.name)?;
                Some((name.name.clone(), connector))
            }
            ast::CallTarget::Inline { kind, args, span } => {
                let Some(connector) = aqueduct_catalog::connector(&kind.name) else {
                    self.report(crate::systems::unknown_kind(self.file, kind));
                    return None;
                };
                let mut written = Vec::new();
                let mut positional = 0;
                for arg in args {
                    let name = match &arg.name {
                        Some(n) => n.name.as_str(),
                        None => {
                            let Some(name) = connector.inline_positional.get(positional) else {
                                self.report(
                                    Diagnostic::error(
                                        codes::AQ0406,
                                        format!(
                                            "too many arguments for an inline `{}` system",
                                            kind.name
                                        ),
                                    )
                                    .with_primary(self.file, arg.span, "extra argument")
                                    .with_help("name the option: `option: value`"),
                                );
                                positional += 1;
                                continue;
                            };
                            positional += 1;
                            name
                        }
                    };
                    let name_span = arg.name.as_ref().map_or(arg.span, |n| n.span);
                    written.push(Written {
                        name,
                        name_span,
                        value: WrittenValue::Expr(&arg.value),
                    });
                }
                let owner = options::Lazy(|f: &mut std::fmt::Formatter<'_>| {
                    write!(f, "the inline `{}` system", kind.name)
                });
                let options = options::check_options(
                    self.file,
                    &written,
                    connector.options,
                    &owner,
                    *span,
                    &mut self.ctx.diags,
                );
                // An inline system is named by its text, `file("dlq")`: the same
                // text in several places is the same system.
                let name = self.source_text(*span);
                if !self.ctx.inline_systems.iter().any(|s| s.name == name) {
                    let origin = self.ctx.origin(self.file, *span);
                    self.ctx.inline_systems.push(System {
                        name: name.clone(),
                        kind: kind.name.clone(),
                        options,
                        doc: Vec::new(),
                        origin,
                    });
                }
                Some((name, connector))
            }
        }
    }

    /// Matches arguments to parameters and checks each.
    fn op_args(
        &mut self,
        call: &'a ast::OpCall,
        spec: &'static OperationSpec,
        scope: &Scope,
    ) -> Option<Vec<Arg>> {
        let positional: Vec<&ParamSpec> = spec.positional().collect();
        let mut given: Vec<(&'static ParamSpec, &'a ast::Arg)> = Vec::new();
        let mut index = 0;
        let mut ok = true;
        for arg in &call.args {
            let param = match &arg.name {
                None => {
                    let Some(p) = positional.get(index) else {
                        self.report(
                            Diagnostic::error(
                                codes::AQ0406,
                                format!(
                                    "`{}` takes {} positional argument{}",
                                    spec.name,
                                    positional.len(),
                                    options::plural(positional.len())
                                ),
                            )
                            .with_primary(self.file, arg.span, "extra argument")
                            .with_help(signature_help(spec)),
                        );
                        ok = false;
                        index += 1;
                        continue;
                    };
                    index += 1;
                    *p
                }
                Some(name) => {
                    let Some(p) = spec.param(&name.name) else {
                        let d = Diagnostic::error(
                            codes::AQ0214,
                            format!("`{}` has no argument `{}`", spec.name, name.name),
                        )
                        .with_primary(
                            self.file,
                            name.span,
                            "unknown argument",
                        );
                        let d = match did_you_mean(&name.name, spec.params.iter().map(|p| p.name)) {
                            Some(s) => d.with_help(format!("did you mean `{s}`?")),
                            None => d.with_help(signature_help(spec)),
                        };
                        self.report(d);
                        ok = false;
                        continue;
                    };
                    p
                }
            };
            if let Some((_, first)) = given.iter().find(|(p, _)| p.name == param.name) {
                let first_span = first.span;
                self.report(
                    Diagnostic::error(
                        codes::AQ0213,
                        format!("argument `{}` is given twice", param.name),
                    )
                    .with_primary(self.file, arg.span, "given again here")
                    .with_context(self.file, first_span, "first given here")
                    .with_help("keep one of the two"),
                );
                ok = false;
                continue;
            }
            given.push((param, arg));
        }
        let missing: Vec<&str> = spec
            .params
            .iter()
            .filter(|p| p.required && !given.iter().any(|(g, _)| g.name == p.name))
            .map(|p| p.name)
            .collect();
        if !missing.is_empty() {
            self.report(
                Diagnostic::error(
                    codes::AQ0406,
                    format!(
                        "`{}` is missing argument{} {}",
                        spec.name,
                        options::plural(missing.len()),
                        quoted(&missing)
                    ),
                )
                .with_primary(self.file, call.span, "missing arguments")
                .with_help(signature_help(spec)),
            );
            ok = false;
        }
        let mut args = Vec::new();
        for param in spec.params {
            if let Some((_, arg)) = given.iter().find(|(p, _)| p.name == param.name) {
                match self.arg_value(&arg.value, param, scope) {
                    Some(value) => args.push(Arg {
                        name: param.name.to_string(),
                        value,
                    }),
                    None => ok = false,
                }
            }
        }
        ok.then_some(args)
    }

    /// Checks one argument against its parameter type.
    fn arg_value(
        &mut self,
        e: &'a ast::Expr,
        param: &'static ParamSpec,
        scope: &Scope,
    ) -> Option<Expr> {
        match (&param.ty, &e.kind) {
            (ValueType::Template, _) => {
                let typed = self.typer().expect(
                    e,
                    scope,
                    &Type::String,
                    &format!("argument `{}`", param.name),
                );
                Some(typed)
            }
            (ValueType::String | ValueType::Url, ast::ExprKind::Str(s)) => match s.as_plain() {
                Some(text) => Some(lit(Value::String(text), Type::String)),
                None => {
                    self.report(
                        Diagnostic::error(codes::AQ0407, format!("argument `{}` is fixed when the flow starts and cannot use `{{…}}`", param.name))
                            .with_primary(self.file, e.span, "interpolated string")
                            .with_help("write a plain string; record values cannot be used here"),
                    );
                    None
                }
            },
            (ValueType::Int, ast::ExprKind::Lit(ast::Lit::Int { value, .. })) => {
                Some(lit(Value::Int(*value), Type::Int))
            }
            (ValueType::Bool, ast::ExprKind::Lit(ast::Lit::Bool(b))) => {
                Some(lit(Value::Bool(*b), Type::Bool))
            }
            (ValueType::Duration, ast::ExprKind::Lit(ast::Lit::Duration { millis, .. })) => {
                Some(lit(Value::Duration(*millis), Type::Duration))
            }
            (ValueType::Size, ast::ExprKind::Lit(ast::Lit::Size { bytes, .. })) => Some(lit(
                Value::Int(i64::try_from(*bytes).unwrap_or(i64::MAX)),
                Type::Int,
            )),
            (ValueType::Enum(choices), ast::ExprKind::Ident(id)) => {
                if choices.contains(&id.name.as_str()) {
                    Some(lit(Value::String(id.name.clone()), Type::String))
                } else {
                    let d = Diagnostic::error(
                        codes::AQ0408,
                        format!("`{}` is not a value of `{}`", id.name, param.name),
                    )
                    .with_primary(self.file, id.span, "unknown value");
                    let d = match did_you_mean(&id.name, choices.iter().copied()) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help(format!(
                            "`{}` takes one of: {}",
                            param.name,
                            quoted(choices)
                        )),
                    };
                    self.report(d);
                    None
                }
            }
            (ValueType::FieldList, ast::ExprKind::List(items)) => {
                let mut names = Vec::new();
                for item in items {
                    let name = match &item.kind {
                        ast::ExprKind::Ident(id) => Some((id.name.clone(), id.span)),
                        ast::ExprKind::Str(s) => s.as_plain().map(|t| (t, item.span)),
                        _ => None,
                    };
                    let Some((name, span)) = name else {
                        self.report(
                            Diagnostic::error(
                                codes::AQ0407,
                                format!("`{}` lists field names", param.name),
                            )
                            .with_primary(self.file, item.span, "not a field name")
                            .with_help(format!(
                                "write field names of the record, e.g. `{}: [id]`",
                                param.name
                            )),
                        );
                        return None;
                    };
                    self.check_field_exists(&name, span, scope);
                    names.push(lit(Value::String(name), Type::String));
                }
                Some(Expr {
                    kind: ExprKind::List(names),
                    ty: Type::List(Box::new(Type::String)),
                })
            }
            (ValueType::FieldList, ast::ExprKind::Ident(id)) => {
                self.check_field_exists(&id.name, id.span, scope);
                Some(Expr {
                    kind: ExprKind::List(vec![lit(Value::String(id.name.clone()), Type::String)]),
                    ty: Type::List(Box::new(Type::String)),
                })
            }
            (ValueType::Field(ty), ast::ExprKind::Str(s)) if s.as_plain().is_some() => {
                let name = s.as_plain().unwrap_or_default();
                self.check_field(param.name, &name, ty, e.span, scope);
                Some(lit(Value::String(name), Type::String))
            }
            (ValueType::Field(ty), ast::ExprKind::Ident(id)) => {
                self.check_field(param.name, &id.name, ty, id.span, scope);
                Some(lit(Value::String(id.name.clone()), Type::String))
            }
            (ValueType::List(_), ast::ExprKind::List(_)) => {
                let typed = self.typer().expr(e, scope);
                Some(typed)
            }
            (ty, _) => {
                self.report(
                    Diagnostic::error(
                        codes::AQ0407,
                        format!(
                            "argument `{}` expects {}, found {}",
                            param.name,
                            describe_type(ty),
                            describe_expr(e)
                        ),
                    )
                    .with_primary(self.file, e.span, format!("expected {}", describe_type(ty)))
                    .with_help(format!("write {}", example(ty))),
                );
                None
            }
        }
    }

    /// A parameter naming one field (`headers_field: "headers"`): the field
    /// exists in the current record type, declared as `ty` (optional or
    /// not). Sources have no current record when their arguments are
    /// checked; their connector checks the name at start-up.
    fn check_field(&mut self, param: &str, name: &str, ty: &str, span: Span, scope: &Scope) {
        if !self.check_field_exists(name, span, scope) {
            return;
        }
        let Some(Type::Record(record)) = scope.current.as_ref().map(Type::required) else {
            return;
        };
        let Some(declared) = self
            .env
            .records
            .get(record.as_str())
            .and_then(|r| r.field(name))
            .map(|f| f.ty.clone())
        else {
            return;
        };
        if Type::parse(ty).is_some_and(|want| declared.required() == &want) {
            return;
        }
        self.report(
            Diagnostic::error(
                codes::AQ0407,
                format!(
                    "argument `{param}` needs a `{ty}` field, and `{record}.{name}` is `{declared}`"
                ),
            )
            .with_primary(self.file, span, format!("a `{declared}` field"))
            .with_help(format!(
                "declare `{name}: {ty}?` in `{record}`, or name a `{ty}` field"
            )),
        );
    }

    /// Reports a field `name` the current record type does not have; false
    /// then, true when it has it (or there is no record type to ask).
    pub(crate) fn check_field_exists(&mut self, name: &str, span: Span, scope: &Scope) -> bool {
        let Some(Type::Record(ty)) = scope.current.as_ref().map(Type::required) else {
            return true;
        };
        let Some(record) = self.env.records.get(ty.as_str()) else {
            return true;
        };
        if record.field(name).is_none() {
            let d = Diagnostic::error(codes::AQ0206, format!("`{ty}` has no field `{name}`"))
                .with_primary(self.file, span, "unknown field");
            let d = match did_you_mean(name, record.fields.iter().map(|f| f.name.as_str())) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!(
                    "fields of `{ty}`: {}",
                    quoted(
                        &record
                            .fields
                            .iter()
                            .map(|f| f.name.as_str())
                            .collect::<Vec<_>>()
                    )
                )),
            };
            self.report(d);
            return false;
        }
        true
    }
}

/// Names in backticks, comma-separated.
pub(crate) fn quoted(names: &[&str]) -> String {
    if names.is_empty() {
        return "none".to_string();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `op(a, b, name: …)` for help lines.
fn signature_help(spec: &OperationSpec) -> String {
    let parts: Vec<String> = spec
        .params
        .iter()
        .map(|p| {
            let opt = if p.required { "" } else { "?" };
            if p.positional {
                format!("{}{opt}", p.name)
            } else {
                format!("{}{opt}: …", p.name)
            }
        })
        .collect();
    format!("write `{}({})`", spec.name, parts.join(", "))
}
