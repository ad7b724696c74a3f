//! The abstract syntax tree of one `.aq` file.
//!
//! Every node carries the byte [`Span`] it was parsed from, relative to its
//! file. The tree is syntax only: names are not resolved and nothing is typed
//! (that is the checker's job). Comments that are not doc comments are kept
//! on the side in [`File::comments`] so the formatter can put them back.
//!
//! The tree derives `Serialize` so tests can compare two trees with spans
//! stripped (see [`crate::strip_spans`]).

use aqueduct_diagnostics::Span;
use serde::Serialize;

/// One parsed source file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct File {
    /// Declarations in source order.
    pub decls: Vec<Decl>,
    /// Plain `//` comments (not doc comments), in source order.
    pub comments: Vec<Comment>,
    /// The whole file.
    pub span: Span,
}

/// A plain `// …` comment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comment {
    /// The text after `//`, without the line break.
    pub text: String,
    /// The comment including `//`.
    pub span: Span,
}

/// `/// …` lines attached to the declaration (or field) that follows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Doc {
    /// The lines, each without `///` and without one leading space.
    pub lines: Vec<String>,
    /// All the doc lines.
    pub span: Span,
}

/// A name written by the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// A top-level declaration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Decl {
    /// `system NAME: KIND { … }`
    System(SystemDecl),
    /// `type NAME { … }`
    Type(TypeDecl),
    /// `channel NAME: Type [via SYSTEM.OP(…)]`
    Channel(ChannelDecl),
    /// `flow NAME { … }`
    Flow(FlowDecl),
    /// `test NAME for FLOW { … }`
    Test(TestDecl),
}

impl Decl {
    /// The declared name.
    pub fn name(&self) -> &Ident {
        match self {
            Decl::System(d) => &d.name,
            Decl::Type(d) => &d.name,
            Decl::Channel(d) => &d.name,
            Decl::Flow(d) => &d.name,
            Decl::Test(d) => &d.name,
        }
    }

    /// The whole declaration, doc comment included.
    pub fn span(&self) -> Span {
        match self {
            Decl::System(d) => d.span,
            Decl::Type(d) => d.span,
            Decl::Channel(d) => d.span,
            Decl::Flow(d) => d.span,
            Decl::Test(d) => d.span,
        }
    }

    /// The doc comment, if any.
    pub fn doc(&self) -> Option<&Doc> {
        match self {
            Decl::System(d) => d.doc.as_ref(),
            Decl::Type(d) => d.doc.as_ref(),
            Decl::Channel(d) => d.doc.as_ref(),
            Decl::Flow(d) => d.doc.as_ref(),
            Decl::Test(d) => d.doc.as_ref(),
        }
    }
}

/// `system NAME: KIND { option = value … }`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemDecl {
    /// Doc comment.
    pub doc: Option<Doc>,
    /// The system's name.
    pub name: Ident,
    /// The connector kind (`salesforce`, `postgres`, `file`, …).
    pub kind: Ident,
    /// The options in the block (may be empty; the block itself is optional).
    pub options: Vec<OptionEntry>,
    /// The whole declaration.
    pub span: Span,
}

/// `name = value` inside a system block, a nested block or `circuit_breaker`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptionEntry {
    /// Option name.
    pub name: Ident,
    /// Its value.
    pub value: OptionValue,
    /// `name = value`.
    pub span: Span,
}

/// The value of an option.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum OptionValue {
    /// A literal, list, `env()`/`secret()` call or bare enumerated name.
    Expr(Expr),
    /// A nested block, optionally named: `oauth2_client_credentials { … }` or `{ … }`.
    Block(OptionBlock),
}

/// A nested option block such as `auth = bearer { token = secret("T") }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptionBlock {
    /// The block's kind name, when written.
    pub kind: Option<Ident>,
    /// The options inside.
    pub options: Vec<OptionEntry>,
    /// From the kind (or `{`) to `}`.
    pub span: Span,
}

/// `type NAME { field: Type … }`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeDecl {
    /// Doc comment.
    pub doc: Option<Doc>,
    /// The type's name.
    pub name: Ident,
    /// Fields in declaration order.
    pub fields: Vec<FieldDecl>,
    /// The whole declaration.
    pub span: Span,
}

/// `name: Type` in a type declaration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDecl {
    /// Doc comment.
    pub doc: Option<Doc>,
    /// The field name (an identifier or a quoted string).
    pub name: FieldName,
    /// The field's type.
    pub ty: TypeExpr,
    /// `name: Type`.
    pub span: Span,
}

