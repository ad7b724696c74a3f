//! `postgres.changes(table, publication:, slot:)`: each committed insert,
//! update and delete of a table, read by logical decoding with `pgoutput`.
//!
//! The source polls `pg_logical_slot_peek_binary_changes` on an ordinary
//! connection (peek: nothing is consumed by reading) and emits the changes
//! of each transaction in commit order. After a transaction's Commit it
//! hands the [`Committer`] a marker carrying the transaction's end LSN;
//! once every record before the marker is acknowledged (every target
//! committed it, or it went to the dead letter) that LSN becomes safe, and
//! before its next peek the source moves the slot there with
//! `pg_replication_slot_advance`. Peeks and advances run on one connection,
//! one after the other, because the server refuses to advance a slot that
//! another session is decoding. So the slot's confirmed position never
//! passes a change a target has not committed: after a `kill -9` the next
//! run peeks again from the slot and re-delivers at most what was
//! acknowledged but not yet advanced past (at-least-once; an upsert or
//! delete target makes it exactly-once in effect). Within a run, a
//! transaction already emitted is recognised by its commit LSN and skipped
//! when a later peek returns it again.
//!
//! Before the source runs (at build time, so also under `check
//! --connect`) [`prepare`] checks the server and the table and compares
//! the record type with the table's columns: a required field without a
//! column, or a column whose values cannot be read into its field, stops
//! `run` before the publication and the slot are made.
//!
//! Records: each field takes the column of the same name; `_op` (when
//! declared) is `"insert"`, `"update"` or `"delete"`, `_commit_time` the
//! transaction's commit time. Without `_op` deletes are skipped. A delete
//! carries the replica identity (the primary key by default) and null for
//! every other column. An update that changes the primary key (which
//! pgoutput sends with the old key) comes as two records: a `"delete"` of
//! the old key, then the `"update"` with the new row, so a flow routing
//! deletes to a `delete` target moves the row at its replica instead of
//! leaving the old one behind. Without `_op` only the update comes.
//!
//! pgoutput names each column's type by OID only: a type that is not
//! built in (a domain, an enum) is looked up in the catalog when a
//! Relation message first names it ([`super::catalog`]) and kept for the
//! run, so a domain's binary value is read as its base type's.

use super::catalog::resolve;
use super::pg_error;
use super::pgoutput::{Datum, Message, Relation, decode};
use super::pool::Pool;
use super::rows::layout;
use super::slot::{Setup, create, default_name, prepare, wants_deletes};
use super::types::Cell;
use crate::values::convert;
use aqueduct_connectors::support::args::{arg_str, req_str};
use aqueduct_connectors::support::commit::Committer;
use aqueduct_connectors::support::{decode_error, stopped};
use aqueduct_runtime::connector::{
    Ack, ConnectorError, DecodeError, Envelope, OpContext, Source, StateStore,
};
use aqueduct_runtime::value::{Layout, Record, Schemas, Value};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_postgres::types::{FromSql, Type as PgType};

/// Changes read per peek (whole transactions: a peek may return more).
const PEEK: i32 = 2000;
/// Wait between peeks that found nothing.
const IDLE: Duration = Duration::from_millis(200);
/// Microseconds from 1970-01-01 to 2000-01-01, the PostgreSQL epoch.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Streams a table's changes.
pub(crate) struct ChangesSource {
    pool: Arc<Pool>,
    table: String,
    publication: String,
    slot: String,
    layout: Option<Arc<Layout>>,
    schemas: Arc<Schemas>,
    deletes: bool,
    /// The table's row key (primary key columns), to tell an update that
    /// moved a row to another key.
    row_key: Vec<String>,
    shutdown: watch::Receiver<bool>,
}

/// The position the committer found safe, read by the peek loop.
#[derive(Default)]
struct SafeLsn(Mutex<Option<String>>);

impl StateStore for SafeLsn {
    fn get<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<Option<String>, ConnectorError>> {
        Box::pin(async { Ok(None) })
    }

    fn put<'a>(
        &'a self,
        _key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        if let Ok(mut safe) = self.0.lock() {
            *safe = Some(value.to_string());
        }
        Box::pin(async { Ok(()) })
    }
}

/// An LSN as PostgreSQL writes it (`16/B374D848`).
fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// A table as the change messages describe it, with each column's type
/// resolved (in column order).
struct Described {
    rel: Relation,
    types: Vec<PgType>,
}

/// The transaction being read.
struct Txn {
    final_lsn: u64,
    commit_time: Value,
    /// Already emitted by an earlier peek of this run.
    skip: bool,
}

