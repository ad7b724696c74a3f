//! Call typing: arity (AQ0604), argument types (AQ0601), unknown
//! functions (AQ0208) and result types with null propagation, following the
//! signature table in [`super::functions`].

use super::functions::{Param, fixed_result, is_concat, signature};
use super::{Scope, Typer, coerce};
use aqueduct_diagnostics::{Diagnostic, Span, codes, did_you_mean};
use aqueduct_graph::{Expr, ExprKind, Func, Type};
use aqueduct_syntax::ast;

impl Typer<'_> {
    /// `name(args)`.
    pub(super) fn call(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Arg],
        span: Span,
        scope: &Scope,
    ) -> Expr {
        let typed: Vec<Expr> = args.iter().map(|a| self.expr(&a.value, scope)).collect();
        let Some(func) = Func::from_name(&name.name) else {
            self.unknown_function(name);
            return Typer::error_expr();
        };
        let sig = signature(func);
        if let Some(named) = args.iter().find_map(|a| a.name.as_ref()) {
            self.diags.push(
                Diagnostic::error(
                    codes::AQ0604,
                    format!("`{}` takes no named arguments", name.name),
                )
                .with_primary(self.file, named.span, "named argument")
                .with_help(format!("pass arguments by position: `{}`", sig.usage)),
            );
            return failed_call(func, Vec::new());
        }
        let too_many = !sig.variadic && args.len() > sig.params.len();
        if args.len() < sig.required || too_many {
            self.diags.push(
                Diagnostic::error(
                    codes::AQ0604,
                    format!("`{}` takes {}, got {}", name.name, sig.arity(), args.len()),
                )
                .with_primary(self.file, span, format!("{} given", args.len()))
                .with_help(format!("call it as `{}`", sig.usage)),
            );
            return failed_call(func, Vec::new());
        }
        let mut checked = Vec::with_capacity(typed.len());
        let mut optional = false;
        let mut failed = false;
        for (index, (arg, value)) in args.iter().zip(typed).enumerate() {
            let Some(param) = sig.param(index) else {
                continue;
            };
            if Typer::is_error(&value) {
                failed = true;
                continue;
            }
            optional |=
                param != Param::Any && (coerce::nullable(&value.ty) || value.ty == Type::Json);
            match self.argument(param, value, arg.value.span, func, index) {
                Some(e) => checked.push(e),
                None => failed = true,
            }
        }
        if failed {
            return failed_call(func, checked);
        }
        let Some((args, ty)) = self.result(func, checked, &name.name, span) else {
            return Typer::error_expr();
        };
        let ty = match func {
            // Fixed results, whatever the arguments: see the module doc.
            Func::ToString | Func::ToJson | Func::ParseJson => ty,
            Func::ToInt | Func::ToDecimal | Func::ToFloat | Func::ParseTimestamp => ty.optional(),
            _ if optional => ty.optional(),
            _ => ty,
        };
        Expr {
            kind: ExprKind::Call { func, args },
            ty,
        }
    }

    /// Checks one argument against its parameter.
    fn argument(
        &mut self,
        param: Param,
        value: Expr,
        span: Span,
        func: Func,
        index: usize,
    ) -> Option<Expr> {
        let base = value.ty.required().clone();
        let ok = match param {
            Param::Any => true,
            Param::Text => base == Type::String,
            Param::Int => base == Type::Int,
            Param::Number => base.is_numeric(),
            Param::TextList => matches!(&base, Type::List(e) if *e.required() == Type::String),
            Param::Sized => matches!(base, Type::String | Type::List(_) | Type::Json),
            Param::Time => {
                if base == Type::Timestamp {
                    true
                } else {
                    let what = format!("argument {} of `{}`", index + 1, func.name());
                    return match self.time_literal(&value, span, &Type::Timestamp, &what) {
                        Some(e) if Typer::is_error(&e) => None,
                        Some(e) => Some(e),
                        None => self.wrong_argument(
                            span,
                            "`timestamp`",
                            &value.ty,
                            &Type::Timestamp,
                            func,
                            index,
                        ),
                    };
                }
            }
        };
        if ok {
            return Some(value);
        }
        let (wanted, as_type) = match param {
            Param::Int => ("`int`", Type::Int),
            Param::Number => ("a number", Type::Decimal),
            Param::TextList => ("`[string]`", Type::List(Box::new(Type::String))),
            Param::Sized => ("a string or a list", Type::String),
            _ => ("`string`", Type::String),
        };
        self.wrong_argument(span, wanted, &value.ty, &as_type, func, index)
    }

    /// AQ0601 for an argument of the wrong type; always `None`.
    fn wrong_argument(
        &mut self,
        span: Span,
        wanted: &str,
        found: &Type,
        as_type: &Type,
        func: Func,
        index: usize,
    ) -> Option<Expr> {
        let message = format!(
            "expected {wanted} for argument {} of `{}`, found `{found}`",
            index + 1,
            func.name()
        );
        let help = coerce::conversion_help(found, as_type)
            .unwrap_or_else(|| format!("pass {wanted} as argument {}", index + 1));
        let d = Diagnostic::error(codes::AQ0601, message)
            .with_primary(self.file, span, format!("this is `{found}`"))
            .with_help(help);
        self.diags.push(d.with_note(format!(
            "`{}` is called as `{}`",
            func.name(),
            signature(func).usage
        )));
        None
    }

    /// The result type of `func` over checked arguments; numeric functions
    /// keep their argument's type, `concat` also joins lists.
    fn result(
        &mut self,
        func: Func,
        mut args: Vec<Expr>,
        name: &str,
        span: Span,
    ) -> Option<(Vec<Expr>, Type)> {
        let base = |e: &Expr| e.ty.required().clone();
        // The arity was checked: the functions indexed here take at least one.
        let ty = match func {
            Func::Round | Func::Abs => base(&args[0]),
            Func::Min | Func::Max | Func::Concat => {
                let mut joined = base(&args[0]);
                for arg in &args[1..] {
                    // `concat` skips nulls, so only the required part matters.
                    let next = coerce::join(&joined, &base(arg))
                        .map(|t| {
                            if func == Func::Concat {
                                t.required().clone()
                            } else {
                                t
                            }
                        })
                        .filter(|t| func != Func::Concat || is_concat(t));
                    let Some(next) = next else {
                        self.mixed_arguments(func, name, &args, span);
                        return None;
                    };
                    joined = next;
                }
                if !is_concat(&joined) && func == Func::Concat {
                    self.mixed_arguments(func, name, &args, span);
                    return None;
                }
                // Widen each argument to the joined type, keeping null-ness.
                args = args
                    .into_iter()
                    .map(|e| {
                        let to = if coerce::nullable(&e.ty) {
                            joined.clone().optional()
                        } else {
                            joined.clone()
                        };
                        coerce::widen(e, &to)
                    })
                    .collect();
                if func == Func::Concat && joined == Type::Null {
                    Type::String
                } else {
                    joined
                }
            }
            _ => fixed_result(func)?,
        };
        Some((args, ty))
    }

    /// AQ0601 for `min`/`max`/`concat` arguments that do not share a type.
    fn mixed_arguments(&mut self, func: Func, name: &str, args: &[Expr], span: Span) {
        let types: Vec<String> = args.iter().map(|a| format!("`{}`", a.ty)).collect();
        let (wants, help) = match func {
            Func::Concat => (
                "strings, or lists of one type",
                "convert the arguments with `to_string(…)`",
            ),
            _ => (
                "numbers of one kind",
                "convert one argument with `to_decimal(…)` or `to_float(…)`",
            ),
        };
        self.diags.push(
            Diagnostic::error(
                codes::AQ0601,
                format!("`{name}` needs {wants}, found {}", types.join(", ")),
            )
            .with_primary(self.file, span, "mixed argument types")
            .with_help(help),
        );
    }

    /// AQ0208 for a function the language does not have.
    fn unknown_function(&mut self, name: &ast::Ident) {
        let (message, help) = match name.name.as_str() {
            "env" | "secret" => (
                format!(
                    "`{}()` can only be used as the value of a `system` option",
                    name.name
                ),
                "set it as an option of the `system` block and let the connector read it"
                    .to_string(),
            ),
            _ => (
                format!("there is no function `{}`", name.name),
                match did_you_mean(&name.name, Func::ALL.iter().map(|f| f.name())) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "see the list of functions in the language reference".to_string(),
                },
            ),
        };
        self.diags.push(
            Diagnostic::error(codes::AQ0208, message)
                .with_primary(self.file, name.span, "unknown function")
                .with_help(help),
        );
    }
}

/// A call whose problem was reported: typed with the function's fixed
/// result type when it has one, which keeps the caller quiet.
fn failed_call(func: Func, args: Vec<Expr>) -> Expr {
    match fixed_result(func) {
        Some(ty) => Expr {
            kind: ExprKind::Call { func, args },
            ty,
        },
        None => Typer::error_expr(),
    }
}
