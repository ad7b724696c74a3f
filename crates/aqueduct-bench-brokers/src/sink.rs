//! What every hand-written consumer does with a batch of messages: decode
//! each payload into a typed struct, encode it as a JSON line, write the
//! batch to the output file and `fdatasync` it. The consumer acknowledges
//! the batch only after [`Sink::commit`] returned, the discipline
//! `aqueduct run` keeps with an async flow into `file.append` (each group
//! of records written and synced before its acks are released).

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// The benchmark's message, as the flows declare it (`type Item`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Item {
    /// Sequence number, unique per message.
    pub id: i64,
    /// A short text.
    pub name: String,
    /// Another short text.
    pub device: String,
    /// A number.
    pub reading: i64,
    /// A flag.
    pub ok: bool,
}

impl Item {
    /// Message `id` of the backlog.
    pub fn new(id: i64) -> Item {
        Item {
            id,
            name: format!("item {id}"),
            device: format!("device-{}", id % 97),
            reading: (id * 7919) % 10_000,
            ok: id % 3 != 0,
        }
    }

    /// Its JSON payload.
    pub fn json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The output file of a hand-written consumer.
pub struct Sink {
    file: File,
    buf: Vec<u8>,
    /// Records written and synced.
    pub committed: u64,
}

impl Sink {
    /// Opens (creates) `path` for appending.
    pub fn open(path: &Path) -> Result<Sink, String> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Ok(Sink {
            file,
            buf: Vec::with_capacity(64 * 1024),
            committed: 0,
        })
    }

    /// Adds a record already decoded.
    pub fn add(&mut self, item: &Item) -> Result<(), String> {
        serde_json::to_writer(&mut self.buf, item).map_err(|e| e.to_string())?;
        self.buf.push(b'\n');
        Ok(())
    }

    /// Adds the record of a JSON payload.
    pub fn add_json(&mut self, payload: &[u8]) -> Result<(), String> {
        let item: Item =
            serde_json::from_slice(payload).map_err(|e| format!("bad payload: {e}"))?;
        self.add(&item)
    }

    /// Writes the batch and syncs it: only then may it be acknowledged.
    pub fn commit(&mut self, records: u64) -> Result<(), String> {
        self.file
            .write_all(&self.buf)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| format!("cannot write the output: {e}"))?;
        self.buf.clear();
        self.committed += records;
        Ok(())
    }
}