/// A field name: `Name` or `"Billing City"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FieldName {
    /// The name, unquoted and unescaped.
    pub name: String,
    /// True when it was written as a quoted string.
    pub quoted: bool,
    /// Where it was written (quotes included).
    pub span: Span,
}

/// A type as written: `string`, `Account`, `[Line]`, `decimal?`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeExpr {
    /// What kind of type.
    pub kind: TypeExprKind,
    /// True when followed by `?`.
    pub optional: bool,
    /// The whole type, `?` included.
    pub span: Span,
}

/// The shape of a [`TypeExpr`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TypeExprKind {
    /// A built-in (`string`, `int`, …) or declared type name; the checker decides which.
    Named(Ident),
    /// `[T]`
    List(Box<TypeExpr>),
}

/// `channel NAME: Type [via SYSTEM.OP(…)]`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelDecl {
    /// Doc comment.
    pub doc: Option<Doc>,
    /// The channel's name.
    pub name: Ident,
    /// The record type it carries.
    pub ty: TypeExpr,
    /// The broker operation it rides on; in-process when absent.
    pub via: Option<OpCall>,
    /// The whole declaration.
    pub span: Span,
}

/// `system.op(args)`, or an inline system `kind(args).op(args)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpCall {
    /// The system the operation is called on.
    pub target: CallTarget,
    /// The operation name.
    pub op: Ident,
    /// Positional then named arguments.
    pub args: Vec<Arg>,
    /// The whole call.
    pub span: Span,
}

/// What an [`OpCall`] is called on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum CallTarget {
    /// A declared system: `crm` in `crm.query(…)`.
    System(Ident),
    /// An anonymous system of a connector kind, configured by positional and
    /// named arguments: `file("dlq")` in `file("dlq").append("x.jsonl")`.
    Inline {
        /// The connector kind.
        kind: Ident,
        /// Its options: positional ones fill the kind's first options in order.
        args: Vec<Arg>,
        /// `kind(args)`.
        span: Span,
    },
}

/// One argument: `expr` or `name: expr`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arg {
    /// The name of a named argument.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
    /// The whole argument.
    pub span: Span,
}

/// Where records come from or go to: an operation or a channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Endpoint {
    /// `system.op(args)`
    Op(OpCall),
    /// A channel name.
    Channel(Ident),
}

impl Endpoint {
    /// The whole endpoint.
    pub fn span(&self) -> Span {
        match self {
            Endpoint::Op(c) => c.span,
            Endpoint::Channel(i) => i.span,
        }
    }
}

/// `flow NAME { … }`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowDecl {
    /// Doc comment.
    pub doc: Option<Doc>,
    /// The flow's name.
    pub name: Ident,
    /// Lines of the body in source order (the checker enforces their order).
    pub items: Vec<FlowItem>,
    /// The whole declaration.
    pub span: Span,
}

/// One line of a flow body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum FlowItem {
    /// `mode …`
    Mode(ModeDecl),
    /// `from …`
    From(FromClause),
    /// A step (`where`, `map`, …, `to`, `reply`).
    Step(Step),
    /// A policy (`retry`, `timeout`, …).
    Policy(Policy),
}

/// The timing mode keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeKind {
    /// Request-reply: the caller waits.
    Sync,
    /// Event-driven, at-least-once.
    Async,
    /// Bounded input in chunks, on a schedule or once.
    Batch,
}

/// `mode sync | async | batch [schedule "CRON" | every D] [chunk N]`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeDecl {
    /// Which mode.
    pub kind: ModeKind,
    /// The mode keyword.
    pub kind_span: Span,
    /// `schedule "…"` or `every D`.
    pub schedule: Option<Schedule>,
    /// `chunk N`.
    pub chunk: Option<Expr>,
    /// The whole line.
    pub span: Span,
}

/// When a batch flow runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Schedule {
    /// `schedule "0 2 * * *"`: the expression is a string literal.
    Cron(Expr),
    /// `every 15m`: the expression is a duration literal.
    Every(Expr),
}

/// `from SOURCE [as Type]`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FromClause {
    /// The source.
    pub source: Endpoint,
    /// The declared record type.
    pub as_type: Option<TypeExpr>,
    /// The whole line.
    pub span: Span,
}

/// A step, applied to each record in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// What the step does.
    pub kind: StepKind,
    /// The whole step.
    pub span: Span,
}

