//! A value of a row-based binlog event in the aqueduct type closest to its
//! column's type, the same value `query` reads from that column.
//!
//! The binlog is not the client protocol: without the optional table-map
//! metadata (`binlog_row_metadata = FULL`, off by default) an integer
//! carries no unsigned flag, an `ENUM` comes as its 1-based index, a `SET`
//! as its bit mask, `YEAR` as text and `TIMESTAMP` as seconds since 1970.
//! The column as `information_schema` described it at start-up supplies
//! what the event leaves out.

use super::types::ColumnInfo;
use crate::values::Natural;
use aqueduct_runtime::value::Value;
use mysql_async::Value as MyValue;
use mysql_async::binlog::value::BinlogValue;
use rust_decimal::Decimal;
use std::sync::Arc;

/// A binlog value in the aqueduct type closest to its column's type.
pub(crate) fn natural(value: BinlogValue<'static>, column: &ColumnInfo) -> Result<Value, String> {
    let value = match value {
        BinlogValue::Value(v) => v,
        BinlogValue::Jsonb(j) => {
            let json = serde_json::Value::try_from(j).map_err(|e| format!("bad JSON: {e}"))?;
            return Ok(Value::Json(Arc::new(json)));
        }
        BinlogValue::JsonDiff(_) => {
            return Err(
                "partial JSON updates are not supported; set binlog_row_value_options = ''"
                    .to_string(),
            );
        }
    };
    let ty = column.data_type.as_str();
    Ok(match value {
        MyValue::NULL => Value::Null,
        MyValue::Int(i) if ty == "enum" => member(column, i)?,
        MyValue::Int(i) => unsigned(i, column).unwrap_or(Value::Int(i)),
        MyValue::UInt(u) => match i64::try_from(u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Decimal(Decimal::from(u)),
        },
        MyValue::Float(f) => Value::Float(f64::from(f)),
        MyValue::Double(f) => Value::Float(f),
        MyValue::Date(y, mo, d, h, mi, s, us) => {
            let date = chrono::NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d))
                .ok_or_else(|| format!("{y:04}-{mo:02}-{d:02} is not a date"))?;
            if ty == "date" {
                Value::Date(date)
            } else {
                let t = date
                    .and_hms_micro_opt(u32::from(h), u32::from(mi), u32::from(s), us)
                    .ok_or("not a time of day")?;
                Value::Timestamp(t.and_utc())
            }
        }
        MyValue::Time(neg, days, h, m, s, us) => {
            let hours = u64::from(days) * 24 + u64::from(h);
            let sign = if neg { "-" } else { "" };
            Value::String(Arc::from(format!("{sign}{hours:02}:{m:02}:{s:02}.{us:06}")))
        }
        MyValue::Bytes(b) => {
            let text = || std::str::from_utf8(&b).map_err(|_| "text is not UTF-8".to_string());
            match ty {
                "decimal" => {
                    // never `FromStr`, which rounds what does not fit
                    Value::Decimal(aqueduct_runtime::value::json::parse_decimal(text()?)?)
                }
                // TIMESTAMP columns come as seconds since 1970 (with a fraction)
                "timestamp" => {
                    let t = text()?;
                    let (secs, frac) = t.split_once('.').unwrap_or((t, "0"));
                    let secs: i64 = secs.parse().map_err(|_| format!("bad timestamp {t}"))?;
                    let micros: u32 = format!("{frac:0<6}")
                        .get(..6)
                        .unwrap_or("0")
                        .parse()
                        .map_err(|_| format!("bad timestamp {t}"))?;
                    Value::Timestamp(
                        chrono::DateTime::from_timestamp(secs, micros * 1000)
                            .ok_or_else(|| format!("bad timestamp {t}"))?,
                    )
                }
                "year" => year(text()?)?,
                "set" => members(column, &b)?,
                "json" => Value::Json(Arc::new(
                    serde_json::from_slice(&b).map_err(|e| format!("bad JSON: {e}"))?,
                )),
                "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
                    Value::Bytes(Arc::from(b.as_slice()))
                }
                _ => Value::String(Arc::from(text()?)),
            }
        }
    })
}

