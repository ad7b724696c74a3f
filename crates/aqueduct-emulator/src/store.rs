//! The org's records, in memory, with the undo log that makes `allOrNone`
//! possible: every write records how to undo it, a savepoint is a position
//! in that log, and rolling back replays it backwards. Records are JSON
//! maps keyed by the declared field spelling, kept per object in id order
//! (ids are generated in increasing order, so that is creation order).
//! Deletes are soft (`IsDeleted = true`), as Salesforce's recycle bin:
//! `queryAll` still sees them.

use crate::schema::Schema;
use crate::values::to_text;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One record: field name → stored value.
pub type Record = Map<String, Value>;

/// The records of one object.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// By 18-character id.
    pub rows: BTreeMap<String, Record>,
    /// Unique and external id fields: normalised value → ids (deleted
    /// records included), so unique checks and upserts do not scan.
    index: HashMap<String, HashMap<String, BTreeSet<String>>>,
}

/// The index key of a value: text case-folded, numbers in plain form.
fn key(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.to_lowercase()),
        other => Some(to_text(other)),
    }
}

impl Table {
    fn index_add(&mut self, id: &str, rec: &Record) {
        for (field, values) in &mut self.index {
            if let Some(k) = rec.get(field).and_then(key) {
                values.entry(k).or_default().insert(id.to_string());
            }
        }
    }

    fn index_remove(&mut self, id: &str, rec: &Record) {
        for (field, values) in &mut self.index {
            if let Some(k) = rec.get(field).and_then(key)
                && let Some(ids) = values.get_mut(&k)
            {
                ids.remove(id);
                if ids.is_empty() {
                    values.remove(&k);
                }
            }
        }
    }

    /// Ids whose `field` may equal `value` (deleted ones included); `None`
    /// when the field is not indexed and the caller has to scan.
    pub fn candidates(&self, field: &str, value: &Value) -> Option<Vec<String>> {
        let values = self.index.get(field)?;
        let k = key(value)?;
        Some(
            values
                .get(&k)
                .map(|ids| ids.iter().cloned().collect())
                .unwrap_or_default(),
        )
    }

    fn put(&mut self, id: String, rec: Record) -> Option<Record> {
        let old = self.rows.remove(&id);
        if let Some(o) = &old {
            self.index_remove(&id, o);
        }
        self.index_add(&id, &rec);
        self.rows.insert(id, rec);
        old
    }

    fn take(&mut self, id: &str) -> Option<Record> {
        let old = self.rows.remove(id)?;
        self.index_remove(id, &old);
        Some(old)
    }
}

/// Every table, indexed like [`Schema::objects`].
#[derive(Debug, Clone, Default)]
pub struct Data {
    /// One table per object.
    pub tables: Vec<Table>,
    undo: Vec<Undo>,
}

/// How to undo one write.
#[derive(Debug, Clone)]
enum Undo {
    Inserted { obj: usize, id: String },
    Replaced { obj: usize, id: String, old: Record },
}

/// A position in the undo log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Savepoint(usize);

impl Data {
    /// Empty tables for a schema.
    pub fn new(schema: &Schema) -> Data {
        let tables = schema
            .objects
            .iter()
            .map(|o| Table {
                rows: BTreeMap::new(),
                index: o
                    .fields
                    .iter()
                    .filter(|f| f.unique || f.external_id)
                    .map(|f| (f.name.clone(), HashMap::new()))
                    .collect(),
            })
            .collect();
        Data {
            tables,
            undo: Vec::new(),
        }
    }

    /// A record by object and id (deleted ones included).
    pub fn get(&self, obj: usize, id: &str) -> Option<&Record> {
        self.tables.get(obj)?.rows.get(id)
    }

    /// A record by id alone (its object from the key prefix), deleted ones included.
    pub fn find(&self, schema: &Schema, id: &str) -> Option<(usize, &Record)> {
        let obj = schema.by_prefix(id)?;
        self.get(obj, id).map(|r| (obj, r))
    }

    /// A live (not deleted) record by id.
    pub fn live(&self, schema: &Schema, id: &str) -> Option<(usize, &Record)> {
        self.find(schema, id).filter(|(_, r)| !is_deleted(r))
    }

    /// Adds a record.
    pub fn insert(&mut self, obj: usize, id: String, record: Record) {
        if let Some(t) = self.tables.get_mut(obj) {
            t.put(id.clone(), record);
            self.undo.push(Undo::Inserted { obj, id });
        }
    }

    /// Replaces a record, remembering the old one.
    pub fn replace(&mut self, obj: usize, id: &str, record: Record) {
        if let Some(t) = self.tables.get_mut(obj)
            && let Some(old) = t.put(id.to_string(), record)
        {
            self.undo.push(Undo::Replaced {
                obj,
                id: id.to_string(),
                old,
            });
        }
    }

    /// Removes a record for good (Bulk `hardDelete`).
    pub fn remove(&mut self, obj: usize, id: &str) {
        if let Some(t) = self.tables.get_mut(obj)
            && let Some(old) = t.take(id)
        {
            self.undo.push(Undo::Replaced {
                obj,
                id: id.to_string(),
                old,
            });
        }
    }

    /// The current position of the undo log.
    pub fn savepoint(&self) -> Savepoint {
        Savepoint(self.undo.len())
    }

    /// Undoes every write after `sp`.
    pub fn rollback(&mut self, sp: Savepoint) {
        while self.undo.len() > sp.0 {
            let Some(entry) = self.undo.pop() else { break };
            match entry {
                Undo::Inserted { obj, id } => {
                    if let Some(t) = self.tables.get_mut(obj) {
                        t.take(&id);
                    }
                }
                Undo::Replaced { obj, id, old } => {
                    if let Some(t) = self.tables.get_mut(obj) {
                        t.put(id, old);
                    }
                }
            }
        }
    }

    /// Forgets the undo log: the writes are final.
    pub fn commit(&mut self) {
        self.undo.clear();
    }
}

/// Whether a record is in the recycle bin.
pub fn is_deleted(record: &Record) -> bool {
    record
        .get("IsDeleted")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}
