//! The registry of diagnostic codes: one constant per code, and its page.
//!
//! Codes are stable: a released code is never reused for another meaning.
//! Ranges: 01xx syntax, 02xx names, 03xx graph, 04xx connectors, 05xx code
//! generation, 06xx types, 07xx timing modes and policies, 08xx flow tests,
//! 09xx project and manifest. Each code has a page in `docs/diagnostics/`,
//! which `aqueduct explain CODE` prints.

use serde::Serialize;

/// A stable diagnostic code such as `AQ0201`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Code(&'static str);

impl Code {
    /// The code as text, e.g. `"AQ0201"`.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The registry entry for this code.
    pub fn info(self) -> Option<&'static CodeInfo> {
        REGISTRY.iter().find(|i| i.code == self)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// What the registry knows about one code.
#[derive(Debug)]
pub struct CodeInfo {
    /// The code.
    pub code: Code,
    /// A few words naming the problem.
    pub title: &'static str,
    /// One sentence describing it.
    pub summary: &'static str,
    /// The long page (Markdown) with an example and the fix.
    pub page: &'static str,
}

/// Looks a code up by its text, case-insensitively.
pub fn lookup(text: &str) -> Option<&'static CodeInfo> {
    REGISTRY
        .iter()
        .find(|i| i.code.0.eq_ignore_ascii_case(text.trim()))
}

