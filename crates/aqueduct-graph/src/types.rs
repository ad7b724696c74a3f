//! Types of values and records.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The type of a value, as the checker inferred it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    /// UTF-8 text.
    String,
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Float,
    /// Exact decimal (28 significant digits).
    Decimal,
    /// `true` / `false`.
    Bool,
    /// An instant in UTC (RFC 3339 in JSON).
    Timestamp,
    /// A calendar date (`YYYY-MM-DD`).
    Date,
    /// Raw bytes (base64 in JSON).
    Bytes,
    /// Any JSON value; fields of it are read dynamically.
    Json,
    /// The type of the `null` literal before it meets another type.
    Null,
    /// A duration (only in operation arguments and policies).
    Duration,
    /// A list of values of one type.
    List(Box<Type>),
    /// A named record type.
    Record(String),
    /// A value that may be null.
    Optional(Box<Type>),
}

impl Type {
    /// This type made optional (`T?`); optional stays optional.
    pub fn optional(self) -> Type {
        match self {
            Type::Optional(_) | Type::Null | Type::Json => self,
            other => Type::Optional(Box::new(other)),
        }
    }

    /// True for `T?`, `null` and `json` (which may hold null).
    pub fn is_optional(&self) -> bool {
        matches!(self, Type::Optional(_) | Type::Null | Type::Json)
    }

    /// The type without its optional marker.
    pub fn required(&self) -> &Type {
        match self {
            Type::Optional(inner) => inner,
            other => other,
        }
    }

    /// True for `int`, `float` and `decimal` (optional or not).
    pub fn is_numeric(&self) -> bool {
        matches!(self.required(), Type::Int | Type::Float | Type::Decimal)
    }

    /// Parses a type written in the language (`string`, `decimal?`, `[Line]`).
    /// Names that are not built-in become [`Type::Record`].
    pub fn parse(text: &str) -> Option<Type> {
        let text = text.trim();
        if let Some(inner) = text.strip_suffix('?') {
            return Type::parse(inner).map(Type::optional);
        }
        if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            return Type::parse(inner).map(|t| Type::List(Box::new(t)));
        }
        if text.is_empty() || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        Some(Type::builtin(text).unwrap_or_else(|| Type::Record(text.to_string())))
    }

    /// The built-in type named `name`.
    pub fn builtin(name: &str) -> Option<Type> {
        Some(match name {
            "string" => Type::String,
            "int" => Type::Int,
            "float" => Type::Float,
            "decimal" => Type::Decimal,
            "bool" => Type::Bool,
            "timestamp" => Type::Timestamp,
            "date" => Type::Date,
            "bytes" => Type::Bytes,
            "json" => Type::Json,
            _ => return None,
        })
    }

    /// Names of the built-in types, for suggestions and docs.
    pub const BUILTINS: &'static [&'static str] = &[
        "string",
        "int",
        "float",
        "decimal",
        "bool",
        "timestamp",
        "date",
        "bytes",
        "json",
    ];
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Int => f.write_str("int"),
            Type::Float => f.write_str("float"),
            Type::Decimal => f.write_str("decimal"),
            Type::Bool => f.write_str("bool"),
            Type::Timestamp => f.write_str("timestamp"),
            Type::Date => f.write_str("date"),
            Type::Bytes => f.write_str("bytes"),
            Type::Json => f.write_str("json"),
            Type::Null => f.write_str("null"),
            Type::Duration => f.write_str("duration"),
            Type::List(t) => write!(f, "[{t}]"),
            Type::Record(name) => f.write_str(name),
            Type::Optional(t) => write!(f, "{t}?"),
        }
    }
}

/// A record type: named fields in declaration order. A field's index in
/// `fields` is its slot: the runtime stores records as slot vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordType {
    /// Type name.
    pub name: String,
    /// Fields in declaration order.
    pub fields: Vec<FieldType>,
    /// Doc comment lines.
    pub doc: Vec<String>,
}

impl RecordType {
    /// The slot of the field named `name`.
    pub fn slot(&self, name: &str) -> Option<u32> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .map(|i| i as u32)
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&FieldType> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// One field of a record type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldType {
    /// Field name as the external system spells it.
    pub name: String,
    /// Its type (optional fields are `Type::Optional`).
    pub ty: Type,
    /// Doc comment lines.
    pub doc: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::Type;

    #[test]
    fn parses_and_prints_types() {
        for text in ["string", "decimal?", "[Line]", "[int?]?", "Account"] {
            let ty = Type::parse(text).expect(text);
            assert_eq!(ty.to_string(), text);
        }
        assert_eq!(Type::parse("bad name"), None);
    }
}
