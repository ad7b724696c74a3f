//! `mysql.changes(table, server_id:)`: each committed insert, update and
//! delete of a table, read from the row-based binary log as a replica would.
//!
//! The position is a binlog file and offset, kept in the state store under
//! `mysql:{flow}:binlog` (`mysql-bin.000003:4711`). Without one, the source
//! starts at the current end of the log (`SHOW MASTER STATUS`) and stores
//! that position at once, so changes made after the first start are never
//! skipped by a crash before the first commit. After each transaction's end
//! (its Xid event, or a `COMMIT` query for non-transactional tables) the
//! [`Committer`] gets a marker carrying the offset just past it, and stores
//! it once every record before it was acknowledged: every target committed
//! it or it went to the dead letter. A `kill -9` therefore loses nothing; a
//! restart re-reads from the last stored transaction end (at-least-once; an
//! upsert or delete target makes it exactly-once in effect).
//!
//! At start-up (build time, before any position is read or stored) the
//! server's binlog settings are checked, the table must exist, and the
//! record type is compared with its columns: a required field without a
//! column, or a column whose values cannot be read into its field (text
//! into `int`), stops `run` and is an AQ0410 of `check --connect`.
//!
//! Records: each field takes the column of the same name (columns are
//! matched by position to `information_schema` read at start-up, because a
//! MariaDB binlog carries no column names); `_op` is `"insert"`,
//! `"update"` or `"delete"`, `_commit_time` the binlog event's time (whole
//! seconds). Without `_op` deletes are skipped. An update that changes the
//! primary key (the before-image's key differs from the after-image's)
//! comes as two records: a `"delete"` of the old row, then the `"update"`,
//! so a replica routing deletes to a `delete` target moves the row. The
//! server must log
//! `binlog_format = ROW` with `binlog_row_image = FULL`, so a delete
//! carries the whole old row.

use super::binlog::{natural, natural_kind};
use super::schema::describe;
use super::types::ColumnInfo;
use super::{Db, my_error};
use crate::values::{ReadColumn, convert, read_problems};
use aqueduct_connectors::support::args::{arg_size, req_str};
use aqueduct_connectors::support::commit::Committer;
use aqueduct_connectors::support::{decode_error, stopped};
use aqueduct_runtime::connector::{
    Ack, ConnectorError, DecodeError, Envelope, OpContext, Source, StateStore,
};
use aqueduct_runtime::value::{Layout, Record, Schemas, Value};
use futures::StreamExt;
use futures::future::BoxFuture;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::binlog::row::BinlogRow;
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, Opts};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// Streams a table's changes from the binlog.
pub(crate) struct ChangesSource {
    system: String,
    opts: Opts,
    schema: String,
    table: String,
    columns: Vec<ColumnInfo>,
    /// Positions of the primary key's columns, to tell an update that
    /// moved a row to another key.
    row_key: Vec<usize>,
    server_id: u32,
    key: String,
    layout: Option<Arc<Layout>>,
    schemas: Arc<Schemas>,
    deletes: bool,
    state: Arc<dyn StateStore>,
    shutdown: watch::Receiver<bool>,
}

/// A binlog position.
#[derive(Debug, Clone, PartialEq)]
struct Position {
    file: String,
    offset: u64,
}

impl Position {
    fn parse(text: &str) -> Option<Position> {
        let (file, offset) = text.rsplit_once(':')?;
        Some(Position {
            file: file.to_string(),
            offset: offset.parse().ok()?,
        })
    }

    fn text(&self) -> String {
        format!("{}:{}", self.file, self.offset)
    }
}

/// The layout of a named record type (through `T?`).
fn layout_of(ty: &aqueduct_graph::Type, schemas: &Schemas) -> Option<Arc<Layout>> {
    match ty.required() {
        aqueduct_graph::Type::Record(name) => schemas.layout(name).cloned(),
        _ => None,
    }
}

/// The default replica id: a hash of the flow name, above the ids people
/// usually give real replicas.
fn default_server_id(flow: &str) -> u32 {
    let hash = flow.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    1_000_000 + hash % 1_000_000_000
}

