//! `sqlite` (option `path`): a SQLite database file, created if missing and
//! opened in WAL mode with a 5 s busy timeout.
//!
//! Every operation on one database file shares one connection running on a
//! dedicated thread ([`Db`]), so writes from several flows are serialized
//! and never block the async runtime; a bounded `query` source reads
//! through its own connection (WAL lets it read while others write).
//!
//! Values map to SQLite as: `int`/`bool` → INTEGER, `float` → REAL,
//! `decimal`, `timestamp` (RFC 3339), `date`, `string` → TEXT (decimals as
//! text, so they stay exact), `bytes` → BLOB, lists, records and `json` →
//! JSON text. Reading converts back by the declared field type.

mod lookup;
mod poll;
mod query;
mod write;

use crate::formats::{build_record, layout};
use crate::support::args::Options;
use aqueduct_graph::{FieldType, Type};
use aqueduct_runtime::connector::{
    Call, ConnectorError, ConnectorFactory, OpContext, Source, Target,
};
use aqueduct_runtime::value::{Schemas, Value};
use rusqlite::Connection;
use rusqlite::types::{Value as SqlValue, ValueRef};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::oneshot;

/// The `sqlite` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct SqliteConnector;

impl ConnectorFactory for SqliteConnector {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        match cx.op.operation.as_str() {
            "query" => Ok(Box::new(query::QuerySource::build(cx, db_path(cx)?)?)),
            "poll" => Ok(Box::new(poll::PollSource::build(
                cx,
                Db::open(&db_path(cx)?)?,
            )?)),
            other => Err(ConnectorError::Config(format!(
                "`sqlite.{other}` cannot be used as a source"
            ))),
        }
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        Ok(Arc::new(write::SqliteTarget::build(
            cx,
            Db::open(&db_path(cx)?)?,
        )?))
    }

    fn prepare(&self, cx: &OpContext) -> Result<(), ConnectorError> {
        match cx.op.operation.as_str() {
            "insert" | "upsert" => write::create_table(cx, &*Db::open(&db_path(cx)?)?),
            _ => Ok(()),
        }
    }

    fn call(&self, cx: &OpContext) -> Result<Arc<dyn Call>, ConnectorError> {
        match cx.op.operation.as_str() {
            "query" => Ok(Arc::new(lookup::Lookup::build(
                cx,
                Db::open(&db_path(cx)?)?,
            )?)),
            other => Err(ConnectorError::Config(format!(
                "`sqlite.{other}` cannot be used in `enrich`"
            ))),
        }
    }
}

fn db_path(cx: &OpContext) -> Result<PathBuf, ConnectorError> {
    Ok(PathBuf::from(Options::of(cx).required("path")?))
}

/// Opens a connection with the connector's settings (WAL, busy timeout).
pub(crate) fn connect(path: &Path) -> Result<Connection, ConnectorError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            ConnectorError::Config(format!(
                "cannot create the directory of {}: {e}",
                path.display()
            ))
        })?;
    }
    let conn = Connection::open(path).map_err(|e| {
        ConnectorError::Config(format!("cannot open the database {}: {e}", path.display()))
    })?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(sql_error)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sql_error)?;
    Ok(conn)
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// One database connection on its own thread, shared by every operation on the same file.
pub(crate) struct Db {
    tx: Mutex<std::sync::mpsc::Sender<Job>>,
    /// A batch chunk's open transaction was rolled back by SQLite (a severe
    /// error): writes that joined it were lost, so its commit must fail.
    pub(crate) chunk_lost: std::sync::atomic::AtomicBool,
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Db>>> {
    static DBS: OnceLock<Mutex<HashMap<PathBuf, Weak<Db>>>> = OnceLock::new();
    DBS.get_or_init(Default::default)
}

impl Db {
    /// The shared connection to `path`, opened on first use.
    pub(crate) fn open(path: &Path) -> Result<Arc<Db>, ConnectorError> {
        let key = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut dbs = registry()
            .lock()
            .map_err(|_| ConnectorError::Permanent("database registry poisoned".to_string()))?;
        if let Some(db) = dbs.get(&key).and_then(Weak::upgrade) {
            return Ok(db);
        }
        let mut conn = connect(path)?;
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("aqueduct-sqlite".to_string())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| {
                ConnectorError::Config(format!("cannot start the database thread: {e}"))
            })?;
        let db = Arc::new(Db {
            tx: Mutex::new(tx),
            chunk_lost: std::sync::atomic::AtomicBool::new(false),
        });
        dbs.retain(|_, w| w.strong_count() > 0);
        dbs.insert(key, Arc::downgrade(&db));
        Ok(db)
    }

