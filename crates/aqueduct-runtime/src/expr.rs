//! Expressions compiled once into closures.
//!
//! [`compile`] turns a checked [`aqueduct_graph::Expr`] into a [`Compiled`]:
//! a tree of boxed closures that reads typed record fields by slot (JSON
//! fields by name) and never walks the AST per record. Evaluation never
//! panics: overflow, division by zero and bad conversions are [`EvalError`]s,
//! which the executor sends to the dead letter.
//!
//! Semantics (shared with the code generator): a null operand gives null for
//! arithmetic and string functions; comparisons with null are false except
//! `==`/`!=`; `and`, `or` and `??` short-circuit; `where` treats null as
//! false; interpolation renders null as the empty string.
//!
//! ```
//! use aqueduct_graph::{Expr, ExprKind, Type, Value as Lit, BinaryOp};
//! use aqueduct_runtime::{expr, value::{Schemas, Value}};
//! use std::sync::Arc;
//! let lit = |d: &str| Expr { kind: ExprKind::Lit(Lit::Decimal(d.into())), ty: Type::Decimal };
//! let sum = Expr { kind: ExprKind::Binary { op: BinaryOp::Add, lhs: Box::new(lit("0.1")), rhs: Box::new(lit("0.2")) }, ty: Type::Decimal };
//! let c = expr::compile(&sum, &Arc::new(Schemas::default()));
//! assert_eq!(c.eval_record(&Value::Null).unwrap().to_text(), "0.3");
//! ```

mod compile;
mod funcs;
pub(crate) mod ops;

// for `crate::native`: generated code shares these implementations
pub(crate) use funcs::call as call_func;
pub(crate) use ops::{binary, contains, convert, index, unary};

use crate::value::{Schemas, Value};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Why an expression could not be evaluated for a record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// What went wrong, in a sentence (no record data beyond the offending value kind).
    pub message: String,
}

impl EvalError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> EvalError {
        EvalError {
            message: message.into(),
        }
    }
}

/// `let` and `enrich` bindings in scope for one record, read as `$name`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bindings {
    vars: Vec<(Arc<str>, Value)>,
}

impl Bindings {
    /// No bindings.
    pub fn new() -> Bindings {
        Bindings::default()
    }

    /// The value bound to `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }

    /// Binds `name` (replacing an earlier binding of the same name).
    pub fn set(&mut self, name: &str, value: Value) {
        match self.vars.iter_mut().find(|(n, _)| &**n == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name.into(), value)),
        }
    }
}

/// Where `now()` reads the time: the system clock, or a fixed instant in tests.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// Always this instant.
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// What a compiled expression reads: the current record and the bindings.
pub struct EvalCx<'a> {
    /// `.`
    pub record: &'a Value,
    /// `$name`
    pub bindings: &'a Bindings,
}

type Fun = Box<dyn Fn(&EvalCx<'_>) -> Result<Value, EvalError> + Send + Sync>;

/// A compiled expression.
pub struct Compiled {
    fun: Fun,
    ty: aqueduct_graph::Type,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Compiled({})", self.ty)
    }
}

impl Compiled {
    /// Evaluates against `record` with `bindings`.
    pub fn eval(&self, record: &Value, bindings: &Bindings) -> Result<Value, EvalError> {
        (self.fun)(&EvalCx { record, bindings })
    }

    /// Evaluates against `record` with no bindings (operation argument templates).
    pub fn eval_record(&self, record: &Value) -> Result<Value, EvalError> {
        self.eval(record, &Bindings::default())
    }

    /// Evaluates as a condition: true only for `true` (null and false drop).
    pub fn test(&self, record: &Value, bindings: &Bindings) -> Result<bool, EvalError> {
        Ok(matches!(self.eval(record, bindings)?, Value::Bool(true)))
    }

    /// The checked type of the expression.
    pub fn ty(&self) -> &aqueduct_graph::Type {
        &self.ty
    }

    /// An expression implemented as native Rust (generated services): `f`
    /// gets the current record and the bindings, and must give what the
    /// compiled expression of type `ty` would.
    pub fn native(ty: aqueduct_graph::Type, f: crate::native::NativeFn) -> Compiled {
        Compiled {
            fun: Box::new(move |cx: &EvalCx<'_>| f(cx.record, cx.bindings)),
            ty,
        }
    }
}

/// Compiles `expr`, reading the time from the system clock.
pub fn compile(expr: &aqueduct_graph::Expr, schemas: &Arc<Schemas>) -> Compiled {
    compile_with_clock(expr, schemas, &Clock::System)
}

/// Compiles `expr` with `now()` reading `clock`.
pub fn compile_with_clock(
    expr: &aqueduct_graph::Expr,
    schemas: &Arc<Schemas>,
    clock: &Clock,
) -> Compiled {
    let cx = compile::Cx {
        schemas: schemas.clone(),
        clock: clock.clone(),
    };
    Compiled {
        fun: cx.compile(expr),
        ty: expr.ty.clone(),
    }
}

#[cfg(test)]
mod tests;
