//! Rows as `LOAD DATA LOCAL INFILE` text, for loading batch chunks.
//!
//! A batch `insert`/`upsert` target encodes each record, already checked
//! against its columns ([`super::types::encode`]), as one line of the
//! server's default `LOAD DATA` format as it is written: fields separated
//! by tabs, lines by newlines, `\N` for NULL, and backslash escapes for
//! backslash, tab, newline, carriage return and NUL. The chunk's load
//! hands the text to the server through mysql_async's one-shot infile
//! handler, in pieces of [`PIECE`] bytes, never through a file.
//!
//! Tables with binary or `BIT` columns are not loaded this way (the text
//! is read as `utf8mb4`); [`suits`] says which.

use super::types::ColumnInfo;
use bytes::{BufMut, Bytes, BytesMut};
use mysql_async::Value as MyValue;
use std::io::Write;

/// The bytes of one piece handed to the server.
const PIECE: usize = 1 << 20;

/// Whether rows of these columns can go through `LOAD DATA` text.
pub fn suits(columns: &[ColumnInfo]) -> bool {
    columns.iter().all(|c| {
        !matches!(
            c.data_type.as_str(),
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "bit"
        )
    })
}

/// The lines of one chunk.
#[derive(Debug, Default)]
pub struct TextRows {
    data: BytesMut,
    rows: usize,
}

impl TextRows {
    /// Appends one row.
    pub fn push(&mut self, row: &[MyValue]) {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                self.data.put_u8(b'\t');
            }
            field(&mut self.data, v);
        }
        self.data.put_u8(b'\n');
        self.rows += 1;
    }

    /// The text, frozen for loading (and loading again after a failure).
    pub fn freeze(self) -> (Bytes, usize) {
        (self.data.freeze(), self.rows)
    }
}

/// One field's text.
fn field(out: &mut BytesMut, v: &MyValue) {
    let mut w = out.writer();
    // writes into memory cannot fail
    let _ = match v {
        MyValue::NULL => w.write_all(b"\\N"),
        MyValue::Bytes(b) => {
            let out = w.get_mut();
            for &c in b {
                match c {
                    b'\\' => out.put_slice(b"\\\\"),
                    b'\t' => out.put_slice(b"\\t"),
                    b'\n' => out.put_slice(b"\\n"),
                    b'\r' => out.put_slice(b"\\r"),
                    0 => out.put_slice(b"\\0"),
                    c => out.put_u8(c),
                }
            }
            Ok(())
        }
        MyValue::Int(i) => write!(w, "{i}"),
        MyValue::UInt(u) => write!(w, "{u}"),
        MyValue::Float(f) => write!(w, "{f}"),
        MyValue::Double(f) => write!(w, "{f}"),
        MyValue::Date(y, m, d, h, mi, s, us) => {
            write!(w, "{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
        }
        MyValue::Time(neg, days, h, mi, s, us) => {
            let sign = if *neg { "-" } else { "" };
            let hours = u64::from(*days) * 24 + u64::from(*h);
            write!(w, "{sign}{hours:02}:{mi:02}:{s:02}.{us:06}")
        }
    };
}

/// The text back as values (text, or NULL), for the statement path that
/// names the row a `LOAD DATA` could not load.
pub fn parse(data: &[u8]) -> Vec<Vec<MyValue>> {
    let mut rows = Vec::new();
    for line in data.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let row = line
            .split(|&c| c == b'\t')
            .map(|f| {
                if f == b"\\N" {
                    return MyValue::NULL;
                }
                let mut out = Vec::with_capacity(f.len());
                let mut escaped = false;
                for &c in f {
                    if escaped {
                        out.push(match c {
                            b't' => b'\t',
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b'0' => 0,
                            other => other,
                        });
                        escaped = false;
                    } else if c == b'\\' {
                        escaped = true;
                    } else {
                        out.push(c);
                    }
                }
                MyValue::Bytes(out)
            })
            .collect();
        rows.push(row);
    }
    rows
}

/// The text in pieces for the infile handler (slices: nothing is copied).
pub fn pieces(data: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(data.len() / PIECE + 1);
    let mut at = 0;
    while at < data.len() {
        let end = (at + PIECE).min(data.len());
        out.push(data.slice(at..end));
        at = end;
    }
    out
}

/// `LOAD DATA LOCAL INFILE` of the handler's text into `table` (`cols`).
pub fn statement(table: &str, cols: &str) -> String {
    format!("LOAD DATA LOCAL INFILE 'aqueduct' INTO TABLE {table} CHARACTER SET utf8mb4 ({cols})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_escaped_and_parse_back() {
        let mut rows = TextRows::default();
        let row = vec![
            MyValue::Int(-7),
            MyValue::Bytes(b"a\tb\\c\nd\r\0e".to_vec()),
            MyValue::NULL,
            MyValue::Date(2026, 3, 1, 8, 15, 0, 123_456),
            MyValue::Bytes(b"\\N".to_vec()),
        ];
        rows.push(&row);
        let (data, n) = rows.freeze();
        assert_eq!(n, 1);
        assert_eq!(
            &data[..],
            b"-7\ta\\tb\\\\c\\nd\\r\\0e\t\\N\t2026-03-01 08:15:00.123456\t\\\\N\n"
        );
        let back = parse(&data);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0][0], MyValue::Bytes(b"-7".to_vec()));
        assert_eq!(back[0][1], row[1]);
        assert_eq!(back[0][2], MyValue::NULL);
        assert_eq!(back[0][4], row[4]);
    }
}