impl ChangesSource {
    pub(crate) fn build(cx: &OpContext, db: Db) -> Result<ChangesSource, ConnectorError> {
        let table = req_str(cx, "table")?;
        let server_id = match arg_size(cx, "server_id")? {
            None => default_server_id(&cx.flow),
            Some(n) => u32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                ConnectorError::Config(format!(
                    "`{}.changes`: `server_id` must be between 1 and 4294967295, not {n}",
                    cx.op.system
                ))
            })?,
        };
        let layout = layout_of(&cx.record_type, &cx.schemas);
        let deletes = layout
            .as_ref()
            .is_some_and(|l| l.fields.iter().any(|f| f.name == "_op"));
        let (opts, system, name, record) = (
            db.opts.clone(),
            db.system.clone(),
            table.clone(),
            layout.clone(),
        );
        let (schema, columns, row_key) = crate::startup::startup(move || {
            Box::pin(async move { prepare(&system, opts, &name, record.as_deref()).await })
        })?;
        Ok(ChangesSource {
            system: db.system.clone(),
            opts: db.opts.clone(),
            table: table.rsplit('.').next().unwrap_or(&table).to_string(),
            schema,
            columns,
            row_key,
            server_id,
            key: format!("mysql:{}:binlog", cx.flow),
            layout,
            schemas: cx.schemas.clone(),
            deletes,
            state: cx.state.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    /// The record of one row image.
    fn record(
        &self,
        op: &str,
        row: Vec<Option<BinlogValue<'static>>>,
        time: &Value,
    ) -> Result<Value, DecodeError> {
        let mut naturals = Vec::with_capacity(row.len());
        for (i, value) in row.into_iter().enumerate() {
            let column = self.columns.get(i);
            let name = column.map_or_else(|| format!("#{i}"), |c| c.name.clone());
            let value = match (value, column) {
                (None, _) => Ok(Value::Null),
                (Some(v), Some(c)) => natural(v, c),
                (Some(_), None) => Err(
                    "the binlog row has more columns than the table had at start-up".to_string(),
                ),
            };
            naturals.push((name, value));
        }
        let raw = || {
            let mut map = serde_json::Map::new();
            map.insert("_op".into(), op.into());
            for (name, v) in &naturals {
                if let Ok(v) = v {
                    map.insert(name.clone(), v.to_json());
                }
            }
            serde_json::Value::Object(map).to_string()
        };
        let Some(layout) = &self.layout else {
            let mut map = serde_json::Map::new();
            for (name, v) in &naturals {
                let v = v
                    .clone()
                    .map_err(|e| decode_error(&raw(), format!("column `{name}`: {e}")))?;
                map.insert(name.clone(), v.to_json());
            }
            return Ok(Value::Json(Arc::new(serde_json::Value::Object(map))));
        };
        let mut slots = Vec::with_capacity(layout.fields.len());
        for field in &layout.fields {
            let value = match field.name.as_str() {
                "_op" => Value::String(Arc::from(op)),
                "_commit_time" => time.clone(),
                name => match naturals.iter().find(|(n, _)| n == name) {
                    None => Value::Null,
                    Some((_, v)) => v
                        .clone()
                        .and_then(|v| convert(v, &field.ty, &self.schemas))
                        .map_err(|e| decode_error(&raw(), format!("column `{name}`: {e}")))?,
                },
            };
            if value.is_null() && !field.ty.is_optional() {
                return Err(decode_error(
                    &raw(),
                    format!(
                        "column `{}` is NULL or missing but field `{}` is not optional",
                        field.name, field.name
                    ),
                ));
            }
            slots.push(value);
        }
        Ok(Value::Record(Arc::new(Record {
            layout: layout.clone(),
            slots,
        })))
    }

    async fn start_position(&self) -> Result<Position, ConnectorError> {
        if let Some(text) = self.state.get(&self.key).await?
            && let Some(p) = Position::parse(&text)
        {
            return Ok(p);
        }
        let mut conn = Conn::new(self.opts.clone())
            .await
            .map_err(|e| my_error(&self.system, &e))?;
        let row: Option<mysql_async::Row> = conn
            .query_first("SHOW MASTER STATUS")
            .await
            .map_err(|e| my_error(&self.system, &e))?;
        let _ = conn.disconnect().await;
        let status = row.and_then(|r| Some((r.get::<String, _>(0)?, r.get::<u64, _>(1)?)));
        let (file, offset) = status.ok_or_else(|| {
            ConnectorError::Permanent(format!("mysql `{}`: the binary log is off", self.system))
        })?;
        let p = Position { file, offset };
        // stored at once: a crash before the first commit must not skip what follows
        self.state.put(&self.key, &p.text()).await?;
        Ok(p)
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let mut position = self.start_position().await?;
        let committer = Committer::start(self.state.clone(), self.key.clone());
        // records after `position` already emitted
        let mut partial = 0usize;
        let mut failures = 0u32;
        let result = loop {
            let streamed = self
                .stream(&mut position, &mut partial, &mut failures, &out, &committer)
                .await;
            match streamed {
                Ok(Flow::Stop) => break Ok(()),
                Err(e) if e.is_retryable() => {
                    failures += 1;
                    tracing::warn!(error = %e, "Reading the binary log failed; retrying.");
                    let pause = crate::resume::pause(failures);
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stopped(&mut self.shutdown) => break Ok(()),
                    }
                }
                Err(e) => break Err(e),
            }
        };
        drop(out);
        committer.finish().await?;
        result
    }

    /// Reads from `position` until stopped or the connection fails;
    /// `failures` (the consecutive failed attempts, which set the pause
    /// before the next) is reset by the first event read. `position`
    /// follows each transaction end emitted, and `partial`
    /// counts the records emitted since it. A
    /// connection lost mid-transaction is resumed from `position` (a
    /// binlog dump can only start at a transaction boundary: the rows of a
    /// transaction need its table map events), so the first `partial`
    /// records read again are skipped: the log from a position is the same
    /// on every read, and they were emitted already.
    async fn stream(
        &mut self,
        position: &mut Position,
        partial: &mut usize,
        failures: &mut u32,
        out: &mpsc::Sender<Envelope>,
        committer: &Committer,
    ) -> Result<Flow, ConnectorError> {
        let err = |e: mysql_async::Error| match &e {
            // another replica with our id is still connected: after a
            // `kill -9` the server drops the old connection only once it
            // notices, so this passes on a retry
            mysql_async::Error::Server(s)
                if s.code == 4052 || s.code == 1236 && s.message.contains("same server") =>
            {
                ConnectorError::Transient(my_error(&self.system, &e).to_string())
            }
            _ => my_error(&self.system, &e),
        };
        let conn = Conn::new(self.opts.clone()).await.map_err(err)?;
        let request = BinlogStreamRequest::new(self.server_id)
            .with_filename(position.file.as_bytes())
            .with_pos(position.offset);
        let mut stream = conn.get_binlog_stream(request).await.map_err(err)?;
        let mut file = position.file.clone();
        // records read on this connection since `position`
        let mut read = 0usize;
        if *partial > 0 {
            tracing::debug!(
                records = *partial,
                "Resuming mid-transaction; skipping the records already emitted."
            );
        }
        loop {
            let event = tokio::select! {
                e = stream.next() => e,
                _ = stopped(&mut self.shutdown) => return Ok(Flow::Stop),
            };
            let Some(event) = event else {
                return Err(ConnectorError::Transient(format!(
                    "mysql `{}`: the binlog stream ended",
                    self.system
                )));
            };
            let event = event.map_err(err)?;
            // the server answered: the next lost connection starts the
            // pauses over
            *failures = 0;
            let header = event.header();
            let next = u64::from(header.log_pos());
            let time = chrono::DateTime::from_timestamp(i64::from(header.timestamp()), 0)
                .map_or(Value::Null, Value::Timestamp);
            let data = event.read_data().map_err(|e| {
                ConnectorError::Permanent(format!(
                    "mysql `{}`: a binlog event could not be read: {e}",
                    self.system
                ))
            })?;
            let mut changes: Vec<(&'static str, Vec<Option<BinlogValue<'static>>>)> = Vec::new();
            let mut end = false;
            match data {
                Some(EventData::RotateEvent(r)) => {
                    // the server's artificial rotate (log_pos 0) repeats the
                    // file asked for, possibly with checksum bytes: only the
                    // logged ones name a new file
                    if header.log_pos() != 0 {
                        file = log_name(&r.name());
                    }
                    continue;
                }
                Some(EventData::XidEvent(_)) => end = true,
                Some(EventData::QueryEvent(q)) => {
                    end = q.query().trim().eq_ignore_ascii_case("COMMIT");
                }
                Some(EventData::RowsEvent(rows)) => {
                    let Some(tme) = stream.get_tme(rows.table_id()) else {
                        continue;
                    };
                    if tme.database_name() != self.schema.as_str()
                        || tme.table_name() != self.table.as_str()
                    {
                        continue;
                    }
                    let op =
                        match &rows {
                            RowsEventData::WriteRowsEvent(_)
                            | RowsEventData::WriteRowsEventV1(_) => "insert",
                            RowsEventData::UpdateRowsEvent(_)
                            | RowsEventData::UpdateRowsEventV1(_)
                            | RowsEventData::PartialUpdateRowsEvent(_) => "update",
                            RowsEventData::DeleteRowsEvent(_)
                            | RowsEventData::DeleteRowsEventV1(_) => "delete",
                        };
                    if op == "delete" && !self.deletes {
                        continue;
                    }
                    for row in rows.rows(tme) {
                        let (before, after) = row.map_err(|e| {
                            ConnectorError::Permanent(format!(
                                "mysql `{}`: a binlog row could not be read: {e}",
                                self.system
                            ))
                        })?;
                        let values = |image: &BinlogRow| -> Vec<Option<BinlogValue<'static>>> {
                            (0..image.len())
                                .map(|i| image.as_ref(i).map(|v| v.clone().into_owned()))
                                .collect()
                        };
                        // an update that changed the primary key moves the
                        // row: the old key's delete comes first
                        if op == "update"
                            && self.deletes
                            && let (Some(b), Some(a)) = (&before, &after)
                            && self.row_key.iter().any(|&i| b.as_ref(i) != a.as_ref(i))
                        {
                            changes.push(("delete", values(b)));
                        }
                        let image = if op == "delete" { before } else { after };
                        if let Some(image) = image {
                            changes.push((op, values(&image)));
                        }
                    }
                }
                _ => {}
            }
            for (op, values) in changes {
                read += 1;
                if read <= *partial {
                    continue;
                }
                let record = self.record(op, values, &time);
                let (ack, rx) = Ack::new();
                if out.send(Envelope::new(record, ack)).await.is_err() {
                    return Ok(Flow::Stop);
                }
                committer.push(rx, None);
                *partial = read;
            }
            if end && next > 0 {
                *position = Position {
                    file: file.clone(),
                    offset: next,
                };
                read = 0;
                *partial = 0;
                // the marker is safe once every record before it is
                let (ack, rx) = Ack::new();
                ack.done();
                committer.push(rx, Some(position.text()));
            }
        }
    }
}