    fn submit(&self, job: Job) -> Result<(), ConnectorError> {
        let tx = self
            .tx
            .lock()
            .map_err(|_| ConnectorError::Permanent("database handle poisoned".to_string()))?;
        tx.send(job)
            .map_err(|_| ConnectorError::Transient("the database thread stopped".to_string()))
    }

    /// Runs `f` on the connection's thread.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ConnectorError> + Send + 'static,
    ) -> Result<T, ConnectorError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Box::new(move |conn| {
            let _ = tx.send(f(conn));
        }))?;
        rx.await
            .map_err(|_| ConnectorError::Transient("the database thread stopped".to_string()))?
    }

    /// Queues `f` now (jobs run in the order they are queued) and returns
    /// the wait for its result, which does not borrow the handle.
    pub(crate) fn queue<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ConnectorError> + Send + 'static,
    ) -> impl Future<Output = Result<T, ConnectorError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let queued = self.submit(Box::new(move |conn| {
            let _ = tx.send(f(conn));
        }));
        async move {
            queued?;
            rx.await
                .map_err(|_| ConnectorError::Transient("the database thread stopped".to_string()))?
        }
    }

    /// Runs `f` on the connection's thread and waits (start-up only).
    pub(crate) fn run_sync<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ConnectorError> + Send + 'static,
    ) -> Result<T, ConnectorError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.submit(Box::new(move |conn| {
            let _ = tx.send(f(conn));
        }))?;
        rx.recv()
            .map_err(|_| ConnectorError::Transient("the database thread stopped".to_string()))?
    }
}

/// A SQLite error as a connector error: busy/locked may pass, the rest will not.
pub(crate) fn sql_error(err: rusqlite::Error) -> ConnectorError {
    use rusqlite::ErrorCode::*;
    match &err {
        rusqlite::Error::SqliteFailure(e, _)
            if matches!(
                e.code,
                DatabaseBusy | DatabaseLocked | SystemIoFailure | DiskFull
            ) =>
        {
            ConnectorError::Transient(format!("sqlite: {err}"))
        }
        _ => ConnectorError::Permanent(format!("sqlite: {err}")),
    }
}

/// `"name"`, or `"schema"."name"`, quoted for SQL.
pub(crate) fn quote_ident(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// A value as a SQLite value.
pub(crate) fn to_sql(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Int(i) => SqlValue::Integer(*i),
        Value::Float(f) => SqlValue::Real(*f),
        Value::Bytes(b) => SqlValue::Blob(b.to_vec()),
        Value::List(_) | Value::Record(_) => SqlValue::Text(value.to_json_string()),
        Value::Json(j) => match j.as_ref() {
            serde_json::Value::Null => SqlValue::Null,
            serde_json::Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => SqlValue::Integer(i),
                None => n
                    .as_f64()
                    .map(SqlValue::Real)
                    .unwrap_or_else(|| SqlValue::Text(n.to_string())),
            },
            serde_json::Value::String(s) => SqlValue::Text(s.clone()),
            other => SqlValue::Text(other.to_string()),
        },
        other => SqlValue::Text(other.to_text()),
    }
}

