//! The shape of a catalogue entry: connector, options, operations, parameters.

use serde::Serialize;

/// One connector kind (`file`, `postgres`, `salesforce`, …).
#[derive(Debug, Serialize)]
pub struct ConnectorSpec {
    /// The kind name written after `system NAME:`.
    pub kind: &'static str,
    /// One line saying what it connects to.
    pub summary: &'static str,
    /// Options accepted in the `system` block.
    pub options: &'static [OptionSpec],
    /// Option names filled, in order, by positional arguments of the inline
    /// form `kind(arg, …).op(…)` (e.g. `file("dlq")` sets `root`).
    pub inline_positional: &'static [&'static str],
    /// Operations, one entry per (name, role): the same name may appear as a
    /// source and as a call (e.g. `sqlite.query`).
    pub operations: &'static [OperationSpec],
    /// Whether `aqueduct run` can execute it today.
    pub support: Support,
}

impl ConnectorSpec {
    /// The option named `name`.
    pub fn option(&self, name: &str) -> Option<&'static OptionSpec> {
        self.options.iter().find(|o| o.name == name)
    }

    /// The operation `name` in `role`.
    pub fn operation(&self, name: &str, role: Role) -> Option<&'static OperationSpec> {
        self.operations
            .iter()
            .find(|o| o.name == name && o.role == role)
    }

    /// Every operation named `name`, whatever its role.
    pub fn operations_named<'a>(
        &'static self,
        name: &'a str,
    ) -> impl Iterator<Item = &'static OperationSpec> + 'a {
        self.operations.iter().filter(move |o| o.name == name)
    }
}

/// Whether the runtime implements a connector yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Support {
    /// Built into every `aqueduct` binary; needs no server.
    Embedded,
    /// Implemented in a connector crate compiled into the CLI behind this
    /// cargo feature of `aqueduct-cli` (on by default).
    Feature(&'static str),
    /// Checked by the compiler, but `run` refuses it at start-up.
    Planned,
}

/// One option of a `system` block (or of a nested block).
#[derive(Debug, Serialize)]
pub struct OptionSpec {
    /// Option name.
    pub name: &'static str,
    /// What values it takes.
    pub ty: ValueType,
    /// Whether it must be set.
    pub required: bool,
    /// Whether it holds a credential: a literal value is a warning (AQ0403).
    pub secret: bool,
    /// One line saying what it does.
    pub summary: &'static str,
}

/// The values an option or argument accepts.
#[derive(Debug, Serialize)]
pub enum ValueType {
    /// Any string (literal, `env()` or `secret()`).
    String,
    /// A URL string.
    Url,
    /// An integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// A duration literal such as `30s`.
    Duration,
    /// A size literal such as `10MiB`.
    Size,
    /// One of these bare names.
    Enum(&'static [&'static str]),
    /// A list of values of one type, e.g. `[a, b]`.
    List(&'static ValueType),
    /// A list of field names of the record, e.g. `key: [external_id]`.
    FieldList,
    /// The name of one field of the record (`headers_field: "headers"`),
    /// which must be declared with this built-in type (`json`, `string`),
    /// optional or not: a connector reads message metadata from it or
    /// writes metadata into it.
    Field(&'static str),
    /// A string that may interpolate record fields (`"/rates/{.currency}"`).
    Template,
    /// A nested block whose kind is one of these (e.g. `auth = bearer { … }`).
    Block(&'static [BlockSpec]),
    /// A block of free-form `name = string` pairs (e.g. HTTP headers).
    Map,
}

/// A kind of nested block, e.g. the `oauth2_client_credentials` auth block.
#[derive(Debug, Serialize)]
pub struct BlockSpec {
    /// The name written before `{`.
    pub kind: &'static str,
    /// One line saying what it is.
    pub summary: &'static str,
    /// The options inside the block.
    pub options: &'static [OptionSpec],
}

/// Where an operation may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// After `from`: produces records.
    Source,
    /// After `to`, `tap`, `dead_letter`, or as a channel's `via`: accepts records.
    Target,
    /// In `enrich`: called once per record, answers with a value.
    Call,
}

/// A timing mode, as the catalogue names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Request-reply.
    Sync,
    /// Event-driven.
    Async,
    /// Bounded, in chunks.
    Batch,
}

/// Every mode, for operations that work in all of them.
pub const ALL_MODES: &[Mode] = &[Mode::Sync, Mode::Async, Mode::Batch];

/// One operation of a connector in one role.
#[derive(Debug, Serialize)]
pub struct OperationSpec {
    /// Operation name (`read`, `upsert`, `changes`, …).
    pub name: &'static str,
    /// The role this entry describes.
    pub role: Role,
    /// One line saying what it does.
    pub summary: &'static str,
    /// Timing modes in which the operation may be used.
    pub modes: &'static [Mode],
    /// For sources: ends by itself (a query, a file glob), so `batch` may use it.
    pub bounded: bool,
    /// For sources: an inbound request that waits for an answer, so `sync` may use it.
    pub request_reply: bool,
    /// Parameters: positional ones first, in order, then named ones.
    pub params: &'static [ParamSpec],
    /// The records it produces (sources, calls) or accepts (targets).
    pub record: RecordShape,
}

impl OperationSpec {
    /// The positional parameters, in order.
    pub fn positional(&self) -> impl Iterator<Item = &'static ParamSpec> + '_ {
        self.params.iter().filter(|p| p.positional)
    }

    /// The parameter named `name`.
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// True for lookups that can find nothing and answer null: every `get`
    /// and `query` call (a SQL query with no row, an HTTP 404, a missing
    /// Redis key or Salesforce record). The checker types their `enrich`
    /// binding as optional, so a flow must say what to do when nothing came back.
    pub fn may_answer_null(&self) -> bool {
        self.role == Role::Call && matches!(self.name, "get" | "query")
    }
}

/// One parameter of an operation.
#[derive(Debug, Serialize)]
pub struct ParamSpec {
    /// Name; positional parameters may also be passed by name.
    pub name: &'static str,
    /// True when it may be passed by position.
    pub positional: bool,
    /// Whether it must be given.
    pub required: bool,
    /// What it accepts.
    pub ty: ValueType,
    /// One line saying what it does.
    pub summary: &'static str,
}

/// What records an operation produces or accepts.
#[derive(Debug, Serialize)]
pub enum RecordShape {
    /// Whatever type the flow declares (`as Type`, or the record type at that point).
    Declared,
    /// A fixed schema the connector defines: `(field, type)` pairs written in
    /// the language's type syntax, e.g. `("line", "string")`, `("body", "json?")`.
    Fixed(&'static [(&'static str, &'static str)]),
    /// No record (a call whose answer is ignored, or a trigger).
    Nothing,
}