/// The steps of the language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum StepKind {
    /// `where EXPR`
    Where(Expr),
    /// `map Type { … }`
    Map(RecordLit),
    /// `let NAME = EXPR`
    Let {
        /// The binding name (read as `$name`).
        name: Ident,
        /// Its value.
        value: Expr,
    },
    /// `enrich NAME = system.op(args) [as Type]`
    Enrich {
        /// The binding name (read as `$name`).
        name: Ident,
        /// The call.
        call: OpCall,
        /// The declared result type.
        as_type: Option<TypeExpr>,
    },
    /// `split EXPR [as Type]`
    Split {
        /// The list to split.
        list: Expr,
        /// The element type when it should be checked or converted.
        as_type: Option<TypeExpr>,
    },
    /// `batch N [within D]`
    Batch {
        /// Maximum records per group.
        size: Expr,
        /// Maximum wait before a partial group is sent.
        within: Option<Expr>,
    },
    /// `dedupe by EXPR [within D]`
    Dedupe {
        /// The key.
        by: Expr,
        /// How long a key is remembered.
        within: Option<Expr>,
    },
    /// `tap TARGET`
    Tap(Endpoint),
    /// `route { when EXPR => STEPS … else => STEPS }`
    Route(Vec<RouteArm>),
    /// `to TARGET`
    To(Endpoint),
    /// `reply EXPR`, `reply Type { … }`, or with a status: `reply 404 { … }`
    Reply(Option<ReplyStatus>, Expr),
}

/// The HTTP status of `reply 404 …` (and `expect reply 404 …`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReplyStatus {
    /// The three digits as a number.
    pub code: u16,
    /// Where they are.
    pub span: Span,
}

/// One arm of a `route`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteArm {
    /// `when EXPR`; `None` for `else`.
    pub condition: Option<Expr>,
    /// The steps of the arm (a single step or a `{ … }` block).
    pub steps: Vec<Step>,
    /// True when the steps were written in braces.
    pub braced: bool,
    /// The whole arm.
    pub span: Span,
}

/// A policy line in a flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// Which policy.
    pub kind: PolicyKind,
    /// The whole line.
    pub span: Span,
}

/// The policies of the language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum PolicyKind {
    /// `retry N [backoff …]`
    Retry {
        /// Attempts after the first.
        attempts: Expr,
        /// How long to wait between attempts.
        backoff: Option<Backoff>,
    },
    /// `timeout D`
    Timeout(Expr),
    /// `dead_letter TARGET`
    DeadLetter(Endpoint),
    /// `rate_limit N per D`
    RateLimit {
        /// Records allowed per period.
        count: Expr,
        /// The period.
        per: Expr,
    },
    /// `concurrency N`
    Concurrency(Expr),
    /// `circuit_breaker { failures = N, reset = D }`
    CircuitBreaker(Vec<OptionEntry>),
}

/// A backoff schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Backoff {
    /// `exponential(BASE, MAX)`
    Exponential {
        /// First delay.
        base: Expr,
        /// Largest delay.
        max: Expr,
        /// The whole backoff.
        span: Span,
    },
    /// `fixed(D)`
    Fixed {
        /// The delay.
        delay: Expr,
        /// The whole backoff.
        span: Span,
    },
}

/// `test NAME for FLOW { … }`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestDecl {
    /// Doc comment.
    pub doc: Option<Doc>,
    /// The test's name.
    pub name: Ident,
    /// The flow under test.
    pub flow: Ident,
    /// `given`, `stub` and `expect` lines in order.
    pub items: Vec<TestItem>,
    /// The whole declaration.
    pub span: Span,
}

/// One line of a test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TestItem {
    /// `given Type { … }`: a record fed in place of the source.
    Given {
        /// The record (usually a [`ExprKind::Record`]).
        record: Expr,
        /// The whole line.
        span: Span,
    },
    /// `stub system.op(args) => VALUE`: the answer to an `enrich` call.
    Stub {
        /// The call it answers.
        call: OpCall,
        /// The answer.
        value: Expr,
        /// The whole line.
        span: Span,
    },
    /// `expect [TARGET:] …`
    Expect {
        /// Which target, when the flow has several: `erp` or `erp.upsert`, or a channel.
        target: Option<TargetRef>,
        /// What is expected there.
        what: Expectation,
        /// The whole line.
        span: Span,
    },
}

/// A reference to one target of a flow in a test: `erp`, `erp.upsert` or a channel name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetRef {
    /// The system or channel name.
    pub name: Ident,
    /// The operation, when written.
    pub op: Option<Ident>,
    /// The whole reference.
    pub span: Span,
}

/// What an `expect` line expects.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Expectation {
    /// A record (one `expect` line per expected record, in order).
    Record(Expr),
    /// `expect nothing`: no record reaches the target(s).
    Nothing,
    /// `expect reply [STATUS] EXPR`: the answer of a sync flow (status 200
    /// when none is written).
    Reply(Option<ReplyStatus>, Expr),
    /// `expect error "text"`: the flow fails with a message containing the text.
    Error(Expr),
}

