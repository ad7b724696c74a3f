//! Reading operation arguments (`OpRef.args`) and system options.
//!
//! Arguments are checked expressions: constants are literals (bare enum
//! names are string literals, durations are [`GValue::Duration`] in
//! milliseconds, field lists are lists of strings). Options go through the
//! [`ConfigResolver`](aqueduct_runtime::connector::ConfigResolver) so
//! `env()` and `secret()` are resolved; nested blocks (`auth = bearer { … }`)
//! are resolved the same way through a [`Block`].

use aqueduct_graph::{ConfigValue, Expr, ExprKind, System, Value as GValue};
use aqueduct_runtime::connector::{ConnectorError, OpContext};
use std::sync::Arc;
use std::time::Duration;

/// `kind.op` of the context, for messages.
pub fn label(cx: &OpContext) -> String {
    format!("{}.{}", cx.op.system, cx.op.operation)
}

fn config_error(cx: &OpContext, message: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Config(format!("`{}`: {message}", label(cx)))
}

/// The constant an argument expression holds, when it is one.
pub fn constant(expr: &Expr) -> Option<&GValue> {
    match &expr.kind {
        ExprKind::Lit(v) => Some(v),
        ExprKind::Convert { expr, .. } => constant(expr),
        _ => None,
    }
}

/// A constant string: a literal, or an interpolation of literals only.
pub fn constant_string(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Interpolate(parts) => {
            let mut out = String::new();
            for part in parts {
                out.push_str(&constant_string(part)?);
            }
            Some(out)
        }
        _ => match constant(expr)? {
            GValue::String(s) => Some(s.clone()),
            _ => None,
        },
    }
}

/// The constant string argument `name`, if given.
pub fn arg_str(cx: &OpContext, name: &str) -> Result<Option<String>, ConnectorError> {
    match cx.op.arg(name) {
        None => Ok(None),
        Some(expr) => match constant(expr) {
            Some(GValue::Null) => Ok(None),
            _ => constant_string(expr).map(Some).ok_or_else(|| {
                config_error(cx, format!("argument `{name}` must be a constant string"))
            }),
        },
    }
}

/// The constant string argument `name`, which must be given.
pub fn req_str(cx: &OpContext, name: &str) -> Result<String, ConnectorError> {
    arg_str(cx, name)?.ok_or_else(|| config_error(cx, format!("argument `{name}` is required")))
}

/// The boolean argument `name`, if given.
pub fn arg_bool(cx: &OpContext, name: &str) -> Result<Option<bool>, ConnectorError> {
    match cx.op.arg(name).map(|e| constant(e)) {
        None | Some(Some(GValue::Null)) => Ok(None),
        Some(Some(GValue::Bool(b))) => Ok(Some(*b)),
        Some(Some(GValue::String(s))) if s == "true" || s == "false" => Ok(Some(s == "true")),
        Some(_) => Err(config_error(
            cx,
            format!("argument `{name}` must be true or false"),
        )),
    }
}

/// The duration argument `name`, if given.
pub fn arg_duration(cx: &OpContext, name: &str) -> Result<Option<Duration>, ConnectorError> {
    match cx.op.arg(name).map(|e| constant(e)) {
        None | Some(Some(GValue::Null)) => Ok(None),
        Some(Some(GValue::Duration(ms))) => Ok(Some(Duration::from_millis(*ms))),
        Some(Some(GValue::Int(ms))) if *ms >= 0 => Ok(Some(Duration::from_millis(*ms as u64))),
        Some(Some(GValue::String(s))) => parse_duration(s)
            .map(Some)
            .ok_or_else(|| config_error(cx, format!("argument `{name}`: `{s}` is not a duration"))),
        Some(_) => Err(config_error(
            cx,
            format!("argument `{name}` must be a duration such as 30s"),
        )),
    }
}

/// The size argument `name` (`max_record_size: 1MiB`), in bytes, if given.
pub fn arg_size(cx: &OpContext, name: &str) -> Result<Option<u64>, ConnectorError> {
    match cx.op.arg(name).map(|e| constant(e)) {
        None | Some(Some(GValue::Null)) => Ok(None),
        Some(Some(GValue::Int(n))) if *n > 0 => Ok(Some(*n as u64)),
        Some(Some(GValue::String(s))) => parse_size(s)
            .map(Some)
            .ok_or_else(|| config_error(cx, format!("argument `{name}`: `{s}` is not a size"))),
        Some(_) => Err(config_error(
            cx,
            format!("argument `{name}` must be a size above 0 such as 16MiB"),
        )),
    }
}

