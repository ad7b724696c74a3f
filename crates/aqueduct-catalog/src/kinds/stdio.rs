//! `stdio`: the process's standard input and output.

use super::common::{
    BOUNDED_SOURCE, DELIMITER, FILE_FORMATS, HEADER, MAX_RECORD_SIZE, RECORD, opt_arg,
};
use crate::{
    ALL_MODES, ConnectorSpec, OperationSpec, ParamSpec, RecordShape, Role, Support, ValueType,
};

/// `format`: there is no file extension to infer it from.
const FORMAT: ParamSpec = opt_arg(
    "format",
    ValueType::Enum(FILE_FORMATS),
    "Record format: jsonl, json, csv, xml, text or bytes (default: jsonl).",
);

/// The `stdio` kind.
pub(crate) const SPEC: ConnectorSpec = ConnectorSpec {
    kind: "stdio",
    summary: "Standard input and output of the aqueduct process, for pipes and quick experiments.",
    options: &[],
    inline_positional: &[],
    operations: &[
        OperationSpec {
            name: "stdin",
            role: Role::Source,
            summary: "Read records from standard input until end of file.",
            modes: BOUNDED_SOURCE,
            bounded: true,
            request_reply: false,
            params: &[FORMAT, HEADER, DELIMITER, RECORD, MAX_RECORD_SIZE],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "stdout",
            role: Role::Target,
            summary: "Write records to standard output.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[FORMAT, HEADER, DELIMITER, RECORD],
            record: RecordShape::Declared,
        },
    ],
    support: Support::Embedded,
};