/// The kind of value [`natural`] reads from `column` (start-up preflight):
/// integers and `YEAR` as ints (an `UNSIGNED BIGINT` above the signed
/// maximum as a decimal), `ENUM`, `SET`, `TIME` and text as strings, `JSON`
/// as json (MariaDB's JSON is `LONGTEXT`: a string holding JSON text),
/// binary strings and blobs as bytes. A type the table maps no further
/// (`BIT`, spatial types) comes as its bytes read as text.
pub(crate) fn natural_kind(column: &ColumnInfo) -> Natural {
    match column.data_type.as_str() {
        _ if column.int_bits().is_some() => Natural::Int,
        "year" => Natural::Int,
        "float" | "double" | "real" => Natural::Float,
        "decimal" => Natural::Decimal,
        "date" => Natural::Date,
        "datetime" | "timestamp" => Natural::Timestamp,
        "json" => Natural::Json,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => Natural::Bytes,
        _ => Natural::String,
    }
}

/// An integer of an `UNSIGNED` column that the event decoded as signed
/// (a value above the signed maximum wraps to a negative one): the
/// unsigned value, a decimal above `i64::MAX`. `None` when `i` needs no
/// change.
fn unsigned(i: i64, column: &ColumnInfo) -> Option<Value> {
    if i >= 0 || !column.unsigned() {
        return None;
    }
    let bits = column.int_bits()?;
    // two's complement: the low `bits` bits are the unsigned value
    let u = if bits == 64 {
        i as u64
    } else {
        (i as u64) & ((1u64 << bits) - 1)
    };
    Some(match i64::try_from(u) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Decimal(Decimal::from(u)),
    })
}

/// An `ENUM` value from its 1-based index; 0 is the empty string MySQL
/// stores for a value it could not take.
fn member(column: &ColumnInfo, index: i64) -> Result<Value, String> {
    if index == 0 {
        return Ok(Value::String(Arc::from("")));
    }
    usize::try_from(index - 1)
        .ok()
        .and_then(|i| column.labels.get(i))
        .map(|label| Value::String(Arc::from(label.as_str())))
        .ok_or_else(|| {
            format!(
                "ENUM index {index} is not a member of {} (the table changed after start-up?)",
                column.column_type
            )
        })
}

/// A `SET` value from its bit mask (little-endian, bit `i` for the `i`-th
/// member): the members, comma-separated, as `query` reads them.
fn members(column: &ColumnInfo, mask: &[u8]) -> Result<Value, String> {
    let mut chosen = Vec::new();
    for (byte, bits) in mask.iter().enumerate() {
        for bit in 0..8 {
            if bits & (1 << bit) == 0 {
                continue;
            }
            let label = column.labels.get(byte * 8 + bit).ok_or_else(|| {
                format!(
                    "SET member {} is not in {} (the table changed after start-up?)",
                    byte * 8 + bit + 1,
                    column.column_type
                )
            })?;
            chosen.push(label.as_str());
        }
    }
    Ok(Value::String(Arc::from(chosen.join(","))))
}

