//! Option blocks checked against the catalogue's option specs: `system`
//! blocks, nested blocks (`auth = bearer { … }`), inline systems and
//! `circuit_breaker`. Produces resolved [`ConfigValue`]s.

use crate::names::FxHashMap;
use aqueduct_catalog::{OptionSpec, ValueType};
use aqueduct_diagnostics::{Diagnostic, FileId, Span, codes, did_you_mean};
use aqueduct_graph::{ConfigValue, Value};
use aqueduct_syntax::ast;
use std::fmt;

/// Text written out only when a message needs it (the owner of an option
/// block): formatting it for every block checked cost more than checking.
pub(crate) struct Lazy<F>(pub F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

/// One option as written, from a block (`name = value`) or an inline argument.
pub(crate) struct Written<'a> {
    pub name: &'a str,
    pub name_span: Span,
    pub value: WrittenValue<'a>,
}

/// An option value as written.
pub(crate) enum WrittenValue<'a> {
    Option(&'a ast::OptionValue),
    Expr(&'a ast::Expr),
}

/// Checks `written` against `specs`; `owner` names the block in messages
/// ("system `crm` (salesforce)"), `owner_span` is where missing options are reported.
pub(crate) fn check_options(
    file: FileId,
    written: &[Written<'_>],
    specs: &'static [OptionSpec],
    owner: &dyn fmt::Display,
    owner_span: Span,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(String, ConfigValue)> {
    let mut out = Vec::new();
    let mut seen: FxHashMap<&str, Span> =
        FxHashMap::with_capacity_and_hasher(written.len(), Default::default());
    for w in written {
        if let Some(first) = seen.get(w.name) {
            diags.push(
                Diagnostic::error(
                    codes::AQ0213,
                    format!("option `{}` is set twice in {owner}", w.name),
                )
                .with_primary(file, w.name_span, "set again here")
                .with_context(file, *first, "first set here")
                .with_help("keep one of the two"),
            );
            continue;
        }
        seen.insert(w.name, w.name_span);
        let Some(spec) = specs.iter().find(|s| s.name == w.name) else {
            let mut d =
                Diagnostic::error(codes::AQ0212, format!("{owner} has no option `{}`", w.name))
                    .with_primary(file, w.name_span, "unknown option");
            d = match did_you_mean(w.name, specs.iter().map(|s| s.name)) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("options of {owner}: {}", names(specs))),
            };
            diags.push(d);
            continue;
        };
        if let Some(v) = check_value(file, &w.value, spec, owner, diags) {
            out.push((w.name.to_string(), v));
        }
    }
    let missing: Vec<&OptionSpec> = specs
        .iter()
        .filter(|s| s.required && !seen.contains_key(s.name))
        .collect();
    if !missing.is_empty() {
        let list = missing
            .iter()
            .map(|m| format!("`{}`", m.name))
            .collect::<Vec<_>>()
            .join(", ");
        let example = missing
            .iter()
            .map(|m| format!("`{} = {}`", m.name, sample(m)))
            .collect::<Vec<_>>()
            .join(", ");
        diags.push(
            Diagnostic::error(
                codes::AQ0401,
                format!(
                    "{owner} is missing required option{} {list}",
                    plural(missing.len())
                ),
            )
            .with_primary(file, owner_span, "declared here")
            .with_help(format!("add {example}")),
        );
    }
    out
}

/// Entries of an option block as [`Written`] options.
pub(crate) fn written(entries: &[ast::OptionEntry]) -> Vec<Written<'_>> {
    entries
        .iter()
        .map(|e| Written {
            name: &e.name.name,
            name_span: e.name.span,
            value: WrittenValue::Option(&e.value),
        })
        .collect()
}

