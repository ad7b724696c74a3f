//! Constant values: literals in expressions, test records, system options.

use serde::{Deserialize, Serialize};

/// A constant value known at check time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// An exact decimal, as its canonical text (`"12.50"`).
    Decimal(String),
    /// Text.
    String(String),
    /// An RFC 3339 timestamp, as text.
    Timestamp(String),
    /// A `YYYY-MM-DD` date, as text.
    Date(String),
    /// A duration in milliseconds.
    Duration(u64),
    /// A list.
    List(Vec<Value>),
    /// A record of a named type, fields in slot order.
    Record {
        /// The record type.
        ty: String,
        /// One value per field, in slot order.
        fields: Vec<Value>,
    },
    /// A record without a declared type (stub answers, JSON objects): named fields in order.
    Object(Vec<(String, Value)>),
}

/// The value of a `system` option or an inline system argument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigValue {
    /// A literal.
    Literal(Value),
    /// A bare enumerated name (`csv`, `upsert`).
    Enum(String),
    /// `env("NAME")` or `env("NAME", "default")`: read when the service starts.
    Env {
        /// Variable name.
        name: String,
        /// Used when the variable is unset.
        default: Option<String>,
    },
    /// `secret("NAME")`: read from the environment or the secrets directory;
    /// never printed and never written into generated files.
    Secret {
        /// Secret name.
        name: String,
    },
    /// A list of values.
    List(Vec<ConfigValue>),
    /// A nested block such as `auth = bearer { … }`.
    Block {
        /// The block's kind, when written.
        kind: Option<String>,
        /// Its options in source order.
        options: Vec<(String, ConfigValue)>,
    },
}

impl ConfigValue {
    /// The literal string, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ConfigValue::Literal(Value::String(s)) | ConfigValue::Enum(s) => Some(s),
            _ => None,
        }
    }

    /// The option named `name` of a block.
    pub fn block_option(&self, name: &str) -> Option<&ConfigValue> {
        match self {
            ConfigValue::Block { options, .. } => {
                options.iter().find(|(n, _)| n == name).map(|(_, v)| v)
            }
            _ => None,
        }
    }
}