/// A binlog file name from a rotate event: `base.000042`; anything after
/// the digits of the extension (checksum bytes left on the name) is cut.
fn log_name(raw: &str) -> String {
    let Some(dot) = raw.rfind('.') else {
        return raw.to_string();
    };
    let digits = raw[dot + 1..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    raw[..dot + 1 + digits].to_string()
}

/// Why a stream ended without an error.
enum Flow {
    Stop,
}

/// `@@log_bin`, `@@binlog_format`, `@@binlog_row_image`, `DATABASE()`.
type Settings = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Checks the server's binlog settings, the table, and the record type
/// (`layout`, when declared) against its columns as the binlog decoder
/// reads them ([`read_problems`]); the table's schema, columns and the
/// positions of its primary key's columns. Runs at build time: nothing
/// is read and no position is stored before it passes.
async fn prepare(
    system: &str,
    opts: Opts,
    table: &str,
    layout: Option<&Layout>,
) -> Result<(String, Vec<ColumnInfo>, Vec<usize>), ConnectorError> {
    let cfg = |e: mysql_async::Error| ConnectorError::Config(my_error(system, &e).to_string());
    let mut conn = Conn::new(opts).await.map_err(cfg)?;
    let settings: Option<Settings> = conn
        .query_first("SELECT @@log_bin, @@binlog_format, @@binlog_row_image, DATABASE()")
        .await
        .map_err(cfg)?;
    let (log_bin, format, image, database) = settings.unwrap_or_default();
    let on = matches!(log_bin.as_deref(), Some("1" | "ON"));
    if !on || format.as_deref() != Some("ROW") || image.as_deref() != Some("FULL") {
        return Err(ConnectorError::Config(format!(
            "mysql `{system}`: `changes` needs log_bin = ON, binlog_format = ROW and binlog_row_image = FULL; the server has log_bin = {}, binlog_format = {}, binlog_row_image = {}",
            log_bin.unwrap_or_default(),
            format.unwrap_or_default(),
            image.unwrap_or_default()
        )));
    }
    let described = describe(&mut conn, table).await.map_err(cfg)?;
    let _ = conn.disconnect().await;
    let Some(described) = described else {
        return Err(ConnectorError::Config(format!(
            "mysql `{system}`: table `{table}` does not exist"
        )));
    };
    if let Some(layout) = layout {
        let found = read_problems(table, &layout.name, &layout.fields, |name| {
            described.column(name).map(|c| ReadColumn {
                sql_type: c.column_type.clone(),
                kind: Some(natural_kind(c)),
            })
        });
        if !found.is_empty() {
            return Err(ConnectorError::Config(format!(
                "mysql `{system}`: {}",
                found.join("; ")
            )));
        }
    }
    let schema = match table.split_once('.') {
        Some((s, _)) => s.to_string(),
        None => database.ok_or_else(|| {
            ConnectorError::Config(format!(
                "mysql `{system}`: the URL names no database; write the table as `db.table`"
            ))
        })?,
    };
    let row_key = described
        .primary
        .iter()
        .filter_map(|name| described.columns.iter().position(|c| c.name == *name))
        .collect();
    Ok((schema, described.columns, row_key))
}

impl Source for ChangesSource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(self.run_inner(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_server_ids_are_stable() {
        let p = Position::parse("mysql-bin.000003:4711").expect("parses");
        assert_eq!(p.text(), "mysql-bin.000003:4711");
        assert_eq!(default_server_id("a"), default_server_id("a"));
        assert!(default_server_id("a") > 1_000_000);
        assert_eq!(
            log_name("mariadb-bin.000001\u{fffd}w\u{fffd}"),
            "mariadb-bin.000001"
        );
        assert_eq!(log_name("binlog.000012"), "binlog.000012");
    }
}