/// The field-list argument `name` (`key: [a, b]`); a single string counts as one field.
pub fn arg_fields(cx: &OpContext, name: &str) -> Result<Vec<String>, ConnectorError> {
    fn strings(v: &GValue) -> Option<Vec<String>> {
        match v {
            GValue::String(s) => Some(vec![s.clone()]),
            GValue::List(items) => items
                .iter()
                .map(|i| strings(i).and_then(|mut v| v.pop()))
                .collect(),
            _ => None,
        }
    }
    let Some(expr) = cx.op.arg(name) else {
        return Ok(Vec::new());
    };
    let fields = match &expr.kind {
        ExprKind::List(items) => items
            .iter()
            .map(constant_string)
            .collect::<Option<Vec<_>>>(),
        _ => constant(expr).and_then(strings),
    };
    fields.ok_or_else(|| {
        config_error(
            cx,
            format!("argument `{name}` must be a list of field names"),
        )
    })
}

/// Parses `250ms`, `30s`, `5m`, `2h`, `1d` (or a bare number of seconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim().replace('_', "");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => n,
        "" | "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        "d" => n.checked_mul(86_400_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// Parses `512`, `64KiB`, `10MiB`, `1GiB` (also `KB`/`MB`/`GB` as powers of 1000).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim().replace('_', "");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// Options of a system, or of a block nested in one, read through the resolver.
#[derive(Clone)]
pub struct Options {
    /// The system (or a stand-in holding a block's options).
    pub system: Arc<System>,
    /// The block's kind (`bearer`, `hmac`, …) for blocks, else `None`.
    pub kind: Option<String>,
    resolver: Arc<dyn aqueduct_runtime::connector::ConfigResolver>,
    label: String,
}

impl Options {
    /// The options of the context's system.
    pub fn of(cx: &OpContext) -> Options {
        Options {
            system: cx.system.clone(),
            kind: None,
            resolver: cx.config.clone(),
            label: label(cx),
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Config(format!("`{}`: {message}", self.label))
    }

    /// The option as a resolved string, `None` when unset.
    pub fn string(&self, name: &str) -> Result<Option<String>, ConnectorError> {
        match self.system.option(name) {
            None => Ok(None),
            Some(ConfigValue::Literal(GValue::String(s))) | Some(ConfigValue::Enum(s)) => {
                Ok(Some(s.clone()))
            }
            Some(ConfigValue::Literal(GValue::Int(n))) => Ok(Some(n.to_string())),
            Some(ConfigValue::Literal(GValue::Bool(b))) => Ok(Some(b.to_string())),
            Some(_) => self.resolver.string(&self.system, name),
        }
    }

    /// The option as a resolved string, which must be set.
    pub fn required(&self, name: &str) -> Result<String, ConnectorError> {
        self.string(name)?
            .ok_or_else(|| self.error(format!("option `{name}` is required")))
    }

    /// A duration option (`timeout = 10s`, or `env("X")` holding `10s`).
    pub fn duration(&self, name: &str) -> Result<Option<Duration>, ConnectorError> {
        match self.system.option(name) {
            None => Ok(None),
            Some(ConfigValue::Literal(GValue::Duration(ms))) => {
                Ok(Some(Duration::from_millis(*ms)))
            }
            Some(_) => match self.string(name)? {
                None => Ok(None),
                Some(s) => parse_duration(&s)
                    .map(Some)
                    .ok_or_else(|| self.error(format!("option `{name}`: `{s}` is not a duration"))),
            },
        }
    }

    /// A size option (`max_body = 1MiB`).
    pub fn size(&self, name: &str) -> Result<Option<u64>, ConnectorError> {
        match self.system.option(name) {
            None => Ok(None),
            Some(ConfigValue::Literal(GValue::Int(n))) if *n >= 0 => Ok(Some(*n as u64)),
            Some(_) => match self.string(name)? {
                None => Ok(None),
                Some(s) => parse_size(&s)
                    .map(Some)
                    .ok_or_else(|| self.error(format!("option `{name}`: `{s}` is not a size"))),
            },
        }
    }

    /// The nested block `name` (`auth = bearer { … }`, `headers { … }`).
    pub fn block(&self, name: &str) -> Result<Option<Options>, ConnectorError> {
        match self.system.option(name) {
            None => Ok(None),
            Some(ConfigValue::Block { kind, options }) => {
                let system = System {
                    name: self.system.name.clone(),
                    kind: self.system.kind.clone(),
                    options: options.clone(),
                    doc: Vec::new(),
                    origin: self.system.origin.clone(),
                };
                Ok(Some(Options {
                    system: Arc::new(system),
                    kind: kind.clone(),
                    resolver: self.resolver.clone(),
                    label: format!("{} {name}", self.label),
                }))
            }
            Some(_) => Err(self.error(format!("option `{name}` must be a block"))),
        }
    }

    /// Names of the options set (in a block: its entries in source order).
    pub fn names(&self) -> Vec<String> {
        self.system.options.iter().map(|(n, _)| n.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_sizes() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_size("1MiB"), Some(1 << 20));
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("1 PB"), None);
    }
}