fn check_value(
    file: FileId,
    value: &WrittenValue<'_>,
    spec: &'static OptionSpec,
    owner: &dyn fmt::Display,
    diags: &mut Vec<Diagnostic>,
) -> Option<ConfigValue> {
    match (value, &spec.ty) {
        (WrittenValue::Option(ast::OptionValue::Block(block)), ValueType::Block(kinds)) => {
            let Some(kind) = &block.kind else {
                let choices = kinds
                    .iter()
                    .map(|k| format!("`{} {{ … }}`", k.kind))
                    .collect::<Vec<_>>()
                    .join(", ");
                diags.push(
                    Diagnostic::error(
                        codes::AQ0408,
                        format!("option `{}` needs a block kind", spec.name),
                    )
                    .with_primary(file, block.span, "block without a kind")
                    .with_help(format!("write one of {choices}")),
                );
                return None;
            };
            let Some(block_spec) = kinds.iter().find(|k| k.kind == kind.name) else {
                let mut d = Diagnostic::error(
                    codes::AQ0408,
                    format!(
                        "`{}` is not a kind of `{}` in {owner}",
                        kind.name, spec.name
                    ),
                )
                .with_primary(file, kind.span, "unknown block kind");
                d = match did_you_mean(&kind.name, kinds.iter().map(|k| k.kind)) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!(
                        "`{}` takes one of: {}",
                        spec.name,
                        kinds
                            .iter()
                            .map(|k| format!("`{}`", k.kind))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                diags.push(d);
                return None;
            };
            let inner_owner = Lazy(|f: &mut fmt::Formatter<'_>| {
                write!(f, "`{} = {} {{ … }}`", spec.name, kind.name)
            });
            let options = check_options(
                file,
                &written(&block.options),
                block_spec.options,
                &inner_owner,
                kind.span,
                diags,
            );
            Some(ConfigValue::Block {
                kind: Some(kind.name.clone()),
                options,
            })
        }
        (WrittenValue::Option(ast::OptionValue::Block(block)), ValueType::Map) => {
            let mut options = Vec::new();
            for entry in &block.options {
                match &entry.value {
                    ast::OptionValue::Expr(e) => {
                        if let Some(v) = scalar(
                            file,
                            e,
                            &ValueType::String,
                            false,
                            entry.name.name.as_str(),
                            diags,
                        ) {
                            options.push((entry.name.name.clone(), v));
                        }
                    }
                    ast::OptionValue::Block(b) => mismatch(
                        file,
                        b.span,
                        spec.name,
                        &ValueType::String,
                        "a block",
                        diags,
                    ),
                }
            }
            Some(ConfigValue::Block {
                kind: block.kind.as_ref().map(|k| k.name.clone()),
                options,
            })
        }
        (WrittenValue::Option(ast::OptionValue::Block(block)), ty) => {
            mismatch(file, block.span, spec.name, ty, "a block", diags);
            None
        }
        (WrittenValue::Option(ast::OptionValue::Expr(e)), ty) => {
            scalar(file, e, ty, spec.secret, spec.name, diags)
        }
        (WrittenValue::Expr(e), ty) => scalar(file, e, ty, spec.secret, spec.name, diags),
    }
}