/// Syntax error: The text does not follow the grammar of the flow language.
pub const AQ0101: Code = Code("AQ0101");
/// Unterminated string: A string literal was opened but never closed.
pub const AQ0102: Code = Code("AQ0102");
/// Invalid number: A number literal is out of range or malformed.
pub const AQ0103: Code = Code("AQ0103");
/// Invalid unit: A duration or size literal uses a unit the language does not know.
pub const AQ0104: Code = Code("AQ0104");
/// Invalid escape: A string contains an escape sequence the language does not know.
pub const AQ0105: Code = Code("AQ0105");
/// File is not UTF-8: A source file contains bytes that are not valid UTF-8.
pub const AQ0106: Code = Code("AQ0106");
/// Dangling doc comment: A `///` doc comment is not followed by a declaration it can document.
pub const AQ0107: Code = Code("AQ0107");
/// File too large: A source file is larger than the checker accepts.
pub const AQ0108: Code = Code("AQ0108");
/// Unknown system: A source, target or call names a system that is not declared.
pub const AQ0201: Code = Code("AQ0201");
/// Duplicate declaration: Two declarations of the same kind share a name.
pub const AQ0202: Code = Code("AQ0202");
/// Unknown type: A type name is neither a built-in type nor a declared `type`.
pub const AQ0203: Code = Code("AQ0203");
/// Unknown channel or system: A source or target name is neither a declared channel nor a system.
pub const AQ0204: Code = Code("AQ0204");
/// Unknown flow: A `test` block names a flow that is not declared.
pub const AQ0205: Code = Code("AQ0205");
/// Unknown field: A path reads a field the record type does not have.
pub const AQ0206: Code = Code("AQ0206");
/// Duplicate field: A field is declared or assigned twice.
pub const AQ0207: Code = Code("AQ0207");
/// Unknown function: An expression calls a function the language does not provide.
pub const AQ0208: Code = Code("AQ0208");
/// Unknown binding: An expression reads a `$binding` no earlier `let` or `enrich` defines.
pub const AQ0209: Code = Code("AQ0209");
/// Unknown connector kind: A `system` declaration uses a connector kind that does not exist.
pub const AQ0210: Code = Code("AQ0210");
/// Unknown operation: A system is used with an operation its connector does not provide.
pub const AQ0211: Code = Code("AQ0211");
/// Unknown option: A `system` block or nested block sets an option the connector does not know.
pub const AQ0212: Code = Code("AQ0212");
/// Duplicate option: An option is set twice in one block.
pub const AQ0213: Code = Code("AQ0213");
/// Unknown argument: An operation call passes a named argument the operation does not take.
pub const AQ0214: Code = Code("AQ0214");
/// Cycle between flows: Flows joined through channels feed records back into themselves.
pub const AQ0301: Code = Code("AQ0301");
/// Channel without consumer: A channel receives records but no flow reads from it.
pub const AQ0302: Code = Code("AQ0302");
/// Channel without producer: A flow reads from a channel that no flow writes to.
pub const AQ0303: Code = Code("AQ0303");
/// Unreachable route arm: A route arm can never be taken.
pub const AQ0304: Code = Code("AQ0304");
/// Fan-in of different types: Records of different types flow into one channel or target.
pub const AQ0305: Code = Code("AQ0305");
/// Flow without source: A flow has no `from` line.
pub const AQ0306: Code = Code("AQ0306");
/// Flow without target: A flow never delivers a record: it has no `to` or `reply`.
pub const AQ0307: Code = Code("AQ0307");
/// Repeated flow header: A flow has more than one `mode` or `from` line.
pub const AQ0308: Code = Code("AQ0308");
/// Step after the end of a path: A step follows a `reply`, which ends the path.
pub const AQ0309: Code = Code("AQ0309");
/// Unused channel: A channel is declared but no flow uses it.
pub const AQ0310: Code = Code("AQ0310");
/// Missing required option: A `system` block leaves out an option its connector requires.
pub const AQ0401: Code = Code("AQ0401");
/// Wrong option type: An option value has the wrong type.
pub const AQ0402: Code = Code("AQ0402");
/// Secret written as literal: A secret option holds a literal value instead of `secret("NAME")`.
pub const AQ0403: Code = Code("AQ0403");
/// Operation used in the wrong role: An operation is used as a source, target or call when it is not one.
pub const AQ0404: Code = Code("AQ0404");
/// Operation not allowed in this mode: An operation does not support the flow's timing mode.
pub const AQ0405: Code = Code("AQ0405");
/// Wrong number of arguments: An operation call passes too few or too many positional arguments.
pub const AQ0406: Code = Code("AQ0406");
/// Wrong argument type: An operation argument has the wrong type.
pub const AQ0407: Code = Code("AQ0407");
/// Invalid enumerated value: A named argument or option uses a value the connector does not define.
pub const AQ0408: Code = Code("AQ0408");
/// Source type needed: A source whose records have no known shape needs `as Type`.
pub const AQ0409: Code = Code("AQ0409");
/// Connector cannot start: Reaching a system at start-up (`run`, `check --connect`) found a problem, such as a table that does not match the record type.
pub const AQ0410: Code = Code("AQ0410");
/// Change record field of the wrong type: A `changes` source's record type declares `_op` or `_commit_time` with another type than the source fills in.
pub const AQ0411: Code = Code("AQ0411");
/// Connector may fail at run time: Reaching a system at start-up (`run`, `check --connect`) found something that does not stop the flow but may fail once it runs, such as a Salesforce upsert writing a field the user can create but not update.
pub const AQ0412: Code = Code("AQ0412");
/// Key field that cannot order a read: A resumable `query`'s `key` names a field that is optional or of a type without an order (a list, a record, json, bytes, a bool or a float).
pub const AQ0413: Code = Code("AQ0413");
/// At-most-once source: A flow reads a source that delivers each message at most once (core NATS, Redis pub/sub, MQTT QoS 0).
pub const AQ0420: Code = Code("AQ0420");
/// Unknown flow to build: `aqueduct build --flow NAME` names no flow of the project.
pub const AQ0501: Code = Code("AQ0501");
/// Code generation failed: The code generator could not produce a service (a bug in aqueduct).
pub const AQ0502: Code = Code("AQ0502");
/// Type mismatch: An expression has a different type than the place it is used.
pub const AQ0601: Code = Code("AQ0601");
/// Condition is not a bool: A `where`, `when` or `if` condition is not of type `bool`.
pub const AQ0602: Code = Code("AQ0602");
/// Optional value in a required field: A value that may be null is written to a field that may not.
pub const AQ0603: Code = Code("AQ0603");
/// Wrong number of function arguments: A function is called with too few or too many arguments.
pub const AQ0604: Code = Code("AQ0604");
/// Missing field in record: A record or `map` block leaves out a required field of its type.
pub const AQ0605: Code = Code("AQ0605");
/// Operator does not apply: An operator is used with operand types it does not accept.
pub const AQ0606: Code = Code("AQ0606");
/// Spread copies nothing: A `...` spread copies no field because no field names match.
pub const AQ0607: Code = Code("AQ0607");
/// Bare name used as a value: A bare identifier is used where a value is expected.
pub const AQ0608: Code = Code("AQ0608");
/// Unnecessary null fallback: `??` is applied to a value that is never null.
pub const AQ0609: Code = Code("AQ0609");
/// Not a record or list: A path reads a field of something that is not a record, or indexes something that is not a list.
pub const AQ0610: Code = Code("AQ0610");
/// Split needs a list: `split` is given an expression that is not a list.
pub const AQ0611: Code = Code("AQ0611");
/// Missing mode: A flow does not say whether it is `sync`, `async` or `batch`.
pub const AQ0701: Code = Code("AQ0701");
/// Sync source cannot reply: A `sync` flow reads from a source that cannot wait for a reply.
pub const AQ0702: Code = Code("AQ0702");
/// Sync path without reply: A path through a `sync` flow ends without a `reply`.
pub const AQ0703: Code = Code("AQ0703");
/// Dead letter in a sync flow: A `sync` flow declares a `dead_letter`; its failures go back to the caller.
pub const AQ0704: Code = Code("AQ0704");
/// Reply outside a sync flow: An `async` or `batch` flow uses `reply`.
pub const AQ0705: Code = Code("AQ0705");
/// Async flow without dead letter: An `async` flow has no `dead_letter`, so records that keep failing stop it.
pub const AQ0706: Code = Code("AQ0706");
/// Batch source is unbounded: A `batch` flow reads from a source that never ends.
pub const AQ0707: Code = Code("AQ0707");
/// Invalid cron expression: A `schedule` is not a valid cron expression.
pub const AQ0708: Code = Code("AQ0708");
/// Invalid duration: A duration is zero or out of range where a positive one is needed.
pub const AQ0709: Code = Code("AQ0709");
/// Schedule outside batch mode: `schedule`, `every` or `chunk` is used with a mode other than `batch`.
pub const AQ0710: Code = Code("AQ0710");
/// Repeated policy: A policy is declared twice in one flow.
pub const AQ0711: Code = Code("AQ0711");
/// Invalid policy value: A policy has a value that cannot work (zero retries, base above max).
pub const AQ0712: Code = Code("AQ0712");
/// Invalid reply status: A `reply` status is not an HTTP status a reply with a body can have.
pub const AQ0713: Code = Code("AQ0713");
/// Unknown expect target: An `expect` line names a target the flow does not deliver to.
pub const AQ0801: Code = Code("AQ0801");
/// Given record of the wrong type: A `given` record does not match the flow's source type.
pub const AQ0802: Code = Code("AQ0802");
/// Stub for a call the flow does not make: A `stub` answers a call no `enrich` in the flow makes.
pub const AQ0803: Code = Code("AQ0803");
/// Reply expected from a flow that does not reply: `expect reply` is used for a flow that is not `sync`.
pub const AQ0804: Code = Code("AQ0804");
/// Test value not a constant: a `given`, `stub` or `expect` value, or a stub argument, is computed.
pub const AQ0805: Code = Code("AQ0805");
/// Invalid manifest: `aqueduct.yaml` is not valid YAML or does not have the expected shape.
pub const AQ0901: Code = Code("AQ0901");
/// Unknown manifest key: `aqueduct.yaml` contains a key aqueduct does not know.
pub const AQ0902: Code = Code("AQ0902");
/// Invalid manifest value: A value in `aqueduct.yaml` is not usable.
pub const AQ0903: Code = Code("AQ0903");
/// No flow files: The project contains no `.aq` files.
pub const AQ0904: Code = Code("AQ0904");

