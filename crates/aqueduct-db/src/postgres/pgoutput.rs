//! Decoding the messages of PostgreSQL's `pgoutput` logical decoding plugin
//! (protocol version 1, as returned by `pg_logical_slot_peek_binary_changes`;
//! see "Logical Replication Message Formats" in the PostgreSQL manual).
//!
//! Only what a change stream needs is decoded: Begin, Commit, Relation,
//! Insert, Update and Delete. Origin, Type, Truncate and logical decoding
//! messages come back as [`Message::Other`]. Integers are big-endian;
//! strings end with a zero byte.

/// One decoded message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A transaction starts; `final_lsn` is the LSN of its commit record.
    Begin {
        /// LSN of the commit record.
        final_lsn: u64,
        /// Commit time, microseconds since 2000-01-01 UTC.
        commit_time: i64,
    },
    /// A transaction ends; the slot may be advanced to `end_lsn`.
    Commit {
        /// LSN just past the transaction.
        end_lsn: u64,
    },
    /// The columns of a table, sent before its first change in a session.
    Relation(Relation),
    /// A new row.
    Insert {
        /// Relation id.
        rel: u32,
        /// The row.
        new: Vec<Datum>,
    },
    /// A changed row; `old` is the old key or row when the replica identity sends it.
    Update {
        /// Relation id.
        rel: u32,
        /// The old key (`K`) or old row (`O`), if sent.
        old: Option<Vec<Datum>>,
        /// The row after the update.
        new: Vec<Datum>,
    },
    /// A removed row: its key columns (or every column with REPLICA IDENTITY FULL).
    Delete {
        /// Relation id.
        rel: u32,
        /// The old key or old row.
        old: Vec<Datum>,
    },
    /// Any other message (origin, type, truncate, logical message).
    Other(u8),
}

/// A table's description.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    /// Relation id, as used by the change messages.
    pub id: u32,
    /// Schema name.
    pub namespace: String,
    /// Table name.
    pub name: String,
    /// The columns, in tuple order.
    pub columns: Vec<Column>,
}

/// One column of a [`Relation`].
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Part of the replica identity (the key a delete carries).
    pub key: bool,
    /// Column name.
    pub name: String,
    /// Type OID.
    pub type_oid: u32,
}

/// One column value of a tuple.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    /// SQL NULL (also every non-key column of an old key).
    Null,
    /// A TOASTed value the update did not change; its value is not sent.
    Unchanged,
    /// The value in text format.
    Text(Vec<u8>),
    /// The value in binary (send) format.
    Binary(Vec<u8>),
}

/// Decodes one message.
pub fn decode(data: &[u8]) -> Result<Message, String> {
    let mut r = Reader { data, at: 0 };
    let tag = r.u8()?;
    Ok(match tag {
        b'B' => {
            let final_lsn = r.u64()?;
            let commit_time = r.u64()? as i64;
            Message::Begin {
                final_lsn,
                commit_time,
            }
        }
        b'C' => {
            let _flags = r.u8()?;
            let _commit_lsn = r.u64()?;
            Message::Commit { end_lsn: r.u64()? }
        }
        b'R' => {
            let id = r.u32()?;
            let namespace = r.string()?;
            let name = r.string()?;
            let _identity = r.u8()?;
            let count = r.u16()?;
            let mut columns = Vec::with_capacity(count.into());
            for _ in 0..count {
                let flags = r.u8()?;
                let name = r.string()?;
                let type_oid = r.u32()?;
                let _modifier = r.u32()?;
                columns.push(Column {
                    key: flags & 1 == 1,
                    name,
                    type_oid,
                });
            }
            Message::Relation(Relation {
                id,
                namespace,
                name,
                columns,
            })
        }
        b'I' => {
            let rel = r.u32()?;
            r.expect(b'N')?;
            Message::Insert {
                rel,
                new: r.tuple()?,
            }
        }
        b'U' => {
            let rel = r.u32()?;
            let mut old = None;
            let mut kind = r.u8()?;
            if kind == b'K' || kind == b'O' {
                old = Some(r.tuple()?);
                kind = r.u8()?;
            }
            if kind != b'N' {
                return Err(format!("update: expected `N`, found {kind:#04x}"));
            }
            Message::Update {
                rel,
                old,
                new: r.tuple()?,
            }
        }
        b'D' => {
            let rel = r.u32()?;
            let kind = r.u8()?;
            if kind != b'K' && kind != b'O' {
                return Err(format!("delete: expected `K` or `O`, found {kind:#04x}"));
            }
            Message::Delete {
                rel,
                old: r.tuple()?,
            }
        }
        other => Message::Other(other),
    })
}

