//! `sqlite`, `postgres`, `mysql`: SQL databases.
//!
//! The three kinds share their operations; only their options, and change
//! data capture (which SQLite does not have), differ.
//!
//! Interpolations in a call's SQL (`"select … where id = {.id}"`) are sent as
//! bind parameters, never spliced into the SQL text, so they cannot inject
//! SQL. Targets write records whose field names are column names; in batch
//! mode each chunk is written in one transaction.

use super::common::{BOUNDED_SOURCE, EVENTS, arg, named, option, required, secret};
use crate::{
    ALL_MODES, ConnectorSpec, OperationSpec, OptionSpec, ParamSpec, RecordShape, Role, Support,
    ValueType,
};

/// `table` of a target or change stream.
const TABLE: ParamSpec = arg(
    "table",
    ValueType::String,
    "The table, optionally schema-qualified.",
);

/// `query(sql)` as a bounded source.
const QUERY_SOURCE: OperationSpec = OperationSpec {
    name: "query",
    role: Role::Source,
    summary: "Run a query once; each row is a record (column names are field names).",
    modes: BOUNDED_SOURCE,
    bounded: true,
    request_reply: false,
    params: &[arg("sql", ValueType::String, "The SELECT statement.")],
    record: RecordShape::Declared,
};

/// `query(sql, key)` as a bounded source of a server database: with
/// `key`, resumable.
const DB_QUERY_SOURCE: OperationSpec = OperationSpec {
    params: &[
        arg("sql", ValueType::String, "The SELECT statement."),
        named(
            "key",
            ValueType::FieldList,
            "Fields whose columns are unique and never null across the result, e.g. [id]: the rows are read ordered by them, and a lost connection or a killed run resumes after the last row read (default: none, a lost connection fails the run and a rerun reads every row again).",
        ),
    ],
    ..QUERY_SOURCE
};

/// `poll(sql, every, watermark)`.
const POLL: OperationSpec = OperationSpec {
    name: "poll",
    role: Role::Source,
    summary: "Run a query at a fixed interval and emit the rows not seen yet, tracked by a watermark column.",
    modes: EVENTS,
    bounded: false,
    request_reply: false,
    params: &[
        arg(
            "sql",
            ValueType::String,
            "The SELECT statement; `:watermark` in it is bound to the last watermark value seen (null at first).",
        ),
        arg(
            "every",
            ValueType::Duration,
            "Time between two runs, e.g. 30s.",
        ),
        named(
            "watermark",
            ValueType::String,
            "Column that grows with each new row (an id or a timestamp); its last value is saved as the position (default: none, every run emits every row).",
        ),
    ],
    record: RecordShape::Declared,
};

/// `insert(table)`.
const INSERT: OperationSpec = OperationSpec {
    name: "insert",
    role: Role::Target,
    summary: "Insert each record as a row; a conflicting row is an error.",
    modes: ALL_MODES,
    bounded: false,
    request_reply: false,
    params: &[TABLE],
    record: RecordShape::Declared,
};

/// `upsert(table, key)`.
const UPSERT: OperationSpec = OperationSpec {
    name: "upsert",
    role: Role::Target,
    summary: "Insert each record, or update the row with the same key (the key needs a unique index).",
    modes: ALL_MODES,
    bounded: false,
    request_reply: false,
    params: &[
        TABLE,
        arg(
            "key",
            ValueType::FieldList,
            "Fields that identify a row, e.g. [external_id].",
        ),
    ],
    record: RecordShape::Declared,
};

/// `delete(table, key)`.
const DELETE: OperationSpec = OperationSpec {
    name: "delete",
    role: Role::Target,
    summary: "Delete the row whose key equals the record's; a missing row is not an error.",
    modes: ALL_MODES,
    bounded: false,
    request_reply: false,
    params: &[
        TABLE,
        arg(
            "key",
            ValueType::FieldList,
            "Fields that identify a row, e.g. [id].",
        ),
    ],
    record: RecordShape::Declared,
};