/// An expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expr {
    /// What kind of expression.
    pub kind: ExprKind,
    /// The whole expression.
    pub span: Span,
}

/// The expression forms of the language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ExprKind {
    /// A literal.
    Lit(Lit),
    /// A string, possibly with `{expr}` interpolations.
    Str(StrLit),
    /// `.`, `.a.b`, `.items[0]`, `.("odd name")`, `$binding.field`.
    Path(Path),
    /// A bare name: an enumerated value (`csv`, `upsert`) where a connector defines one.
    Ident(Ident),
    /// `-x`, `not x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// Where the operator was written.
        op_span: Span,
        /// The operand.
        expr: Box<Expr>,
    },
    /// `a + b`, `a and b`, `a ?? b`, `a in b`, …
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Where the operator was written.
        op_span: Span,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `if c { a } else { b }`; `else if` chains nest in `otherwise`.
    If {
        /// The condition.
        cond: Box<Expr>,
        /// Value when true.
        then: Box<Expr>,
        /// Value when false; `None` means null.
        otherwise: Option<Box<Expr>>,
    },
    /// `name(args)`: a function, `env()` or `secret()`.
    Call {
        /// Function name.
        func: Ident,
        /// Arguments (named ones only where a function takes them).
        args: Vec<Arg>,
    },
    /// `[a, b, c]`
    List(Vec<Expr>),
    /// `Type { field = expr, … }` or `{ field = expr, … }`.
    Record(RecordLit),
    /// `( expr )`, kept so the formatter writes what the user wrote.
    Paren(Box<Expr>),
}

/// A literal value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Lit {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// `10_000`: the digits as written, and the value.
    Int {
        /// As written (underscores kept).
        text: String,
        /// The value.
        value: i64,
    },
    /// `12.50`: kept as text so no precision is lost.
    Decimal(String),
    /// `250ms`, `30s`, `5m`, `2h`, `1d`.
    Duration {
        /// As written.
        text: String,
        /// In milliseconds.
        millis: u64,
    },
    /// `64KiB`, `10MiB`, `512B`.
    Size {
        /// As written.
        text: String,
        /// In bytes.
        bytes: u64,
    },
}

/// A string literal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrLit {
    /// Literal text and `{expr}` parts in order.
    pub parts: Vec<StrPart>,
    /// True for `"""…"""` (multi-line, no escapes, no interpolation).
    pub triple: bool,
}

impl StrLit {
    /// The text when the string has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        // Most strings are one piece of text: one exact allocation.
        if let [StrPart::Text(t)] = self.parts.as_slice() {
            return Some(t.clone());
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                StrPart::Text(t) => out.push_str(t),
                StrPart::Expr(_) => return None,
            }
        }
        Some(out)
    }
}

/// A piece of a string literal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum StrPart {
    /// Literal text, escapes already decoded.
    Text(String),
    /// `{expr}`
    Expr(Expr),
}

/// A path into the current record or a binding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Path {
    /// `.` or `$name`.
    pub root: PathRoot,
    /// Field and index accesses after the root.
    pub segments: Vec<PathSegment>,
}

/// Where a path starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum PathRoot {
    /// `.`: the current record.
    Record,
    /// `$name`: a `let` or `enrich` binding.
    Binding(Ident),
}

/// One access in a path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum PathSegment {
    /// `.name` or `.("odd name")`.
    Field(FieldName),
    /// `[expr]`
    Index(Expr),
}

/// `Type { … }` or `{ … }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordLit {
    /// The record type, when written.
    pub ty: Option<Ident>,
    /// Assignments and spreads in order.
    pub entries: Vec<RecordEntry>,
    /// The whole literal.
    pub span: Span,
}

/// One entry of a record literal or `map` block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RecordEntry {
    /// `field = expr`
    Field {
        /// The field.
        name: FieldName,
        /// Its value.
        value: Expr,
        /// `field = expr`.
        span: Span,
    },
    /// `...`: copy same-named fields from the current record.
    Spread(Span),
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `not`
    Not,
}

/// Infix operators, loosest first: `or`; `and`; `== != < <= > >=`; `in`;
/// `??`; `+ -`; `* / %`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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
    /// `in`
    In,
    /// `??`
    Coalesce,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::Coalesce => "??",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => 4,
            BinaryOp::In => 5,
            BinaryOp::Coalesce => 6,
            BinaryOp::Add | BinaryOp::Sub => 7,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 8,
        }
    }
}