/// A cursor over a message's bytes; every read checks the length.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.data.len());
        let Some(end) = end else {
            return Err(format!(
                "message ends after {} bytes, {n} more expected at {}",
                self.data.len(),
                self.at
            ));
        };
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn expect(&mut self, want: u8) -> Result<(), String> {
        match self.u8()? {
            got if got == want => Ok(()),
            got => Err(format!("expected `{}`, found {got:#04x}", want as char)),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let rest = self.data.get(self.at..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or("a string without its closing zero byte")?;
        let text = String::from_utf8_lossy(self.take(len)?).into_owned();
        self.at += 1;
        Ok(text)
    }

    fn tuple(&mut self) -> Result<Vec<Datum>, String> {
        let count = self.u16()?;
        let mut out = Vec::with_capacity(count.into());
        for _ in 0..count {
            out.push(match self.u8()? {
                b'n' => Datum::Null,
                b'u' => Datum::Unchanged,
                kind @ (b't' | b'b') => {
                    let len = self.u32()? as usize;
                    let bytes = self.take(len)?.to_vec();
                    if kind == b't' {
                        Datum::Text(bytes)
                    } else {
                        Datum::Binary(bytes)
                    }
                }
                other => return Err(format!("unknown column kind {other:#04x}")),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_transaction_with_every_change_kind() {
        let mut begin = vec![b'B'];
        begin.extend(0x10u64.to_be_bytes());
        begin.extend(5i64.to_be_bytes());
        begin.extend(7u32.to_be_bytes());
        assert_eq!(
            decode(&begin),
            Ok(Message::Begin {
                final_lsn: 0x10,
                commit_time: 5
            })
        );

        let mut rel = vec![b'R'];
        rel.extend(42u32.to_be_bytes());
        rel.extend(b"public\0t\0d");
        rel.extend(2u16.to_be_bytes());
        rel.extend([1]);
        rel.extend(b"id\0");
        rel.extend(20u32.to_be_bytes());
        rel.extend((-1i32).to_be_bytes());
        rel.extend([0]);
        rel.extend(b"name\0");
        rel.extend(25u32.to_be_bytes());
        rel.extend((-1i32).to_be_bytes());
        let Ok(Message::Relation(r)) = decode(&rel) else {
            panic!("a relation")
        };
        assert_eq!((r.id, r.name.as_str(), r.columns.len()), (42, "t", 2));
        assert!(r.columns[0].key && !r.columns[1].key);

        let mut del = vec![b'D'];
        del.extend(42u32.to_be_bytes());
        del.push(b'K');
        del.extend(2u16.to_be_bytes());
        del.push(b'b');
        del.extend(8u32.to_be_bytes());
        del.extend(3i64.to_be_bytes());
        del.push(b'n');
        assert_eq!(
            decode(&del),
            Ok(Message::Delete {
                rel: 42,
                old: vec![Datum::Binary(3i64.to_be_bytes().to_vec()), Datum::Null]
            })
        );

        let mut upd = vec![b'U'];
        upd.extend(42u32.to_be_bytes());
        upd.push(b'N');
        upd.extend(1u16.to_be_bytes());
        upd.push(b'u');
        assert_eq!(
            decode(&upd),
            Ok(Message::Update {
                rel: 42,
                old: None,
                new: vec![Datum::Unchanged]
            })
        );

        let mut commit = vec![b'C', 0];
        commit.extend(0x10u64.to_be_bytes());
        commit.extend(0x18u64.to_be_bytes());
        commit.extend(5i64.to_be_bytes());
        assert_eq!(decode(&commit), Ok(Message::Commit { end_lsn: 0x18 }));
    }

    #[test]
    fn a_short_message_is_an_error_not_a_panic() {
        assert!(decode(b"B\0\0").is_err());
        assert!(decode(b"D\0\0\0\x2aK\0\x01b\0\0\0\x08\0").is_err());
        assert!(decode(b"R\0\0\0\x2apublic").is_err());
        assert_eq!(decode(b"T"), Ok(Message::Other(b'T')));
    }
}