/// A `YEAR` value from the event's text, which spells the stored 0 (year
/// `0000`) as 1900.
fn year(text: &str) -> Result<Value, String> {
    let y: i64 = text.parse().map_err(|_| format!("bad YEAR {text}"))?;
    Ok(Value::Int(if y == 1900 { 0 } else { y }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(data_type: &str, column_type: &str, labels: &[&str]) -> ColumnInfo {
        ColumnInfo {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            max_chars: None,
            precision: None,
            scale: None,
            not_null: false,
            has_default: false,
        }
    }

    fn read(v: MyValue, c: &ColumnInfo) -> Result<Value, String> {
        natural(BinlogValue::Value(v), c)
    }

    #[test]
    fn unsigned_integers_decoded_as_signed_get_their_value_back() {
        let big = column("bigint", "bigint(20) unsigned", &[]);
        assert_eq!(
            read(MyValue::Int(-1), &big),
            Ok(Value::Decimal(Decimal::from(u64::MAX)))
        );
        assert_eq!(read(MyValue::Int(7), &big), Ok(Value::Int(7)));
        let int = column("int", "int(10) unsigned", &[]);
        assert_eq!(read(MyValue::Int(-1), &int), Ok(Value::Int(4_294_967_295)));
        let tiny = column("tinyint", "tinyint(3) unsigned", &[]);
        assert_eq!(read(MyValue::Int(-56), &tiny), Ok(Value::Int(200)));
        let medium = column("mediumint", "mediumint(8) unsigned", &[]);
        assert_eq!(read(MyValue::Int(-1), &medium), Ok(Value::Int(16_777_215)));
        // a signed column keeps its negative values
        let signed = column("bigint", "bigint(20)", &[]);
        assert_eq!(read(MyValue::Int(-1), &signed), Ok(Value::Int(-1)));
    }

    #[test]
    fn enum_and_set_come_as_their_members_and_year_as_an_int() {
        let kind = column("enum", "enum('small','big')", &["Small", "Big"]);
        assert_eq!(
            read(MyValue::Int(2), &kind),
            Ok(Value::String(Arc::from("Big")))
        );
        assert_eq!(
            read(MyValue::Int(0), &kind),
            Ok(Value::String(Arc::from("")))
        );
        assert!(read(MyValue::Int(3), &kind).is_err());
        let labels: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let tags = column("set", "set(…)", &labels);
        assert_eq!(
            read(MyValue::Bytes(vec![0b0000_0101, 0b10]), &tags),
            Ok(Value::String(Arc::from("m0,m2,m9")))
        );
        assert_eq!(
            read(MyValue::Bytes(vec![0, 0]), &tags),
            Ok(Value::String(Arc::from("")))
        );
        let y = column("year", "year(4)", &[]);
        assert_eq!(
            read(MyValue::Bytes(b"2024".to_vec()), &y),
            Ok(Value::Int(2024))
        );
        assert_eq!(
            read(MyValue::Bytes(b"1900".to_vec()), &y),
            Ok(Value::Int(0))
        );
    }

    #[test]
    fn natural_kind_is_the_kind_natural_reads() {
        let cases = [
            ("tinyint", "tinyint(1)", MyValue::Int(1)),
            ("int", "int(11)", MyValue::Int(-3)),
            ("bigint", "bigint(20) unsigned", MyValue::Int(5)),
            ("year", "year(4)", MyValue::Bytes(b"2024".to_vec())),
            ("float", "float", MyValue::Float(1.5)),
            ("double", "double", MyValue::Double(1.5)),
            ("decimal", "decimal(10,2)", MyValue::Bytes(b"1.25".to_vec())),
            ("date", "date", MyValue::Date(2024, 2, 29, 0, 0, 0, 0)),
            (
                "datetime",
                "datetime(6)",
                MyValue::Date(2024, 2, 29, 1, 2, 3, 4),
            ),
            (
                "timestamp",
                "timestamp",
                MyValue::Bytes(b"1700000000.5".to_vec()),
            ),
            ("time", "time", MyValue::Time(false, 0, 1, 2, 3, 0)),
            ("varchar", "varchar(40)", MyValue::Bytes(b"x".to_vec())),
            ("longtext", "longtext", MyValue::Bytes(b"{}".to_vec())),
            ("json", "json", MyValue::Bytes(b"{\"a\": 1}".to_vec())),
            ("varbinary", "varbinary(16)", MyValue::Bytes(vec![0, 255])),
            ("blob", "blob", MyValue::Bytes(vec![1])),
            ("enum", "enum('a')", MyValue::Int(1)),
            ("set", "set('a')", MyValue::Bytes(vec![1])),
        ];
        for (data_type, column_type, value) in cases {
            let c = column(data_type, column_type, &["a"]);
            let read = read(value, &c).expect("reads");
            assert_eq!(
                format!("{:?}", natural_kind(&c)).to_lowercase(),
                read.kind_name(),
                "{column_type}"
            );
        }
    }
}
