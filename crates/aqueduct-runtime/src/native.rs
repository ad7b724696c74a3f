//! The seam generated services plug native Rust into.
//!
//! `aqueduct build` turns every expression of a flow into a plain Rust
//! function over generated structs. The service registers those functions
//! in a [`Natives`] table, keyed by flow, step id and [`Slot`], and passes it
//! in [`crate::executor::RunOptions::natives`]; the executor then uses them
//! instead of compiling the graph's expressions. With
//! [`crate::executor::RunOptions::require_natives`] set, a step without a
//! native implementation stops the service at start-up: no expression is
//! ever interpreted in a generated service.
//!
//! Generated code shares the runtime's semantics by calling the helpers here
//! rather than re-implementing them: [`funcs`] (the built-in functions),
//! [`ops`] (checked arithmetic, comparisons, the generic operators) and
//! [`conv`] (the [`NativeValue`] conversions between Rust types and
//! [`Value`]s).
//!
//! ```
//! use aqueduct_runtime::expr::{Bindings, EvalError};
//! use aqueduct_runtime::native::{self, Natives, Slot};
//! use aqueduct_runtime::value::Value;
//! fn s1_where(rec: &i64, _b: &Bindings) -> Result<bool, EvalError> {
//!     Ok(*rec > 0)
//! }
//! let natives = Natives::new().with("f", "s1", Slot::Where, native::step(s1_where));
//! let c = natives.get("f", "s1", &Slot::Where).expect("registered");
//! assert_eq!(c(&Value::Int(3), &Bindings::new()), Ok(Value::Bool(true)));
//! ```

pub mod conv;
pub mod fast;
pub mod funcs;
pub mod ops;

/// The graph IR, for generated code (the embedded `graph.json`, functions, operators, types).
pub use aqueduct_graph as graph;
pub use conv::NativeValue;

use crate::expr::{Bindings, EvalError};
use crate::value::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A native expression: the current record and the bindings in, a value out.
pub type NativeFn = Arc<dyn Fn(&Value, &Bindings) -> Result<Value, EvalError> + Send + Sync>;

/// Which expression of a step a native implements.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// The condition of `where`.
    Where,
    /// The whole record a `map` builds (every field at once).
    Map,
    /// The value of `let`.
    Let,
    /// The list of `split`.
    Split,
    /// The key of `dedupe`.
    Dedupe,
    /// The value of `reply`.
    Reply,
    /// The condition of route arm `n` (from 0).
    Route(usize),
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::Where => f.write_str("where"),
            Slot::Map => f.write_str("map"),
            Slot::Let => f.write_str("let"),
            Slot::Split => f.write_str("split"),
            Slot::Dedupe => f.write_str("dedupe"),
            Slot::Reply => f.write_str("reply"),
            Slot::Route(n) => write!(f, "route arm {n}"),
        }
    }
}

/// Native expressions by (flow, step id, slot).
#[derive(Clone, Default)]
pub struct Natives {
    fns: BTreeMap<(String, String, Slot), NativeFn>,
}

impl fmt::Debug for Natives {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.fns.keys()).finish()
    }
}

impl Natives {
    /// An empty table.
    pub fn new() -> Natives {
        Natives::default()
    }

    /// Registers `f` for `slot` of step `step` of flow `flow`.
    pub fn insert(&mut self, flow: &str, step: &str, slot: Slot, f: NativeFn) {
        self.fns
            .insert((flow.to_string(), step.to_string(), slot), f);
    }

    /// [`Natives::insert`], by value (for building a table in one expression).
    pub fn with(mut self, flow: &str, step: &str, slot: Slot, f: NativeFn) -> Natives {
        self.insert(flow, step, slot, f);
        self
    }

    /// The native for `slot` of step `step` of flow `flow`.
    pub fn get(&self, flow: &str, step: &str, slot: &Slot) -> Option<NativeFn> {
        self.fns
            .get(&(flow.to_string(), step.to_string(), slot.clone()))
            .cloned()
    }

    /// How many natives are registered.
    pub fn len(&self) -> usize {
        self.fns.len()
    }

    /// True when none is registered.
    pub fn is_empty(&self) -> bool {
        self.fns.is_empty()
    }
}

