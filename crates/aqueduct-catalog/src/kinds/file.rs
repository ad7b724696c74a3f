//! `file`: files under a root directory, read whole, tailed or written.

use super::common::{
    BOUNDED_SOURCE, DELIMITER, EVENTS, FORMAT, HEADER, MAX_RECORD_SIZE, RECORD, arg, option,
};
use crate::{ALL_MODES, ConnectorSpec, OperationSpec, RecordShape, Role, Support, ValueType};

/// The `file` kind.
pub(crate) const SPEC: ConnectorSpec = ConnectorSpec {
    kind: "file",
    summary: "Files on the local disk: read a glob, tail a growing file, write or append records.",
    options: &[option(
        "root",
        ValueType::String,
        "Directory that relative paths start from (default: \".\", the project directory).",
    )],
    inline_positional: &["root"],
    operations: &[
        OperationSpec {
            name: "read",
            role: Role::Source,
            summary: "Read every file matching a glob once, in path order; ends when the last file is read.",
            modes: BOUNDED_SOURCE,
            bounded: true,
            request_reply: false,
            params: &[
                arg(
                    "glob",
                    ValueType::String,
                    "Files to read, e.g. \"in/*.csv\".",
                ),
                FORMAT,
                HEADER,
                DELIMITER,
                RECORD,
                MAX_RECORD_SIZE,
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "tail",
            role: Role::Source,
            summary: "Follow one file as it grows (like `tail -f`), from its current end or the saved position.",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[
                arg("path", ValueType::String, "The file to follow."),
                FORMAT,
                HEADER,
                DELIMITER,
                RECORD,
                MAX_RECORD_SIZE,
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "write",
            role: Role::Target,
            summary: "Write records to a file, replacing it when the flow first writes there.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "path",
                    ValueType::Template,
                    "The file; may use record fields, e.g. \"out/{.date}.jsonl\".",
                ),
                FORMAT,
                HEADER,
                DELIMITER,
                RECORD,
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "append",
            role: Role::Target,
            summary: "Append records to a file, creating it (and its directory) if needed.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "path",
                    ValueType::Template,
                    "The file; may use record fields, e.g. \"dlq/{.kind}.jsonl\".",
                ),
                FORMAT,
                HEADER,
                DELIMITER,
                RECORD,
            ],
            record: RecordShape::Declared,
        },
    ],
    support: Support::Embedded,
};