/// `query(sql)` as a lookup.
const QUERY_CALL: OperationSpec = OperationSpec {
    name: "query",
    role: Role::Call,
    summary: "Look a row up for each record; answers with the first row, or null when there is none.",
    modes: ALL_MODES,
    bounded: false,
    request_reply: false,
    params: &[arg(
        "sql",
        ValueType::Template,
        "The SELECT statement, a one-line string; interpolations such as {.id} are bound as parameters.",
    )],
    record: RecordShape::Declared,
};

/// `pool_size` of a server database.
const POOL_SIZE: OptionSpec = option(
    "pool_size",
    ValueType::Int,
    "Most connections open at once (default: 4).",
);

/// The `sqlite` kind.
pub(crate) const SQLITE: ConnectorSpec = ConnectorSpec {
    kind: "sqlite",
    summary: "A SQLite database file: query, poll, insert, upsert, delete, look up.",
    options: &[required(
        "path",
        ValueType::String,
        "The database file, relative to the project directory; created if missing.",
    )],
    inline_positional: &["path"],
    operations: &[QUERY_SOURCE, POLL, INSERT, UPSERT, DELETE, QUERY_CALL],
    support: Support::Embedded,
};

/// The `postgres` kind.
pub(crate) const POSTGRES: ConnectorSpec = ConnectorSpec {
    kind: "postgres",
    summary: "A PostgreSQL database: query, poll, logical-replication changes, insert, upsert, delete, look up.",
    options: &[
        secret(
            "url",
            ValueType::Url,
            "Connection URL, e.g. postgres://user:password@host:5432/db.",
        ),
        POOL_SIZE,
    ],
    inline_positional: &["url"],
    operations: &[
        DB_QUERY_SOURCE,
        POLL,
        OperationSpec {
            name: "changes",
            role: Role::Source,
            summary: "Stream each inserted, updated or deleted row of a table as it commits (logical replication); `_op` and `_commit_time` in the record type receive the operation and the commit time (without `_op`, deletes are skipped); an update that changes the primary key comes as a delete of the old key, then the update.",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[
                TABLE,
                named(
                    "publication",
                    ValueType::String,
                    "Publication to read (default: aqueduct_ plus the table name, lower-cased, created if missing).",
                ),
                named(
                    "slot",
                    ValueType::String,
                    "Replication slot holding the position (default: aqueduct_ plus the flow name, lower-cased, created if missing; drop it with pg_drop_replication_slot when the flow is retired).",
                ),
            ],
            record: RecordShape::Declared,
        },
        INSERT,
        UPSERT,
        DELETE,
        QUERY_CALL,
    ],
    support: Support::Feature("db"),
};

/// The `mysql` kind.
pub(crate) const MYSQL: ConnectorSpec = ConnectorSpec {
    kind: "mysql",
    summary: "A MySQL or MariaDB database: query, poll, binlog changes, insert, upsert, delete, look up.",
    options: &[
        secret(
            "url",
            ValueType::Url,
            "Connection URL, e.g. mysql://user:password@host:3306/db.",
        ),
        POOL_SIZE,
    ],
    inline_positional: &["url"],
    operations: &[
        DB_QUERY_SOURCE,
        POLL,
        OperationSpec {
            name: "changes",
            role: Role::Source,
            summary: "Stream each inserted, updated or deleted row of a table as it commits (row-based binlog); `_op` and `_commit_time` in the record type receive the operation and the commit time (without `_op`, deletes are skipped); an update that changes the primary key comes as a delete of the old key, then the update.",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[
                TABLE,
                named(
                    "server_id",
                    ValueType::Int,
                    "Replica server id, unique among the server's replicas and among flows reading the same server (default: derived from the flow name).",
                ),
            ],
            record: RecordShape::Declared,
        },
        INSERT,
        UPSERT,
        DELETE,
        QUERY_CALL,
    ],
    support: Support::Feature("db"),
};
