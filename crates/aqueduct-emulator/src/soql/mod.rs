//! The SOQL subset the emulator understands.
//!
//! ```text
//! SELECT field, Parent.Field, (SELECT f FROM ChildRelationship …), COUNT()
//! FROM Object
//! [WHERE cond]            -- = != <> < <= > >= LIKE IN NOT IN, AND OR NOT, ( )
//! [ORDER BY path [ASC|DESC] [NULLS FIRST|LAST], …]
//! [LIMIT n] [OFFSET n]
//! ```
//!
//! Literals: 'strings' (with `\'` escapes), numbers, true/false, null,
//! dates (`2024-01-31`), datetimes (`2024-01-31T10:00:00Z`) and the day
//! date literals `TODAY`, `YESTERDAY`, `TOMORROW`, `LAST_90_DAYS`,
//! `NEXT_90_DAYS`, `LAST_N_DAYS:n` and `NEXT_N_DAYS:n` (ranges of whole
//! days in UTC). Anything else — GROUP BY, aggregates other than
//! `COUNT()`, other date literals (`THIS_MONTH`, …), bind variables,
//! TYPEOF, FOR UPDATE — is refused with `MALFORMED_QUERY` naming the
//! unsupported part, never silently ignored.

mod exec;
mod lexer;
mod like;
mod parser;

#[cfg(test)]
mod exec_tests;

pub use exec::{Prepared, matches, prepare, run};
pub use parser::{parse, parse_condition};

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The SELECT list.
    pub select: Vec<SelectItem>,
    /// The FROM object (or child relationship, in a subquery).
    pub from: Name,
    /// The WHERE condition.
    pub filter: Option<Expr>,
    /// ORDER BY items.
    pub order: Vec<OrderItem>,
    /// LIMIT.
    pub limit: Option<usize>,
    /// OFFSET.
    pub offset: Option<usize>,
}

/// A name with its position (byte offset in the query text).
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    /// The name as written.
    pub text: String,
    /// Byte offset.
    pub pos: usize,
}

/// A dotted field path (`Account.Owner.Name`).
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// The parts as written.
    pub parts: Vec<String>,
    /// Byte offset of the first part.
    pub pos: usize,
}

impl Path {
    /// `Account.Name`.
    pub fn dotted(&self) -> String {
        self.parts.join(".")
    }
}

/// One SELECT item.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// A field or relationship path.
    Field(Path),
    /// `COUNT()`.
    Count,
    /// A parent-to-child subquery.
    Subquery(Box<Query>),
}

/// A WHERE condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All of.
    And(Vec<Expr>),
    /// Any of.
    Or(Vec<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// `path op literal`.
    Cmp {
        /// Left side.
        path: Path,
        /// Operator.
        op: CmpOp,
        /// Right side.
        value: Literal,
    },
    /// `path [NOT] IN (literals)`.
    In {
        /// Left side.
        path: Path,
        /// The list.
        values: Vec<Literal>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `path LIKE 'pattern'`.
    Like {
        /// Left side.
        path: Path,
        /// The pattern (`%`, `_`, with `\%` and `\_` escapes kept).
        pattern: String,
    },
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as written.
    Number(String),
    /// A quoted string, unescaped (LIKE escapes kept).
    Text(String),
    /// `2024-01-31`
    Date(String),
    /// `2024-01-31T10:00:00Z`
    DateTime(String),
    /// A date literal: the whole days from `today + from` to `today + to`
    /// (inclusive), e.g. `LAST_N_DAYS:30` is `-30 ..= 0`.
    Days {
        /// As written (`LAST_N_DAYS:30`).
        text: String,
        /// First day, relative to today.
        from: i64,
        /// Last day, relative to today.
        to: i64,
    },
}

/// An ORDER BY item.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    /// The field.
    pub path: Path,
    /// Descending.
    pub desc: bool,
    /// Nulls first (default: first when ascending, last when descending).
    pub nulls_first: bool,
}

/// A query Salesforce would refuse, with the error code it would use.
#[derive(Debug, Clone, PartialEq)]
pub struct SoqlError {
    /// `MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_TYPE`, `INVALID_QUERY_FILTER_OPERATOR`.
    pub code: &'static str,
    /// The message (without the position preamble).
    pub message: String,
    /// Byte offset the error points at.
    pub pos: usize,
}

impl SoqlError {
    pub(crate) fn malformed(pos: usize, message: impl Into<String>) -> SoqlError {
        SoqlError {
            code: "MALFORMED_QUERY",
            message: message.into(),
            pos,
        }
    }

    /// The message Salesforce gives: the query, a caret, the position, the reason.
    pub fn render(&self, query: &str) -> String {
        let before = &query[..self.pos.min(query.len())];
        let row = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = before[line_start..].chars().count() + 1;
        let line = query[line_start..].lines().next().unwrap_or("");
        format!(
            "\n{line}\n{}^\nERROR at Row:{row}:Column:{column}\n{}",
            " ".repeat(column - 1),
            self.message
        )
    }
}