impl ChangesSource {
    pub(crate) fn build(cx: &OpContext, pool: Arc<Pool>) -> Result<ChangesSource, ConnectorError> {
        let table = req_str(cx, "table")?;
        let publication = arg_str(cx, "publication")?.unwrap_or_else(|| default_name(&table));
        let slot = arg_str(cx, "slot")?.unwrap_or_else(|| default_name(&cx.flow));
        let layout = layout(&cx.record_type, &cx.schemas);
        let deletes = wants_deletes(layout.as_ref());
        let row_key = prepare(Setup {
            system: pool.system().to_string(),
            config: pool.config().clone(),
            table: table.clone(),
            layout: layout.clone(),
            deletes,
        })?;
        Ok(ChangesSource {
            pool,
            table,
            publication,
            slot,
            layout,
            schemas: cx.schemas.clone(),
            deletes,
            row_key,
            shutdown: cx.shutdown.clone(),
        })
    }

    /// True when `rel` is the table this source reads (a publication
    /// given by name may hold others).
    fn is_ours(&self, rel: &Relation) -> bool {
        match self.table.rsplit_once('.') {
            Some((schema, name)) => rel.namespace == schema && rel.name == name,
            None => rel.name == self.table,
        }
    }

    /// One peek: the raw messages, in order.
    async fn peek(&self, advance_to: Option<&str>) -> Result<Vec<Vec<u8>>, ConnectorError> {
        let system = self.pool.system().to_string();
        let err = |e: tokio_postgres::Error| match e.as_db_error().map(|d| d.code().code()) {
            // the slot is in use: after a `kill -9` the old session may
            // still be finishing its peek, so this passes on a retry
            Some("55006") => ConnectorError::Transient(pg_error(&system, &e).to_string()),
            _ => pg_error(&system, &e),
        };
        let conn = self.pool.get().await?;
        if let Some(lsn) = advance_to {
            // never backwards: a slot refuses to move behind its confirmed position
            conn.execute(
                "SELECT pg_replication_slot_advance(slot_name, greatest($2::text::pg_lsn, confirmed_flush_lsn))
                 FROM pg_replication_slots WHERE slot_name = $1",
                &[&self.slot, &lsn],
            )
            .await
            .map_err(err)?;
        }
        let rows = conn
            .query(
                "SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2,
                   'proto_version', '1', 'publication_names', $3, 'binary', 'true')",
                &[&self.slot, &PEEK, &self.publication],
            )
            .await
            .map_err(err)?;
        rows.iter()
            .map(|row| row.try_get::<_, Vec<u8>>(0).map_err(err))
            .collect()
    }

    /// The record of one change; the error says which column failed and why.
    fn record(
        &self,
        rel: &Described,
        op: &str,
        tuple: &[Datum],
        old: Option<&[Datum]>,
        commit_time: &Value,
    ) -> Result<Value, DecodeError> {
        let raw = || describe(rel, op, tuple);
        let Some(layout) = &self.layout else {
            let mut map = serde_json::Map::new();
            for (i, column) in rel.rel.columns.iter().enumerate() {
                let value = datum(rel, i, tuple, old).map_err(|e| decode_error(&raw(), e))?;
                map.insert(column.name.clone(), value.to_json());
            }
            return Ok(Value::Json(Arc::new(serde_json::Value::Object(map))));
        };
        let mut slots = Vec::with_capacity(layout.fields.len());
        for field in &layout.fields {
            let value = match field.name.as_str() {
                "_op" => Value::String(Arc::from(op)),
                "_commit_time" => commit_time.clone(),
                name => match rel.rel.columns.iter().position(|c| c.name == name) {
                    None => Value::Null,
                    Some(i) => datum(rel, i, tuple, old)
                        .and_then(|v| convert(v, &field.ty, &self.schemas))
                        .map_err(|e| decode_error(&raw(), format!("column `{name}`: {e}")))?,
                },
            };
            if value.is_null() && !field.ty.is_optional() {
                let why = if op == "delete" {
                    format!(
                        "field `{}` is not optional, but a delete carries only the key columns",
                        field.name
                    )
                } else {
                    format!(
                        "column `{}` is NULL or missing but field `{}` is not optional",
                        field.name, field.name
                    )
                };
                return Err(decode_error(&raw(), why));
            }
            slots.push(value);
        }
        Ok(Value::Record(Arc::new(Record {
            layout: layout.clone(),
            slots,
        })))
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        {
            let conn = self.pool.get().await?;
            create(
                &conn,
                self.pool.system(),
                &self.table,
                &self.publication,
                &self.slot,
            )
            .await?;
        }
        let safe = Arc::new(SafeLsn::default());
        let committer = Committer::start(safe.clone(), self.slot.clone());
        let mut relations: HashMap<u32, Described> = HashMap::new();
        // the types of OIDs that are not built in, looked up once per run
        let mut types: HashMap<u32, PgType> = HashMap::new();
        // commit LSN of the last transaction emitted in this run
        let mut emitted: u64 = 0;
        let mut advanced: Option<String> = None;
        let mut result = Ok(());
        let mut failures = 0u32;
        'poll: loop {
            if *self.shutdown.borrow() {
                break;
            }
            let target = safe.0.lock().ok().and_then(|s| s.clone());
            let advance = target.filter(|t| advanced.as_ref() != Some(t));
            let messages = match self.peek(advance.as_deref()).await {
                Ok(messages) => {
                    failures = 0;
                    if advance.is_some() {
                        advanced = advance;
                    }
                    messages
                }
                Err(e) if e.is_retryable() => {
                    failures += 1;
                    tracing::warn!(error = %e, slot = %self.slot, "Reading changes failed; retrying.");
                    let pause = crate::resume::pause(failures);
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => continue,
                        _ = stopped(&mut self.shutdown) => break,
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            // nothing new (an empty slot, or only transactions still being
            // acknowledged): wait before peeking again
            let mut idle = true;
            let mut txn: Option<Txn> = None;
            for data in messages {
                let message = match decode(&data) {
                    Ok(m) => m,
                    Err(e) => {
                        result = Err(ConnectorError::Permanent(format!(
                            "postgres `{}`: a pgoutput message could not be decoded: {e}",
                            self.pool.system()
                        )));
                        break 'poll;
                    }
                };
                let change = match message {
                    Message::Relation(rel) => {
                        let described = match self.with_types(rel, &mut types).await {
                            Ok(d) => d,
                            // peeked again: what this peek emitted is
                            // skipped by its commit LSN
                            Err(e) if e.is_retryable() => {
                                tracing::warn!(error = %e, slot = %self.slot, "Looking up a column type failed; retrying.");
                                tokio::select! {
                                    _ = tokio::time::sleep(IDLE) => continue 'poll,
                                    _ = stopped(&mut self.shutdown) => break 'poll,
                                }
                            }
                            Err(e) => {
                                result = Err(e);
                                break 'poll;
                            }
                        };
                        relations.insert(described.rel.id, described);
                        continue;
                    }
                    Message::Begin {
                        final_lsn,
                        commit_time,
                    } => {
                        let time = chrono::DateTime::from_timestamp_micros(
                            commit_time.saturating_add(PG_EPOCH_MICROS),
                        )
                        .map_or(Value::Null, Value::Timestamp);
                        txn = Some(Txn {
                            final_lsn,
                            commit_time: time,
                            skip: final_lsn <= emitted,
                        });
                        continue;
                    }
                    Message::Commit { end_lsn } => {
                        if let Some(t) = txn.take()
                            && !t.skip
                        {
                            emitted = t.final_lsn;
                            idle = false;
                            // the marker is safe once every record before it is
                            let (ack, rx) = Ack::new();
                            ack.done();
                            committer.push(rx, Some(lsn_text(end_lsn)));
                        }
                        continue;
                    }
                    Message::Other(_) => continue,
                    change => change,
                };
                let Some(t) = txn.as_ref().filter(|t| !t.skip) else {
                    continue;
                };
                let (rel, op, tuple, old) = match &change {
                    Message::Insert { rel, new } => (rel, "insert", new, None),
                    Message::Update { rel, old, new } => (rel, "update", new, old.as_deref()),
                    Message::Delete { rel, old } if self.deletes => (rel, "delete", old, None),
                    _ => continue,
                };
                let Some(relation) = relations.get(rel).filter(|r| self.is_ours(&r.rel)) else {
                    continue;
                };
                // an update that changed the row's key moves the row: the
                // old key's delete comes first, so a replica drops it
                let moved = match old {
                    Some(before) if op == "update" && self.deletes => {
                        key_moved(&relation.rel, &self.row_key, before, tuple).then_some(before)
                    }
                    _ => None,
                };
                let changes = moved
                    .map(|before| ("delete", before, None))
                    .into_iter()
                    .chain([(op, tuple.as_slice(), old)]);
                for (op, tuple, old) in changes {
                    let record = self.record(relation, op, tuple, old, &t.commit_time);
                    let (ack, rx) = Ack::new();
                    let envelope = Envelope::new(record, ack);
                    if out.send(envelope).await.is_err() {
                        break 'poll;
                    }
                    committer.push(rx, None);
                }
            }
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE) => {}
                    _ = stopped(&mut self.shutdown) => break,
                }
            }
        }
        drop(out);
        committer.finish().await?;
        // what became safe while stopping is advanced past now
        let target = safe.0.lock().ok().and_then(|s| s.clone());
        if let Some(lsn) = target.filter(|t| advanced.as_ref() != Some(t))
            && let Err(e) = self.advance(&lsn).await
        {
            tracing::warn!(error = %e, slot = %self.slot, "The slot was not advanced at shutdown; the last changes will be read again.");
        }
        result
    }

    /// `rel` with its columns' types; a type not built in and not in
    /// `known` is looked up in the catalog.
    async fn with_types(
        &self,
        rel: Relation,
        known: &mut HashMap<u32, PgType>,
    ) -> Result<Described, ConnectorError> {
        let missing: Vec<u32> = rel
            .columns
            .iter()
            .map(|c| c.type_oid)
            .filter(|oid| PgType::from_oid(*oid).is_none() && !known.contains_key(oid))
            .collect();
        if !missing.is_empty() {
            let conn = self.pool.get().await?;
            let found = resolve(&conn, &missing)
                .await
                .map_err(|e| pg_error(self.pool.system(), &e))?;
            known.extend(found.into_iter().map(|(oid, r)| (oid, r.ty)));
        }
        let types = rel
            .columns
            .iter()
            .map(|c| {
                PgType::from_oid(c.type_oid)
                    .or_else(|| known.get(&c.type_oid).cloned())
                    // dropped since the change was made: its value is
                    // not read as anything
                    .unwrap_or_else(|| {
                        PgType::new(
                            format!("type {}", c.type_oid),
                            c.type_oid,
                            tokio_postgres::types::Kind::Simple,
                            String::new(),
                        )
                    })
            })
            .collect();
        Ok(Described { rel, types })
    }

    /// Moves the slot to `lsn` (never backwards).
    async fn advance(&self, lsn: &str) -> Result<(), ConnectorError> {
        let conn = self.pool.get().await?;
        conn.execute(
            "SELECT pg_replication_slot_advance(slot_name, greatest($2::text::pg_lsn, confirmed_flush_lsn))
             FROM pg_replication_slots WHERE slot_name = $1",
            &[&self.slot, &lsn],
        )
        .await
        .map_err(|e| pg_error(self.pool.system(), &e))?;
        Ok(())
    }
}

