//! `test NAME for FLOW { … }` blocks: checked against the flow they test and
//! lowered to [`FlowTest`]s with constant values.

use crate::decls::{Decls, doc_lines};
use crate::flows::CheckedFlow;
use crate::names::FxHashMap;
use crate::project::Ctx;
use crate::typeck::{TypeEnv, Typer};
use aqueduct_diagnostics::{Diagnostic, codes, did_you_mean};
use aqueduct_graph::{Expect, Expected, FlowTest, ModeKind, Stub, Type, Value};
use aqueduct_syntax::ast;

/// Checks every test block.
pub(crate) fn check_tests(
    ctx: &mut Ctx<'_>,
    env: &TypeEnv,
    decls: &Decls<'_>,
    flows: &[CheckedFlow],
) -> Vec<FlowTest> {
    let mut out = Vec::new();
    // The checked flows by name, the first of a name winning (a search of
    // all flows per test was quadratic in the size of the project).
    let mut by_name: FxHashMap<&str, &CheckedFlow> =
        FxHashMap::with_capacity_and_hasher(flows.len(), Default::default());
    for f in flows {
        by_name.entry(f.flow.name.as_str()).or_insert(f);
    }
    for (file, decl) in &decls.order {
        let ast::Decl::Test(test) = decl else {
            continue;
        };
        let file = *file;
        let Some(&flow) = by_name.get(test.flow.name.as_str()) else {
            if !decls.flows.contains_key(&test.flow.name) {
                let d = Diagnostic::error(
                    codes::AQ0205,
                    format!(
                        "test `{}` is for flow `{}`, which does not exist",
                        test.name.name, test.flow.name
                    ),
                )
                .with_primary(file, test.flow.span, "unknown flow");
                let d = match did_you_mean(&test.flow.name, decls.flows.keys()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help("name a flow declared with `flow NAME { … }`"),
                };
                ctx.diags.push(d);
            }
            // A flow that exists but failed to check was reported already.
            continue;
        };
        let source_ty = flow.flow.source.record_type.clone();
        let mut given = Vec::new();
        let mut stubs = Vec::new();
        let mut expects = Vec::new();
        for item in &test.items {
            match item {
                ast::TestItem::Given { record, .. } => {
                    if let (ast::ExprKind::Record(lit), Type::Record(expected)) =
                        (&record.kind, &source_ty)
                        && let Some(ty) = lit.ty.as_ref().filter(|t| &t.name != expected)
                    {
                        ctx.diags.push(
                            Diagnostic::error(
                                codes::AQ0802,
                                format!(
                                    "flow `{}` reads `{expected}` records, not `{}`",
                                    flow.flow.name, ty.name
                                ),
                            )
                            .with_primary(file, ty.span, "wrong record type")
                            .with_help(format!("write `given {expected} {{ … }}`")),
                        );
                        continue;
                    }
                    if let Some(v) =
                        Typer::new(env, file, &mut ctx.diags).constant(record, Some(&source_ty))
                    {
                        given.push(v);
                    }
                }
                ast::TestItem::Stub { call, value, .. } => {
                    let ast::CallTarget::System(system) = &call.target else {
                        ctx.diags.push(
                            Diagnostic::error(
                                codes::AQ0803,
                                "a stub answers a call of a declared system",
                            )
                            .with_primary(file, call.span, "inline system")
                            .with_help("write `stub system.operation(…) => value`"),
                        );
                        continue;
                    };
                    let Some((_, _, answer_ty)) = flow
                        .calls
                        .iter()
                        .find(|(s, op, _)| *s == system.name && *op == call.op.name)
                    else {
                        let made: Vec<String> = flow
                            .calls
                            .iter()
                            .map(|(s, op, _)| format!("`{s}.{op}`"))
                            .collect();
                        ctx.diags.push(
                            Diagnostic::error(
                                codes::AQ0803,
                                format!(
                                    "flow `{}` never calls `{}.{}`",
                                    flow.flow.name, system.name, call.op.name
                                ),
                            )
                            .with_primary(file, call.span, "no `enrich` makes this call")
                            .with_help(if made.is_empty() {
                                "this flow has no `enrich` step: remove the stub".to_string()
                            } else {
                                format!("the flow calls {}", made.join(", "))
                            }),
                        );
                        continue;
                    };
                    let answer_ty = answer_ty.clone();
                    let mut typer = Typer::new(env, file, &mut ctx.diags);
                    // Positional arguments take the names of the operation's
                    // parameters, as the call in the flow does.
                    let positional: Vec<&str> = decls
                        .systems
                        .get(&system.name)
                        .and_then(|at| aqueduct_catalog::connector(&at.decl.kind.name))
                        .and_then(|c| c.operation(&call.op.name, aqueduct_catalog::Role::Call))
                        .map(|op| op.positional().map(|p| p.name).collect())
                        .unwrap_or_default();
                    // A templated argument (`{.id}`) takes its value from
                    // each record: a stub cannot match it; leaving the
                    // argument out matches every call.
                    if let Some(templated) = call.args.iter().find(|a| is_template(&a.value)) {
                        typer.diags.push(
                            Diagnostic::error(
                                codes::AQ0805,
                                "a stub argument cannot be a template",
                            )
                            .with_primary(
                                file,
                                templated.value.span,
                                "`{…}` here takes its value from each record",
                            )
                            .with_help(format!(
                                "leave the arguments out: `stub {}.{}() => …` answers every `{}.{}` call of the flow",
                                system.name, call.op.name, system.name, call.op.name
                            )),
                        );
                        continue;
                    }
                    let args: Vec<(String, Value)> = call
                        .args
                        .iter()
                        .enumerate()
                        .filter_map(|(i, a)| {
                            let name = match &a.name {
                                Some(n) => n.name.clone(),
                                None => positional
                                    .get(i)
                                    .map_or_else(|| format!("#{i}"), |p| (*p).to_string()),
                            };
                            typer.constant(&a.value, None).map(|v| (name, v))
                        })
                        .collect();
                    if let Some(value) = typer.constant(value, Some(&answer_ty)) {
                        stubs.push(Stub {
                            system: system.name.clone(),
                            operation: call.op.name.clone(),
                            args,
                            value,
                        });
                    }
                }
                ast::TestItem::Expect { target, what, span } => {
                    let origin = ctx.origin(file, *span);
                    let delivered: Vec<&crate::flows::TargetUse> =
                        flow.targets.iter().filter(|t| !t.dead_letter).collect();
                    let (label, ty) = match target {
                        Some(t) => {
                            let wanted = match &t.op {
                                Some(op) => format!("{}.{}", t.name.name, op.name),
                                None => t.name.name.clone(),
                            };
                            let found = delivered
                                .iter()
                                .find(|d| d.label == wanted || d.name == wanted);
                            let Some(found) = found else {
                                let labels: Vec<String> =
                                    delivered.iter().map(|d| format!("`{}`", d.label)).collect();
                                ctx.diags.push(
                                    Diagnostic::error(
                                        codes::AQ0801,
                                        format!(
                                            "flow `{}` does not deliver to `{wanted}`",
                                            flow.flow.name
                                        ),
                                    )
                                    .with_primary(file, t.span, "not a target of this flow")
                                    .with_help(format!(
                                        "targets of this flow: {}",
                                        if labels.is_empty() {
                                            "none".into()
                                        } else {
                                            labels.join(", ")
                                        }
                                    )),
                                );
                                continue;
                            };
                            (Some(found.label.clone()), found.ty.clone())
                        }
                        None => (None, delivered.first().map_or(Type::Json, |d| d.ty.clone())),
                    };
                    let mut typer = Typer::new(env, file, &mut ctx.diags);
                    let expected = match what {
                        ast::Expectation::Nothing => Some(Expected::Nothing),
                        ast::Expectation::Record(e) => {
                            typer.constant(e, Some(&ty)).map(Expected::Record)
                        }
                        ast::Expectation::Reply(status, e) => {
                            if flow.flow.mode.kind != ModeKind::Sync {
                                typer.diags.push(
                                    Diagnostic::error(
                                        codes::AQ0804,
                                        format!(
                                            "flow `{}` is `{}`: it never replies",
                                            flow.flow.name,
                                            flow.flow.mode.kind.as_str()
                                        ),
                                    )
                                    .with_primary(file, *span, "no reply to expect")
                                    .with_help(
                                        "expect what reaches its targets instead: `expect RECORD`",
                                    ),
                                );
                                None
                            } else {
                                typer.constant(e, None).map(|value| match status {
                                    Some(s) => Expected::ReplyWith {
                                        status: s.code,
                                        value,
                                    },
                                    None => Expected::Reply(value),
                                })
                            }
                        }
                        ast::Expectation::Error(e) => match &e.kind {
                            ast::ExprKind::Str(s) if s.as_plain().is_some() => {
                                s.as_plain().map(Expected::Error)
                            }
                            _ => {
                                typer.diags.push(
                                    Diagnostic::error(codes::AQ0601, "`expect error` takes the expected message as a plain string")
                                        .with_primary(file, e.span, "not a plain string")
                                        .with_help("write e.g. `expect error \"timed out\"` (the error must contain this text)"),
                                );
                                None
                            }
                        },
                    };
                    if let Some(what) = expected {
                        expects.push(Expect {
                            target: label,
                            what,
                            origin,
                        });
                    }
                }
            }
        }
        out.push(FlowTest {
            name: test.name.name.clone(),
            flow: flow.flow.name.clone(),
            doc: doc_lines(&test.doc),
            given,
            stubs,
            expects,
            origin: ctx.origin(file, test.span),
        });
    }
    out
}

/// A string literal with `{…}` parts.
fn is_template(expr: &ast::Expr) -> bool {
    matches!(&expr.kind, ast::ExprKind::Str(s)
        if s.parts.iter().any(|p| matches!(p, ast::StrPart::Expr(_))))
}
