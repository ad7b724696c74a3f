//! Rows in PostgreSQL's binary COPY format, encoded as records are
//! written and sent in large pieces by the chunk's load.
//!
//! A batch target encodes each record into the open chunk's buffer at
//! [`CopyRows::push`] (converted for its columns first, so a value that
//! does not fit stays an error of that record), rather than keeping the
//! converted values and encoding them at the flush: one pass, no
//! per-row allocation, and the load sends the buffer as it is, in pieces
//! of [`PIECE`] bytes instead of one message per 4 KiB.

use super::types::Param;
use bytes::{BufMut, Bytes, BytesMut};
use futures::SinkExt;
use std::collections::HashMap;
use tokio_postgres::types::{IsNull, ToSql, Type as PgType};

/// The bytes of one CopyData message the load sends.
const PIECE: usize = 1 << 20;

/// The binary COPY header: signature, flags, header-extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Encoded rows of one chunk, without the header and trailer.
#[derive(Debug, Default)]
pub(crate) struct CopyRows {
    data: BytesMut,
    /// Where each row starts in `data`.
    starts: Vec<usize>,
}

impl CopyRows {
    /// Appends one row of `params` (of `types`); on an encoding error
    /// nothing is appended.
    pub fn push(&mut self, params: &[Param], types: &[PgType]) -> Result<(), String> {
        let start = self.data.len();
        self.data.put_i16(params.len() as i16);
        for (p, ty) in params.iter().zip(types) {
            let at = self.data.len();
            self.data.put_i32(0);
            match p.to_sql(ty, &mut self.data) {
                Ok(IsNull::No) => {
                    let len = (self.data.len() - at - 4) as i32;
                    self.data[at..at + 4].copy_from_slice(&len.to_be_bytes());
                }
                Ok(IsNull::Yes) => {
                    self.data.truncate(at);
                    self.data.put_i32(-1);
                }
                Err(e) => {
                    self.data.truncate(start);
                    return Err(e.to_string());
                }
            }
        }
        self.starts.push(start);
        Ok(())
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Drops the rows after the first `rows`.
    pub fn truncate(&mut self, rows: usize) {
        if let Some(&end) = self.starts.get(rows) {
            self.data.truncate(end);
            self.starts.truncate(rows);
        }
    }

    /// The rows, frozen for loading (and loading again after a failure).
    pub fn freeze(self) -> Frozen {
        Frozen {
            data: self.data.freeze(),
            starts: self.starts,
        }
    }
}

/// A chunk's encoded rows.
#[derive(Debug, Clone)]
pub(crate) struct Frozen {
    data: Bytes,
    starts: Vec<usize>,
}

impl Frozen {
    /// Row `i`'s bytes.
    fn row(&self, i: usize) -> &[u8] {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.data.len());
        &self.data[self.starts[i]..end]
    }

    /// Rows `from..to` (a slice of the same buffer: nothing is copied).
    pub fn range(&self, from: usize, to: usize) -> Frozen {
        let to = to.min(self.starts.len());
        let from = from.min(to);
        let start = self.starts.get(from).copied().unwrap_or(self.data.len());
        let end = self.starts.get(to).copied().unwrap_or(self.data.len());
        Frozen {
            data: self.data.slice(start..end),
            starts: self.starts[from..to].iter().map(|s| s - start).collect(),
        }
    }

    /// The rows with each key's last occurrence only, in first-seen order
    /// (the rows themselves when no key repeats). `key_index` are the
    /// positions of the key columns.
    pub fn last_per_key(&self, key_index: &[usize]) -> Frozen {
        let mut slot: HashMap<Vec<u8>, usize> = HashMap::with_capacity(self.starts.len());
        // for each kept position, the row it holds
        let mut kept: Vec<usize> = Vec::with_capacity(self.starts.len());
        for i in 0..self.starts.len() {
            let key = key_bytes(self.row(i), key_index);
            match slot.get(&key) {
                Some(&at) => kept[at] = i,
                None => {
                    slot.insert(key, kept.len());
                    kept.push(i);
                }
            }
        }
        if kept.len() == self.starts.len() {
            return self.clone();
        }
        let mut out = BytesMut::with_capacity(self.data.len());
        let mut starts = Vec::with_capacity(kept.len());
        for i in kept {
            starts.push(out.len());
            out.extend_from_slice(self.row(i));
        }
        Frozen {
            data: out.freeze(),
            starts,
        }
    }