/// Checks a non-block option value of type `ty`.
pub(crate) fn scalar(
    file: FileId,
    e: &ast::Expr,
    ty: &ValueType,
    secret: bool,
    name: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<ConfigValue> {
    if let ast::ExprKind::Call { func, args } = &e.kind
        && (func.name == "env" || func.name == "secret")
    {
        return env_or_secret(file, e, &func.name, args, secret, name, diags);
    }
    if secret && let ast::ExprKind::Str(_) = &e.kind {
        diags.push(
            Diagnostic::warning(
                codes::AQ0403,
                format!("option `{name}` holds a credential written as a literal"),
            )
            .with_primary(file, e.span, "secret in plain text")
            .with_help(format!(
                "read it at run time instead: `{name} = secret(\"NAME\")`"
            )),
        );
    }
    let found = describe_expr(e);
    let value = match (ty, &e.kind) {
        (ValueType::String | ValueType::Url | ValueType::Template, ast::ExprKind::Str(s)) => {
            match s.as_plain() {
                Some(text) => Some(ConfigValue::Literal(Value::String(text))),
                None => {
                    diags.push(
                    Diagnostic::error(codes::AQ0402, format!("option `{name}` cannot use `{{…}}` interpolation"))
                        .with_primary(file, e.span, "interpolated string")
                        .with_help("option values are fixed when the system starts; use `env(\"VAR\")` for values that vary"),
                );
                    return None;
                }
            }
        }
        (ValueType::Int, ast::ExprKind::Lit(ast::Lit::Int { value, .. })) => {
            Some(ConfigValue::Literal(Value::Int(*value)))
        }
        (ValueType::Bool, ast::ExprKind::Lit(ast::Lit::Bool(b))) => {
            Some(ConfigValue::Literal(Value::Bool(*b)))
        }
        (ValueType::Duration, ast::ExprKind::Lit(ast::Lit::Duration { millis, .. })) => {
            Some(ConfigValue::Literal(Value::Duration(*millis)))
        }
        (ValueType::Size, ast::ExprKind::Lit(ast::Lit::Size { bytes, .. })) => Some(
            ConfigValue::Literal(Value::Int(i64::try_from(*bytes).unwrap_or(i64::MAX))),
        ),
        (ValueType::Enum(choices), ast::ExprKind::Ident(id)) => {
            if choices.contains(&id.name.as_str()) {
                Some(ConfigValue::Enum(id.name.clone()))
            } else {
                diags.push(bad_enum(file, id, name, choices));
                return None;
            }
        }
        (ValueType::List(inner), ast::ExprKind::List(items)) => {
            let values: Vec<_> = items
                .iter()
                .filter_map(|i| scalar(file, i, inner, secret, name, diags))
                .collect();
            Some(ConfigValue::List(values))
        }
        (ValueType::FieldList, ast::ExprKind::List(items)) => {
            let mut values = Vec::new();
            for item in items {
                match &item.kind {
                    ast::ExprKind::Ident(id) => values.push(ConfigValue::Enum(id.name.clone())),
                    _ => mismatch(
                        file,
                        item.span,
                        name,
                        &ValueType::FieldList,
                        describe_expr(item),
                        diags,
                    ),
                }
            }
            Some(ConfigValue::List(values))
        }
        _ => None,
    };
    if value.is_none() {
        mismatch(file, e.span, name, ty, found, diags);
    }
    value
}

fn env_or_secret(
    file: FileId,
    e: &ast::Expr,
    func: &str,
    args: &[ast::Arg],
    secret_option: bool,
    name: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<ConfigValue> {
    let strings: Vec<Option<String>> = args
        .iter()
        .map(|a| match &a.value.kind {
            ast::ExprKind::Str(s) if a.name.is_none() => s.as_plain(),
            _ => None,
        })
        .collect();
    let max = if func == "env" { 2 } else { 1 };
    if args.is_empty() || args.len() > max || strings.iter().any(Option::is_none) {
        let usage = if func == "env" {
            "`env(\"VAR\")` or `env(\"VAR\", \"default\")`"
        } else {
            "`secret(\"NAME\")`"
        };
        diags.push(
            Diagnostic::error(
                codes::AQ0604,
                format!("`{func}` takes the variable name as a string"),
            )
            .with_primary(file, e.span, "wrong arguments")
            .with_help(format!("write {usage}")),
        );
        return None;
    }
    let mut strings = strings.into_iter().flatten();
    let var = strings.next().unwrap_or_default();
    if func == "secret" {
        return Some(ConfigValue::Secret { name: var });
    }
    if secret_option {
        diags.push(
            Diagnostic::warning(codes::AQ0403, format!("option `{name}` holds a credential read with `env()`"))
                .with_primary(file, e.span, "credential from a plain environment variable")
                .with_help(format!(
                    "use `secret(\"{var}\")`: secrets are also read from the environment, but never logged or written into generated files"
                )),
        );
    }
    Some(ConfigValue::Env {
        name: var,
        default: strings.next(),
    })
}

fn bad_enum(file: FileId, id: &ast::Ident, name: &str, choices: &[&str]) -> Diagnostic {
    let d = Diagnostic::error(
        codes::AQ0408,
        format!("`{}` is not a value of `{name}`", id.name),
    )
    .with_primary(file, id.span, "unknown value");
    match did_you_mean(&id.name, choices.iter().copied()) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help(format!(
            "`{name}` takes one of: {}",
            choices
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn mismatch(
    file: FileId,
    span: Span,
    name: &str,
    ty: &ValueType,
    found: &str,
    diags: &mut Vec<Diagnostic>,
) {
    diags.push(
        Diagnostic::error(
            codes::AQ0402,
            format!(
                "option `{name}` expects {}, found {found}",
                describe_type(ty)
            ),
        )
        .with_primary(file, span, format!("expected {}", describe_type(ty)))
        .with_help(format!("write {}", example(ty))),
    );
}

/// The kind of value an option or argument takes, in words.
pub(crate) fn describe_type(ty: &ValueType) -> String {
    match ty {
        ValueType::String => "a string".into(),
        ValueType::Url => "a URL string".into(),
        ValueType::Int => "an integer".into(),
        ValueType::Bool => "`true` or `false`".into(),
        ValueType::Duration => "a duration".into(),
        ValueType::Size => "a size".into(),
        ValueType::Enum(c) => format!(
            "one of {}",
            c.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ValueType::List(inner) => format!("a list of {}", describe_type(inner)),
        ValueType::FieldList => "a list of field names".into(),
        ValueType::Field(ty) => format!("the name of a `{ty}` field"),
        ValueType::Template => "a string".into(),
        ValueType::Block(_) => "a block".into(),
        ValueType::Map => "a block of `name = \"value\"` pairs".into(),
    }
}

/// An example value of a type, for help lines.
/// A value to write for a missing option, in help lines.
fn sample(spec: &OptionSpec) -> String {
    let upper = spec.name.to_uppercase();
    match &spec.ty {
        _ if spec.secret => format!("secret(\"{upper}\")"),
        ValueType::String | ValueType::Template | ValueType::Url => "\"…\"".into(),
        ValueType::Int => "10".into(),
        ValueType::Bool => "true".into(),
        ValueType::Duration => "30s".into(),
        ValueType::Size => "10MiB".into(),
        ValueType::Enum(c) => c.first().map_or("…", |c| c).to_string(),
        ValueType::Block(kinds) => format!("{} {{ … }}", kinds.first().map_or("kind", |k| k.kind)),
        _ => "…".into(),
    }
}

pub(crate) fn example(ty: &ValueType) -> String {
    match ty {
        ValueType::String | ValueType::Template => {
            "a string such as `\"value\"` or `env(\"VAR\")`".into()
        }
        ValueType::Url => "a URL such as `\"https://example.com\"` or `env(\"URL\")`".into(),
        ValueType::Int => "an integer such as `10`".into(),
        ValueType::Bool => "`true` or `false`".into(),
        ValueType::Duration => "a duration such as `30s`, `5m` or `250ms`".into(),
        ValueType::Size => "a size such as `64KiB` or `10MiB`".into(),
        ValueType::Enum(c) => format!(
            "one of {}",
            c.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ValueType::List(inner) => format!("a list `[…]` of {}", describe_type(inner)),
        ValueType::FieldList => "a list of field names such as `[id]`".into(),
        ValueType::Field(ty) => format!("the name of a `{ty}` field in quotes, e.g. `\"meta\"`"),
        ValueType::Block(kinds) => {
            format!(
                "a block such as `{} {{ … }}`",
                kinds.first().map_or("kind", |k| k.kind)
            )
        }
        ValueType::Map => "`{ name = \"value\" }`".into(),
    }
}

/// What an expression is, in words, for "found …" messages.
pub(crate) fn describe_expr(e: &ast::Expr) -> &'static str {
    match &e.kind {
        ast::ExprKind::Lit(ast::Lit::Null) => "`null`",
        ast::ExprKind::Lit(ast::Lit::Bool(_)) => "a bool",
        ast::ExprKind::Lit(ast::Lit::Int { .. }) => "an integer",
        ast::ExprKind::Lit(ast::Lit::Decimal(_)) => "a decimal",
        ast::ExprKind::Lit(ast::Lit::Duration { .. }) => "a duration",
        ast::ExprKind::Lit(ast::Lit::Size { .. }) => "a size",
        ast::ExprKind::Str(_) => "a string",
        ast::ExprKind::Path(_) => "a path",
        ast::ExprKind::Ident(_) => "a bare name",
        ast::ExprKind::List(_) => "a list",
        ast::ExprKind::Record(_) => "a record",
        ast::ExprKind::Call { .. } => "a function call",
        _ => "an expression",
    }
}

fn names(specs: &[OptionSpec]) -> String {
    if specs.is_empty() {
        return "none".into();
    }
    specs
        .iter()
        .map(|s| format!("`{}`", s.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "s" when `n` is not 1.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
