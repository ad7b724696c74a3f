//! Typed expressions: what `where`, `map`, `let`, route conditions and
//! operation arguments compute.

use crate::{Type, Value};
use serde::{Deserialize, Serialize};

/// A checked expression and its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// Its type; `T?` when it may be null.
    pub ty: Type,
}

/// The expression forms after checking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExprKind {
    /// A constant.
    Lit(Value),
    /// `.`: the current record.
    Current,
    /// `$name`: a `let` or `enrich` binding.
    Binding(String),
    /// `base.name`. `slot` is the field's index in the base's record type,
    /// or `None` when the base is `json` (read by name at run time).
    /// Reading a field of a null optional record gives null.
    Field {
        /// The record read from.
        base: Box<Expr>,
        /// Field name.
        name: String,
        /// Slot in the record type.
        slot: Option<u32>,
    },
    /// `base[index]`: null when out of range.
    Index {
        /// The list (or json).
        base: Box<Expr>,
        /// The index (int).
        index: Box<Expr>,
    },
    /// A prefix operator.
    Unary {
        /// Which.
        op: UnaryOp,
        /// Operand.
        expr: Box<Expr>,
    },
    /// An infix operator.
    Binary {
        /// Which.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `if cond { then } else { otherwise }`; no `else` gives null.
    If {
        /// Condition (bool).
        cond: Box<Expr>,
        /// Value when true.
        then: Box<Expr>,
        /// Value when false.
        otherwise: Option<Box<Expr>>,
    },
    /// A built-in function call.
    Call {
        /// Which function.
        func: Func,
        /// Arguments in order.
        args: Vec<Expr>,
    },
    /// `[a, b]`
    List(Vec<Expr>),
    /// A record of a named type; one expression per field, in slot order
    /// (fields the user left out are `null` literals; spreads are expanded).
    Record {
        /// Record type name.
        ty: String,
        /// One value per slot.
        fields: Vec<Expr>,
    },
    /// An untyped record `{ a = 1 }` (json object), fields in order.
    Object(Vec<(String, Expr)>),
    /// A string with interpolations: the pieces are concatenated, each
    /// converted with `to_string` (null becomes the empty string).
    Interpolate(Vec<Expr>),
    /// A widening conversion the checker inserted (`int` → `decimal`,
    /// `string` → `timestamp` for literals, a value → `json`).
    Convert {
        /// Target type.
        to: Type,
        /// The converted expression.
        expr: Box<Expr>,
    },
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnaryOp {
    /// Arithmetic negation.
    Neg,
    /// Boolean not.
    Not,
}

/// Infix operators. `and`/`or`/`??` short-circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in` (element in list, substring in string)
    In,
    /// `??`
    Coalesce,
    /// `+` (numbers; strings concatenate)
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (int division truncates; division by zero is a run-time error)
    Div,
    /// `%`
    Rem,
}

/// The built-in functions. The checker owns their signatures; the runtime
/// and the code generator each implement every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Func {
    /// `upper(string) -> string`
    Upper,
    /// `lower(string) -> string`
    Lower,
    /// `trim(string) -> string`
    Trim,
    /// `replace(string, from, to) -> string` (every occurrence)
    Replace,
    /// `split(string, separator) -> [string]`
    Split,
    /// `concat(a, b, …) -> string` (strings) or list concatenation
    Concat,
    /// `len(string | list) -> int` (characters for strings)
    Len,
    /// `substring(string, start, length?) -> string` (characters)
    Substring,
    /// `contains(string, part) -> bool`
    Contains,
    /// `starts_with(string, prefix) -> bool`
    StartsWith,
    /// `ends_with(string, suffix) -> bool`
    EndsWith,
    /// `join([string], separator) -> string`
    Join,
    /// `round(number, digits?) -> same type` (half away from zero)
    Round,
    /// `abs(number) -> same type`
    Abs,
    /// `min(a, b) -> number`
    Min,
    /// `max(a, b) -> number`
    Max,
    /// `now() -> timestamp`
    Now,
    /// `parse_timestamp(string, format?) -> timestamp?` (RFC 3339 without a format)
    ParseTimestamp,
    /// `format_timestamp(timestamp, format) -> string` (strftime)
    FormatTimestamp,
    /// `to_string(any) -> string`
    ToString,
    /// `to_int(any) -> int?`
    ToInt,
    /// `to_decimal(any) -> decimal?`
    ToDecimal,
    /// `to_float(any) -> float?`
    ToFloat,
    /// `to_json(any) -> string` (serialized JSON text)
    ToJson,
    /// `parse_json(string) -> json?`
    ParseJson,
    /// `uuid() -> string` (v4)
    Uuid,
    /// `sha256(string) -> string` (lowercase hex)
    Sha256,
}

impl Func {
    /// Every function, for lookups and docs.
    pub const ALL: &'static [Func] = &[
        Func::Upper,
        Func::Lower,
        Func::Trim,
        Func::Replace,
        Func::Split,
        Func::Concat,
        Func::Len,
        Func::Substring,
        Func::Contains,
        Func::StartsWith,
        Func::EndsWith,
        Func::Join,
        Func::Round,
        Func::Abs,
        Func::Min,
        Func::Max,
        Func::Now,
        Func::ParseTimestamp,
        Func::FormatTimestamp,
        Func::ToString,
        Func::ToInt,
        Func::ToDecimal,
        Func::ToFloat,
        Func::ToJson,
        Func::ParseJson,
        Func::Uuid,
        Func::Sha256,
    ];

    /// The name written in flows.
    pub fn name(self) -> &'static str {
        match self {
            Func::Upper => "upper",
            Func::Lower => "lower",
            Func::Trim => "trim",
            Func::Replace => "replace",
            Func::Split => "split",
            Func::Concat => "concat",
            Func::Len => "len",
            Func::Substring => "substring",
            Func::Contains => "contains",
            Func::StartsWith => "starts_with",
            Func::EndsWith => "ends_with",
            Func::Join => "join",
            Func::Round => "round",
            Func::Abs => "abs",
            Func::Min => "min",
            Func::Max => "max",
            Func::Now => "now",
            Func::ParseTimestamp => "parse_timestamp",
            Func::FormatTimestamp => "format_timestamp",
            Func::ToString => "to_string",
            Func::ToInt => "to_int",
            Func::ToDecimal => "to_decimal",
            Func::ToFloat => "to_float",
            Func::ToJson => "to_json",
            Func::ParseJson => "parse_json",
            Func::Uuid => "uuid",
            Func::Sha256 => "sha256",
        }
    }

    /// The function named `name`.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.iter().copied().find(|f| f.name() == name)
    }
}