    /// Sends the rows as `COPY … FROM STDIN (FORMAT binary)` to `sql`'s
    /// target; the number of rows the server took.
    pub async fn copy(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        sql: &str,
    ) -> Result<u64, tokio_postgres::Error> {
        let sink = tx.copy_in::<_, Bytes>(sql).await?;
        futures::pin_mut!(sink);
        sink.as_mut().send(Bytes::from_static(HEADER)).await?;
        let mut at = 0;
        while at < self.data.len() {
            let end = (at + PIECE).min(self.data.len());
            // a slice of the frozen buffer: nothing is copied
            sink.as_mut().send(self.data.slice(at..end)).await?;
            at = end;
        }
        sink.as_mut()
            .send(Bytes::from_static(&[0xff, 0xff]))
            .await?;
        sink.finish().await
    }
}

/// The key columns' bytes of one encoded row (each with its length, so
/// NULL and the empty string differ).
fn key_bytes(row: &[u8], key_index: &[usize]) -> Vec<u8> {
    let mut key = Vec::new();
    let mut at = 2;
    let count = i16::from_be_bytes([row[0], row[1]]).max(0) as usize;
    for field in 0..count {
        let len = i32::from_be_bytes([row[at], row[at + 1], row[at + 2], row[at + 3]]);
        let end = at + 4 + len.max(0) as usize;
        if key_index.contains(&field) {
            key.extend_from_slice(&row[at..end]);
        }
        at = end;
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: &[(i64, Option<&str>)]) -> Frozen {
        let mut r = CopyRows::default();
        for (id, name) in values {
            let name = name.map_or(Param::Null, |n| Param::Text(n.to_string()));
            r.push(&[Param::I64(*id), name], &[PgType::INT8, PgType::TEXT])
                .expect("encodes");
        }
        r.freeze()
    }

    #[test]
    fn rows_are_encoded_as_copy_binary() {
        let r = rows(&[(1, Some("ab")), (2, None)]);
        assert_eq!(
            &r.data[..],
            [
                &[0, 2][..],
                &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1],
                &[0, 0, 0, 2, b'a', b'b'],
                &[0, 2],
                &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2],
                &[0xff, 0xff, 0xff, 0xff],
            ]
            .concat()
        );
        assert_eq!(r.starts, [0, 20]);
    }

    #[test]
    fn a_repeated_key_keeps_its_last_row_at_its_first_place() {
        let r = rows(&[(1, Some("a")), (2, Some("b")), (1, Some("c")), (3, None)]);
        let kept = r.last_per_key(&[0]);
        assert_eq!(kept.starts.len(), 3);
        assert_eq!(kept.row(0), r.row(2));
        assert_eq!(kept.row(1), r.row(1));
        assert_eq!(kept.row(2), r.row(3));
        // by name: NULL and "a" differ, so nothing is dropped
        assert_eq!(r.last_per_key(&[1]).starts.len(), 4);
    }

    #[test]
    fn a_range_holds_those_rows_only() {
        let r = rows(&[(1, Some("a")), (2, None), (3, Some("ccc"))]);
        let mid = r.range(1, 3);
        assert_eq!(mid.starts.len(), 2);
        assert_eq!(mid.row(0), r.row(1));
        assert_eq!(mid.row(1), r.row(2));
        assert_eq!(r.range(0, 1).row(0), r.row(0));
        assert_eq!(r.range(2, 2).starts.len(), 0);
    }

    #[test]
    fn a_value_that_does_not_encode_leaves_nothing_behind() {
        let mut r = CopyRows::default();
        r.push(&[Param::I64(1)], &[PgType::INT8]).expect("encodes");
        let len = r.data.len();
        // a watermark start has no value for bytea
        let bad = r.push(
            &[Param::I64(2), Param::Lowest],
            &[PgType::INT8, PgType::BYTEA],
        );
        assert!(bad.is_err());
        assert_eq!((r.len(), r.data.len()), (1, len));
    }
}