/// Every code, in order.
pub static REGISTRY: &[CodeInfo] = &[
    CodeInfo {
        code: AQ0101,
        title: "syntax error",
        summary: "The text does not follow the grammar of the flow language.",
        page: include_str!("../../../docs/diagnostics/AQ0101.md"),
    },
    CodeInfo {
        code: AQ0102,
        title: "unterminated string",
        summary: "A string literal was opened but never closed.",
        page: include_str!("../../../docs/diagnostics/AQ0102.md"),
    },
    CodeInfo {
        code: AQ0103,
        title: "invalid number",
        summary: "A number literal is out of range or malformed.",
        page: include_str!("../../../docs/diagnostics/AQ0103.md"),
    },
    CodeInfo {
        code: AQ0104,
        title: "invalid unit",
        summary: "A duration or size literal uses a unit the language does not know.",
        page: include_str!("../../../docs/diagnostics/AQ0104.md"),
    },
    CodeInfo {
        code: AQ0105,
        title: "invalid escape",
        summary: "A string contains an escape sequence the language does not know.",
        page: include_str!("../../../docs/diagnostics/AQ0105.md"),
    },
    CodeInfo {
        code: AQ0106,
        title: "file is not UTF-8",
        summary: "A source file contains bytes that are not valid UTF-8.",
        page: include_str!("../../../docs/diagnostics/AQ0106.md"),
    },
    CodeInfo {
        code: AQ0107,
        title: "dangling doc comment",
        summary: "A `///` doc comment is not followed by a declaration it can document.",
        page: include_str!("../../../docs/diagnostics/AQ0107.md"),
    },
    CodeInfo {
        code: AQ0108,
        title: "file too large",
        summary: "A source file is larger than the checker accepts.",
        page: include_str!("../../../docs/diagnostics/AQ0108.md"),
    },
    CodeInfo {
        code: AQ0201,
        title: "unknown system",
        summary: "A source, target or call names a system that is not declared.",
        page: include_str!("../../../docs/diagnostics/AQ0201.md"),
    },
    CodeInfo {
        code: AQ0202,
        title: "duplicate declaration",
        summary: "Two declarations of the same kind share a name.",
        page: include_str!("../../../docs/diagnostics/AQ0202.md"),
    },
    CodeInfo {
        code: AQ0203,
        title: "unknown type",
        summary: "A type name is neither a built-in type nor a declared `type`.",
        page: include_str!("../../../docs/diagnostics/AQ0203.md"),
    },
    CodeInfo {
        code: AQ0204,
        title: "unknown channel or system",
        summary: "A source or target name is neither a declared channel nor a system.",
        page: include_str!("../../../docs/diagnostics/AQ0204.md"),
    },
    CodeInfo {
        code: AQ0205,
        title: "unknown flow",
        summary: "A `test` block names a flow that is not declared.",
        page: include_str!("../../../docs/diagnostics/AQ0205.md"),
    },
    CodeInfo {
        code: AQ0206,
        title: "unknown field",
        summary: "A path reads a field the record type does not have.",
        page: include_str!("../../../docs/diagnostics/AQ0206.md"),
    },
    CodeInfo {
        code: AQ0207,
        title: "duplicate field",
        summary: "A field is declared or assigned twice.",
        page: include_str!("../../../docs/diagnostics/AQ0207.md"),
    },
    CodeInfo {
        code: AQ0208,
        title: "unknown function",
        summary: "An expression calls a function the language does not provide.",
        page: include_str!("../../../docs/diagnostics/AQ0208.md"),
    },
    CodeInfo {
        code: AQ0209,
        title: "unknown binding",
        summary: "An expression reads a `$binding` no earlier `let` or `enrich` defines.",
        page: include_str!("../../../docs/diagnostics/AQ0209.md"),
    },
    CodeInfo {
        code: AQ0210,
        title: "unknown connector kind",
        summary: "A `system` declaration uses a connector kind that does not exist.",
        page: include_str!("../../../docs/diagnostics/AQ0210.md"),
    },
    CodeInfo {
        code: AQ0211,
        title: "unknown operation",
        summary: "A system is used with an operation its connector does not provide.",
        page: include_str!("../../../docs/diagnostics/AQ0211.md"),
    },
    CodeInfo {
        code: AQ0212,
        title: "unknown option",
        summary: "A `system` block or nested block sets an option the connector does not know.",
        page: include_str!("../../../docs/diagnostics/AQ0212.md"),
    },
    CodeInfo {
        code: AQ0213,
        title: "duplicate option",
        summary: "An option is set twice in one block.",
        page: include_str!("../../../docs/diagnostics/AQ0213.md"),
    },
    CodeInfo {
        code: AQ0214,
        title: "unknown argument",
        summary: "An operation call passes a named argument the operation does not take.",
        page: include_str!("../../../docs/diagnostics/AQ0214.md"),
    },
    CodeInfo {
        code: AQ0301,
        title: "cycle between flows",
        summary: "Flows joined through channels feed records back into themselves.",
        page: include_str!("../../../docs/diagnostics/AQ0301.md"),
    },
    CodeInfo {
        code: AQ0302,
        title: "channel without consumer",
        summary: "A channel receives records but no flow reads from it.",
        page: include_str!("../../../docs/diagnostics/AQ0302.md"),
    },
    CodeInfo {
        code: AQ0303,
        title: "channel without producer",
        summary: "A flow reads from a channel that no flow writes to.",
        page: include_str!("../../../docs/diagnostics/AQ0303.md"),
    },
    CodeInfo {
        code: AQ0304,
        title: "unreachable route arm",
        summary: "A route arm can never be taken.",
        page: include_str!("../../../docs/diagnostics/AQ0304.md"),
    },
    CodeInfo {
        code: AQ0305,
        title: "fan-in of different types",
        summary: "Records of different types flow into one channel or target.",
        page: include_str!("../../../docs/diagnostics/AQ0305.md"),
    },
    CodeInfo {
        code: AQ0306,
        title: "flow without source",
        summary: "A flow has no `from` line.",
        page: include_str!("../../../docs/diagnostics/AQ0306.md"),
    },
    CodeInfo {
        code: AQ0307,
        title: "flow without target",
        summary: "A flow never delivers a record: it has no `to` or `reply`.",
        page: include_str!("../../../docs/diagnostics/AQ0307.md"),
    },
    CodeInfo {
        code: AQ0308,
        title: "repeated flow header",
        summary: "A flow has more than one `mode` or `from` line.",
        page: include_str!("../../../docs/diagnostics/AQ0308.md"),
    },
    CodeInfo {
        code: AQ0309,
        title: "step after the end of a path",
        summary: "A step follows a `reply`, which ends the path.",
        page: include_str!("../../../docs/diagnostics/AQ0309.md"),
    },
    CodeInfo {
        code: AQ0310,
        title: "unused channel",
        summary: "A channel is declared but no flow uses it.",
        page: include_str!("../../../docs/diagnostics/AQ0310.md"),
    },
    CodeInfo {
        code: AQ0401,
        title: "missing required option",
        summary: "A `system` block leaves out an option its connector requires.",
        page: include_str!("../../../docs/diagnostics/AQ0401.md"),
    },
    CodeInfo {
        code: AQ0402,
        title: "wrong option type",
        summary: "An option value has the wrong type.",
        page: include_str!("../../../docs/diagnostics/AQ0402.md"),
    },
    CodeInfo {
        code: AQ0403,
        title: "secret written as literal",
        summary: "A secret option holds a literal value instead of `secret(\"NAME\")`.",
        page: include_str!("../../../docs/diagnostics/AQ0403.md"),
    },
    CodeInfo {
        code: AQ0404,
        title: "operation used in the wrong role",
        summary: "An operation is used as a source, target or call when it is not one.",
        page: include_str!("../../../docs/diagnostics/AQ0404.md"),
    },
    CodeInfo {
        code: AQ0405,
        title: "operation not allowed in this mode",
        summary: "An operation does not support the flow's timing mode.",
        page: include_str!("../../../docs/diagnostics/AQ0405.md"),
    },
    CodeInfo {
        code: AQ0406,
        title: "wrong number of arguments",
        summary: "An operation call passes too few or too many positional arguments.",
        page: include_str!("../../../docs/diagnostics/AQ0406.md"),
    },
    CodeInfo {
        code: AQ0407,
        title: "wrong argument type",
        summary: "An operation argument has the wrong type.",
        page: include_str!("../../../docs/diagnostics/AQ0407.md"),
    },
    CodeInfo {
        code: AQ0408,
        title: "invalid enumerated value",
        summary: "A named argument or option uses a value the connector does not define.",
        page: include_str!("../../../docs/diagnostics/AQ0408.md"),
    },
    CodeInfo {
        code: AQ0409,
        title: "source type needed",
        summary: "A source whose records have no known shape needs `as Type`.",
        page: include_str!("../../../docs/diagnostics/AQ0409.md"),
    },
    CodeInfo {
        code: AQ0410,
        title: "connector cannot start",
        summary: "Reaching a system at start-up (`run`, `check --connect`) found a problem, such as a table that does not match the record type.",
        page: include_str!("../../../docs/diagnostics/AQ0410.md"),
    },
    CodeInfo {
        code: AQ0411,
        title: "change record field of the wrong type",
        summary: "A `changes` source's record type declares `_op` or `_commit_time` with another type than the source fills in.",
        page: include_str!("../../../docs/diagnostics/AQ0411.md"),
    },
    CodeInfo {
        code: AQ0412,
        title: "connector may fail at run time",
        summary: "Reaching a system at start-up (`run`, `check --connect`) found something that does not stop the flow but may fail once it runs, such as a Salesforce upsert writing a field the user can create but not update.",
        page: include_str!("../../../docs/diagnostics/AQ0412.md"),
    },
    CodeInfo {
        code: AQ0413,
        title: "key field that cannot order a read",
        summary: "A resumable `query`'s `key` names a field that is optional or of a type without an order (a list, a record, json, bytes, a bool or a float).",
        page: include_str!("../../../docs/diagnostics/AQ0413.md"),
    },
    CodeInfo {
        code: AQ0420,
        title: "at-most-once source",
        summary: "A flow reads a source that delivers each message at most once (core NATS, Redis pub/sub, MQTT QoS 0).",
        page: include_str!("../../../docs/diagnostics/AQ0420.md"),
    },
    CodeInfo {
        code: AQ0501,
        title: "unknown flow to build",
        summary: "`aqueduct build --flow NAME` names no flow of the project.",
        page: include_str!("../../../docs/diagnostics/AQ0501.md"),
    },
    CodeInfo {
        code: AQ0502,
        title: "code generation failed",
        summary: "The code generator could not produce a service (a bug in aqueduct).",
        page: include_str!("../../../docs/diagnostics/AQ0502.md"),
    },
    CodeInfo {
        code: AQ0601,
        title: "type mismatch",
        summary: "An expression has a different type than the place it is used.",
        page: include_str!("../../../docs/diagnostics/AQ0601.md"),
    },
    CodeInfo {
        code: AQ0602,
        title: "condition is not a bool",
        summary: "A `where`, `when` or `if` condition is not of type `bool`.",
        page: include_str!("../../../docs/diagnostics/AQ0602.md"),
    },
    CodeInfo {
        code: AQ0603,
        title: "optional value in a required field",
        summary: "A value that may be null is written to a field that may not.",
        page: include_str!("../../../docs/diagnostics/AQ0603.md"),
    },
    CodeInfo {
        code: AQ0604,
        title: "wrong number of function arguments",
        summary: "A function is called with too few or too many arguments.",
        page: include_str!("../../../docs/diagnostics/AQ0604.md"),
    },
    CodeInfo {
        code: AQ0605,
        title: "missing field in record",
        summary: "A record or `map` block leaves out a required field of its type.",
        page: include_str!("../../../docs/diagnostics/AQ0605.md"),
    },
    CodeInfo {
        code: AQ0606,
        title: "operator does not apply",
        summary: "An operator is used with operand types it does not accept.",
        page: include_str!("../../../docs/diagnostics/AQ0606.md"),
    },
    CodeInfo {
        code: AQ0607,
        title: "spread copies nothing",
        summary: "A `...` spread copies no field because no field names match.",
        page: include_str!("../../../docs/diagnostics/AQ0607.md"),
    },
    CodeInfo {
        code: AQ0608,
        title: "bare name used as a value",
        summary: "A bare identifier is used where a value is expected.",
        page: include_str!("../../../docs/diagnostics/AQ0608.md"),
    },
    CodeInfo {
        code: AQ0609,
        title: "unnecessary null fallback",
        summary: "`??` is applied to a value that is never null.",
        page: include_str!("../../../docs/diagnostics/AQ0609.md"),
    },
    CodeInfo {
        code: AQ0610,
        title: "not a record or list",
        summary: "A path reads a field of something that is not a record, or indexes something that is not a list.",
        page: include_str!("../../../docs/diagnostics/AQ0610.md"),
    },
    CodeInfo {
        code: AQ0611,
        title: "split needs a list",
        summary: "`split` is given an expression that is not a list.",
        page: include_str!("../../../docs/diagnostics/AQ0611.md"),
    },
    CodeInfo {
        code: AQ0701,
        title: "missing mode",
        summary: "A flow does not say whether it is `sync`, `async` or `batch`.",
        page: include_str!("../../../docs/diagnostics/AQ0701.md"),
    },
    CodeInfo {
        code: AQ0702,
        title: "sync source cannot reply",
        summary: "A `sync` flow reads from a source that cannot wait for a reply.",
        page: include_str!("../../../docs/diagnostics/AQ0702.md"),
    },
    CodeInfo {
        code: AQ0703,
        title: "sync path without reply",
        summary: "A path through a `sync` flow ends without a `reply`.",
        page: include_str!("../../../docs/diagnostics/AQ0703.md"),
    },
    CodeInfo {
        code: AQ0704,
        title: "dead letter in a sync flow",
        summary: "A `sync` flow declares a `dead_letter`; its failures go back to the caller.",
        page: include_str!("../../../docs/diagnostics/AQ0704.md"),
    },
    CodeInfo {
        code: AQ0705,
        title: "reply outside a sync flow",
        summary: "An `async` or `batch` flow uses `reply`.",
        page: include_str!("../../../docs/diagnostics/AQ0705.md"),
    },
    CodeInfo {
        code: AQ0706,
        title: "async flow without dead letter",
        summary: "An `async` flow has no `dead_letter`, so records that keep failing stop it.",
        page: include_str!("../../../docs/diagnostics/AQ0706.md"),
    },
    CodeInfo {
        code: AQ0707,
        title: "batch source is unbounded",
        summary: "A `batch` flow reads from a source that never ends.",
        page: include_str!("../../../docs/diagnostics/AQ0707.md"),
    },
    CodeInfo {
        code: AQ0708,
        title: "invalid cron expression",
        summary: "A `schedule` is not a valid cron expression.",
        page: include_str!("../../../docs/diagnostics/AQ0708.md"),
    },
    CodeInfo {
        code: AQ0709,
        title: "invalid duration",
        summary: "A duration is zero or out of range where a positive one is needed.",
        page: include_str!("../../../docs/diagnostics/AQ0709.md"),
    },
    CodeInfo {
        code: AQ0710,
        title: "schedule outside batch mode",
        summary: "`schedule`, `every` or `chunk` is used with a mode other than `batch`.",
        page: include_str!("../../../docs/diagnostics/AQ0710.md"),
    },
    CodeInfo {
        code: AQ0711,
        title: "repeated policy",
        summary: "A policy is declared twice in one flow.",
        page: include_str!("../../../docs/diagnostics/AQ0711.md"),
    },
    CodeInfo {
        code: AQ0712,
        title: "invalid policy value",
        summary: "A policy has a value that cannot work (zero retries, base above max).",
        page: include_str!("../../../docs/diagnostics/AQ0712.md"),
    },
    CodeInfo {
        code: AQ0713,
        title: "invalid reply status",
        summary: "A `reply` status is not an HTTP status a reply with a body can have.",
        page: include_str!("../../../docs/diagnostics/AQ0713.md"),
    },
    CodeInfo {
        code: AQ0801,
        title: "unknown expect target",
        summary: "An `expect` line names a target the flow does not deliver to.",
        page: include_str!("../../../docs/diagnostics/AQ0801.md"),
    },
    CodeInfo {
        code: AQ0802,
        title: "given record of the wrong type",
        summary: "A `given` record does not match the flow's source type.",
        page: include_str!("../../../docs/diagnostics/AQ0802.md"),
    },
    CodeInfo {
        code: AQ0803,
        title: "stub for a call the flow does not make",
        summary: "A `stub` answers a call no `enrich` in the flow makes.",
        page: include_str!("../../../docs/diagnostics/AQ0803.md"),
    },
    CodeInfo {
        code: AQ0804,
        title: "reply expected from a flow that does not reply",
        summary: "`expect reply` is used for a flow that is not `sync`.",
        page: include_str!("../../../docs/diagnostics/AQ0804.md"),
    },
    CodeInfo {
        code: AQ0805,
        title: "test value not a constant",
        summary: "A `given`, `stub` or `expect` value, or a stub argument, is computed.",
        page: include_str!("../../../docs/diagnostics/AQ0805.md"),
    },
    CodeInfo {
        code: AQ0901,
        title: "invalid manifest",
        summary: "`aqueduct.yaml` is not valid YAML or does not have the expected shape.",
        page: include_str!("../../../docs/diagnostics/AQ0901.md"),
    },
    CodeInfo {
        code: AQ0902,
        title: "unknown manifest key",
        summary: "`aqueduct.yaml` contains a key aqueduct does not know.",
        page: include_str!("../../../docs/diagnostics/AQ0902.md"),
    },
    CodeInfo {
        code: AQ0903,
        title: "invalid manifest value",
        summary: "A value in `aqueduct.yaml` is not usable.",
        page: include_str!("../../../docs/diagnostics/AQ0903.md"),
    },
    CodeInfo {
        code: AQ0904,
        title: "no flow files",
        summary: "The project contains no `.aq` files.",
        page: include_str!("../../../docs/diagnostics/AQ0904.md"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_documented() {
        for pair in REGISTRY.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} before {}",
                pair[0].code,
                pair[1].code
            );
        }
        for info in REGISTRY {
            assert!(
                info.page.contains(info.code.as_str()),
                "page of {} names its code",
                info.code
            );
        }
    }
}
