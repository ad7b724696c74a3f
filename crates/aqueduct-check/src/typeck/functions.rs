//! The signature table of the built-in functions ([`Func`]); calls are
//! typed in [`super::calls`].
//!
//! Null propagation: a function given an optional argument (where it expects
//! a value) returns an optional result, null when that argument is null.
//! Exceptions: `to_string(null)` is `""` and `to_json(null)` is `"null"`,
//! both plain `string`; the fallible conversions `to_int`, `to_decimal`,
//! `to_float` and `parse_timestamp` always return an optional, null when the
//! input does not convert; `parse_json` returns `json` (which may be null).
//! A `json` argument counts as optional for `len`. `concat` skips null
//! arguments (like string interpolation), so its result is never null.

use aqueduct_graph::{Func, Type};

/// What one parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Param {
    /// `string`.
    Text,
    /// `int`.
    Int,
    /// `int`, `decimal` or `float`.
    Number,
    /// `timestamp` (a string literal is checked and converted).
    Time,
    /// `[string]`.
    TextList,
    /// `string`, a list or `json`.
    Sized,
    /// Anything, null included (no null propagation).
    Any,
}

/// A function's parameters: the first `required` are mandatory; the last
/// repeats when `variadic`.
pub(super) struct Sig {
    pub(super) params: &'static [Param],
    pub(super) required: usize,
    pub(super) variadic: bool,
    /// How it is called, for help text.
    pub(super) usage: &'static str,
}

/// A signature without a repeating last parameter.
const fn sig(params: &'static [Param], required: usize, usage: &'static str) -> Sig {
    Sig {
        params,
        required,
        variadic: false,
        usage,
    }
}

/// The signature of `func`; see the doc comments on [`Func`].
pub(super) fn signature(func: Func) -> Sig {
    use Param::*;
    match func {
        Func::Upper => sig(&[Text], 1, "upper(text)"),
        Func::Lower => sig(&[Text], 1, "lower(text)"),
        Func::Trim => sig(&[Text], 1, "trim(text)"),
        Func::Replace => sig(&[Text, Text, Text], 3, "replace(text, from, to)"),
        Func::Split => sig(&[Text, Text], 2, "split(text, separator)"),
        Func::Concat => Sig {
            params: &[Any],
            required: 1,
            variadic: true,
            usage: "concat(a, b, …)",
        },
        Func::Len => sig(&[Sized], 1, "len(text or list)"),
        Func::Substring => sig(&[Text, Int, Int], 2, "substring(text, start, length?)"),
        Func::Contains => sig(&[Text, Text], 2, "contains(text, part)"),
        Func::StartsWith => sig(&[Text, Text], 2, "starts_with(text, prefix)"),
        Func::EndsWith => sig(&[Text, Text], 2, "ends_with(text, suffix)"),
        Func::Join => sig(&[TextList, Text], 2, "join(list, separator)"),
        Func::Round => sig(&[Number, Int], 1, "round(number, digits?)"),
        Func::Abs => sig(&[Number], 1, "abs(number)"),
        Func::Min => sig(&[Number, Number], 2, "min(a, b)"),
        Func::Max => sig(&[Number, Number], 2, "max(a, b)"),
        Func::Now => sig(&[], 0, "now()"),
        Func::ParseTimestamp => sig(&[Text, Text], 1, "parse_timestamp(text, format?)"),
        Func::FormatTimestamp => sig(&[Time, Text], 2, "format_timestamp(timestamp, format)"),
        Func::ToString => sig(&[Any], 1, "to_string(value)"),
        Func::ToInt => sig(&[Any], 1, "to_int(value)"),
        Func::ToDecimal => sig(&[Any], 1, "to_decimal(value)"),
        Func::ToFloat => sig(&[Any], 1, "to_float(value)"),
        Func::ToJson => sig(&[Any], 1, "to_json(value)"),
        Func::ParseJson => sig(&[Text], 1, "parse_json(text)"),
        Func::Uuid => sig(&[], 0, "uuid()"),
        Func::Sha256 => sig(&[Text], 1, "sha256(text)"),
    }
}

impl Sig {
    pub(super) fn param(&self, index: usize) -> Option<Param> {
        match self.params.get(index) {
            Some(p) => Some(*p),
            None if self.variadic => self.params.last().copied(),
            None => None,
        }
    }

    /// "1 argument", "2 or 3 arguments", "at least 1 argument".
    pub(super) fn arity(&self) -> String {
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        let max = self.params.len();
        if self.variadic {
            format!("at least {} {}", self.required, plural(self.required))
        } else if max == 0 {
            "no arguments".to_string()
        } else if self.required == max {
            format!("{max} {}", plural(max))
        } else {
            format!("{} or {max} arguments", self.required)
        }
    }
}

/// The result type of a function whose result does not depend on its
/// argument types (before null propagation).
pub(super) fn fixed_result(func: Func) -> Option<Type> {
    Some(match func {
        Func::Round | Func::Abs | Func::Min | Func::Max | Func::Concat => return None,
        Func::Split => Type::List(Box::new(Type::String)),
        Func::Len => Type::Int,
        Func::Contains | Func::StartsWith | Func::EndsWith => Type::Bool,
        Func::Now | Func::ParseTimestamp => Type::Timestamp,
        Func::ToInt => Type::Int,
        Func::ToDecimal => Type::Decimal,
        Func::ToFloat => Type::Float,
        Func::ParseJson => Type::Json,
        Func::Upper
        | Func::Lower
        | Func::Trim
        | Func::Replace
        | Func::Substring
        | Func::Join
        | Func::FormatTimestamp
        | Func::ToString
        | Func::ToJson
        | Func::Uuid
        | Func::Sha256 => Type::String,
    })
}

/// What `concat` joins: strings (or `null`s) or lists.
pub(super) fn is_concat(ty: &Type) -> bool {
    matches!(ty, Type::String | Type::List(_) | Type::Null)
}