/// Wraps a typed step function (`fn(&Input, &Bindings) -> Result<Output, EvalError>`)
/// as a [`NativeFn`]: the record is converted to `I`, the result back to a value.
pub fn step<I, O>(f: fn(&I, &Bindings) -> Result<O, EvalError>) -> NativeFn
where
    I: NativeValue + 'static,
    O: NativeValue + 'static,
{
    Arc::new(move |record: &Value, bindings: &Bindings| {
        let input = I::from_value(record)?;
        f(&input, bindings).map(O::into_value)
    })
}

/// Reads binding `$name` as `T` (an unset binding reads as null).
pub fn binding<T: NativeValue>(bindings: &Bindings, name: &str) -> Result<T, EvalError> {
    T::from_value(bindings.get(name).unwrap_or(&Value::Null))
        .map_err(|e| EvalError::new(format!("`${name}`: {}", e.message)))
}

/// The value of an optional that the checker proved non-null (narrowing
/// after `!= null` or `where`); null here means the proof did not hold.
pub fn narrowed<T>(value: Option<T>, what: &str) -> Result<T, EvalError> {
    value.ok_or_else(|| EvalError::new(format!("{what} is null")))
}

/// A value rendered as text, the way `to_string` and interpolation do
/// (null is empty, decimals exact, timestamps RFC 3339, records as JSON).
pub fn text<T: NativeValue>(value: &T) -> String {
    value.to_text()
}

/// Applies a built-in function through the runtime's own implementation
/// (for argument kinds the generated code does not specialise); `result`
/// is the call's checked type as written in the language (`int?`).
pub fn call(func: aqueduct_graph::Func, args: &[Value], result: &str) -> Result<Value, EvalError> {
    crate::expr::call_func(func, args, &parse_type(result)?)
}

/// Reads the checked graph a generated service embeds (`graph.json`).
pub fn load_graph(json: &str) -> Result<aqueduct_graph::Graph, String> {
    serde_json::from_str(json).map_err(|e| format!("graph.json is not a checked graph: {e}"))
}

/// Everything generated code uses, in one import.
pub mod prelude {
    pub use super::conv::{self, NativeValue};
    pub use super::{
        Natives, Slot, binding, call, constant, funcs, json, narrowed, object, ops, step, text,
    };
    pub use crate::expr::{Bindings, EvalError};
    pub use crate::value::Value;
    pub use aqueduct_graph::{BinaryOp, Func, UnaryOp};
    pub use chrono::{DateTime, NaiveDate, Utc};
    pub use rust_decimal::Decimal;
}

/// A value converted to `json`, as the checker's inserted conversion does
/// (null stays null, json stays as it is, anything else becomes its JSON).
pub fn json(value: Value) -> Value {
    match value {
        Value::Json(_) => value,
        v if v.is_null() => Value::Null,
        v => Value::Json(Arc::new(v.to_json())),
    }
}

/// An untyped record `{ a = …, b = … }`: a json object, fields in order given.
pub fn object(fields: Vec<(&str, Value)>) -> Value {
    let mut map = serde_json::Map::new();
    for (name, value) in fields {
        map.insert(name.to_string(), value.to_json());
    }
    Value::Json(Arc::new(serde_json::Value::Object(map)))
}

/// A constant of the graph, written as its JSON form (`{"int": 3}`), as a
/// value of the type written `ty` (`[Line]`, `decimal?`): literals generated
/// code does not spell out in Rust.
pub fn constant<T: NativeValue>(
    literal: &str,
    ty: &str,
    schemas: &crate::value::Schemas,
) -> Result<T, EvalError> {
    let literal: aqueduct_graph::Value = serde_json::from_str(literal)
        .map_err(|e| EvalError::new(format!("bad constant {literal}: {e}")))?;
    let ty = parse_type(ty)?;
    T::from_value(&Value::from_constant(&literal, &ty, schemas).map_err(EvalError::new)?)
}

/// A type written in the language (`decimal?`, `[string]`, `Order`).
pub fn parse_type(text: &str) -> Result<aqueduct_graph::Type, EvalError> {
    aqueduct_graph::Type::parse(text).ok_or_else(|| EvalError::new(format!("bad type `{text}`")))
}