/// The column type a field is stored in.
pub(crate) fn column_type(ty: &Type) -> &'static str {
    match ty.required() {
        Type::Int | Type::Bool => "INTEGER",
        Type::Float => "REAL",
        Type::Bytes => "BLOB",
        _ => "TEXT",
    }
}

/// A JSON value for a SQLite value (for `json` fields and untyped rows).
fn json_of(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => serde_json::Value::from(i),
        ValueRef::Real(f) => serde_json::Value::from(f),
        ValueRef::Text(t) => serde_json::Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
    }
}

/// Converts one column value into a value of the field's type.
pub(crate) fn from_sql(
    value: ValueRef<'_>,
    field: &FieldType,
    schemas: &Schemas,
) -> Result<Value, String> {
    let ty = field.ty.required();
    let bad = |kind: &str| {
        format!(
            "column `{}`: cannot read {kind} as {}",
            field.name, field.ty
        )
    };
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => match ty {
            Type::Int => Value::Int(i),
            Type::Bool => Value::Bool(i != 0),
            Type::Float => Value::Float(i as f64),
            Type::Decimal => Value::Decimal(rust_decimal::Decimal::from(i)),
            Type::String => Value::String(Arc::from(i.to_string())),
            Type::Json => Value::Json(Arc::new(serde_json::Value::from(i))),
            Type::Timestamp => chrono::DateTime::from_timestamp(i, 0)
                .map(Value::Timestamp)
                .ok_or_else(|| bad("integer"))?,
            _ => return Err(bad("an integer")),
        },
        ValueRef::Real(f) => match ty {
            Type::Float => Value::Float(f),
            Type::Decimal => rust_decimal::Decimal::try_from(f)
                .map(Value::Decimal)
                .map_err(|_| bad("a real"))?,
            Type::Int if f.fract() == 0.0 => Value::Int(f as i64),
            Type::String => Value::String(Arc::from(f.to_string())),
            Type::Json => Value::Json(Arc::new(serde_json::Value::from(f))),
            _ => return Err(bad("a real")),
        },
        ValueRef::Text(t) => {
            let text = std::str::from_utf8(t).map_err(|_| bad("invalid UTF-8 text"))?;
            crate::formats::parse_cell(text, field, schemas).or_else(|e| {
                // An empty string in a required string column is a value, not a missing one.
                if text.is_empty() && ty == &Type::String {
                    Ok(Value::String(Arc::from("")))
                } else {
                    Err(e)
                }
            })?
        }
        ValueRef::Blob(b) => match ty {
            Type::Bytes => Value::Bytes(Arc::from(b)),
            Type::String => Value::String(Arc::from(String::from_utf8_lossy(b).as_ref())),
            _ => return Err(bad("a blob")),
        },
    })
}

/// Converts one row into a record of `ty` (fields by column name).
pub(crate) fn row_value(
    row: &rusqlite::Row<'_>,
    columns: &[String],
    ty: &Type,
    schemas: &Schemas,
) -> Result<Value, String> {
    let Some(layout) = layout(ty, schemas) else {
        let mut map = serde_json::Map::new();
        for (i, name) in columns.iter().enumerate() {
            let value = row.get_ref(i).map_err(|e| e.to_string())?;
            map.insert(name.clone(), json_of(value));
        }
        return Ok(Value::Json(Arc::new(serde_json::Value::Object(map))));
    };
    build_record(&layout, |field| {
        match columns.iter().position(|c| *c == field.name) {
            Some(i) => from_sql(row.get_ref(i).map_err(|e| e.to_string())?, field, schemas),
            None => Ok(Value::Null),
        }
    })
}

/// A short text of a row for decode errors.
pub(crate) fn row_text(row: &rusqlite::Row<'_>, columns: &[String]) -> String {
    let mut map = serde_json::Map::new();
    for (i, name) in columns.iter().enumerate() {
        if let Ok(value) = row.get_ref(i) {
            map.insert(name.clone(), json_of(value));
        }
    }
    serde_json::Value::Object(map).to_string()
}