/// Column `i` of a change in its natural type. An unchanged TOASTed value
/// (a large value the update did not touch, which pgoutput does not send)
/// is taken from the old row when the replica identity sends it.
fn datum(
    rel: &Described,
    i: usize,
    tuple: &[Datum],
    old: Option<&[Datum]>,
) -> Result<Value, String> {
    let (Some(column), Some(ty)) = (rel.rel.columns.get(i), rel.types.get(i)) else {
        return Err("the change has fewer columns than its table".to_string());
    };
    let d = match tuple.get(i) {
        Some(Datum::Unchanged) => old.and_then(|o| o.get(i)).unwrap_or(&Datum::Unchanged),
        Some(d) => d,
        None => &Datum::Null,
    };
    match d {
        Datum::Null => Ok(Value::Null),
        Datum::Binary(raw) => Cell::from_sql(ty, raw)
            .map_err(|e| e.to_string())?
            .natural(),
        Datum::Text(raw) => Ok(Value::String(Arc::from(
            String::from_utf8_lossy(raw).as_ref(),
        ))),
        Datum::Unchanged => Err(format!(
            "column `{}`: the update left this large value unchanged and PostgreSQL does not send it; set REPLICA IDENTITY FULL on the table",
            column.name
        )),
    }
}

/// True when an update's old row (`before`: the old key, or the whole old
/// row with `REPLICA IDENTITY FULL`) has another value in a column of
/// `row_key` than the new row. pgoutput sends the old key only when the
/// key changed, but the whole old row on every update, hence the compare.
/// A table without a key never moves a row.
fn key_moved(rel: &Relation, row_key: &[String], before: &[Datum], after: &[Datum]) -> bool {
    row_key.iter().any(|name| {
        let Some(i) = rel.columns.iter().position(|c| c.name == *name) else {
            return false;
        };
        match (before.get(i), after.get(i)) {
            (_, Some(Datum::Unchanged)) | (Some(Datum::Unchanged), _) => false,
            (Some(b), Some(a)) => b != a,
            _ => false,
        }
    })
}

/// A short text of a change for dead letters.
fn describe(rel: &Described, op: &str, tuple: &[Datum]) -> String {
    let mut map = serde_json::Map::new();
    map.insert("_op".into(), op.into());
    for (i, column) in rel.rel.columns.iter().enumerate() {
        if let Ok(v) = datum(rel, i, tuple, None) {
            map.insert(column.name.clone(), v.to_json());
        }
    }
    serde_json::Value::Object(map).to_string()
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
    use super::lsn_text;

    #[test]
    fn lsns_are_written_the_way_postgres_reads_them() {
        assert_eq!(lsn_text(0x16_B374_D848), "16/B374D848");
        assert_eq!(lsn_text(0x100), "0/100");
    }
}
