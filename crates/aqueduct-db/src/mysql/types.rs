//! Values to and from MySQL/MariaDB columns.
//!
//! Writing: each value is checked against its column ([`encode`]) before
//! anything is sent: an int out of the column's range, a decimal with more
//! digits than `DECIMAL(p,s)` holds, a string longer than the column, or a
//! value of the wrong kind is an error for that record alone, naming the
//! column and the reason (so one bad record never fails a multi-row
//! statement). Reading: each column is decoded by its type ([`natural`])
//! and converted to the field's type ([`crate::values::convert`]).
//!
//! | MySQL / MariaDB | aqueduct |
//! |---|---|
//! | `TINYINT` … `BIGINT` (`TINYINT(1)`/`BOOLEAN` also as `bool`) | `int` |
//! | `FLOAT`, `DOUBLE` | `float` |
//! | `DECIMAL` | `decimal` (exact, as text on the wire; more digits than a decimal holds is an error) |
//! | `CHAR`, `VARCHAR`, `TEXT`s, `ENUM` | `string` |
//! | `DATE` | `date` |
//! | `DATETIME`, `TIMESTAMP` (session time zone UTC) | `timestamp` |
//! | `JSON` (MariaDB: `LONGTEXT` checked as JSON) | `json`, lists, records |
//! | `BINARY`, `VARBINARY`, `BLOB`s | `bytes` |
//! | NULL | null of an optional field |

use aqueduct_runtime::value::Value;
use aqueduct_runtime::value::json::parse_decimal;
use chrono::{Datelike, NaiveDate, Timelike};
use mysql_async::consts::ColumnType;
use mysql_async::{Column, Value as MyValue};
use rust_decimal::Decimal;
use std::sync::Arc;

/// A column of a table, as `information_schema.COLUMNS` describes it.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    /// Its name.
    pub name: String,
    /// `DATA_TYPE` (`int`, `varchar`, `decimal`, …), lower case.
    pub data_type: String,
    /// `COLUMN_TYPE` (`int(10) unsigned`, `tinyint(1)`, …), lower case.
    pub column_type: String,
    /// The members of an `ENUM` or `SET` column, in declared order and
    /// case (the binlog carries an index or a bit mask, not the text).
    pub labels: Vec<String>,
    /// `CHARACTER_MAXIMUM_LENGTH`.
    pub max_chars: Option<u64>,
    /// `NUMERIC_PRECISION`, `NUMERIC_SCALE` (decimals).
    pub precision: Option<u64>,
    /// See `precision`.
    pub scale: Option<u64>,
    /// `IS_NULLABLE = 'NO'`.
    pub not_null: bool,
    /// Has a default or is `AUTO_INCREMENT`/generated.
    pub has_default: bool,
}

impl ColumnInfo {
    pub(crate) fn unsigned(&self) -> bool {
        self.column_type.contains("unsigned")
    }

    /// The width in bits of an integer column; `None` for other types.
    pub(crate) fn int_bits(&self) -> Option<u32> {
        Some(match self.data_type.as_str() {
            "tinyint" => 8,
            "smallint" => 16,
            "mediumint" => 24,
            "int" | "integer" => 32,
            "bigint" => 64,
            _ => return None,
        })
    }

    fn int_range(&self) -> Option<(i128, i128)> {
        let bits = self.int_bits()?;
        Some(if self.unsigned() {
            (0, (1i128 << bits) - 1)
        } else {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        })
    }

    fn is_text(&self) -> bool {
        matches!(
            self.data_type.as_str(),
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set"
        )
    }

    fn is_binary(&self) -> bool {
        matches!(
            self.data_type.as_str(),
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob"
        )
    }

    fn is_float(&self) -> bool {
        matches!(self.data_type.as_str(), "float" | "double" | "real")
    }
}

fn datetime(t: &chrono::DateTime<chrono::Utc>) -> MyValue {
    MyValue::Date(
        t.year() as u16,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.timestamp_subsec_micros(),
    )
}

/// Converts `value` for `column`; the error says why it cannot (the
/// caller names the column).
pub fn encode(value: &Value, column: &ColumnInfo) -> Result<MyValue, String> {
    let c = column;
    let ty = &c.column_type;
    let int = |i: i128| -> Result<MyValue, String> {
        if let Some((lo, hi)) = c.int_range()
            && (i < lo || i > hi)
        {
            return Err(format!("{i} is out of range for {ty}"));
        }
        Ok(match i64::try_from(i) {
            Ok(v) => MyValue::Int(v),
            Err(_) => MyValue::UInt(u64::try_from(i).map_err(|_| format!("{i} is out of range"))?),
        })
    };
    let text = |s: String| -> Result<MyValue, String> {
        if let Some(max) = c.max_chars
            && s.chars().count() as u64 > max
        {
            return Err(format!("{} characters do not fit {ty}", s.chars().count()));
        }
        Ok(MyValue::Bytes(s.into_bytes()))
    };
    Ok(match value {
        Value::Null => MyValue::NULL,
        Value::Json(j) if j.is_null() => MyValue::NULL,
        Value::Json(j) => match j.as_ref() {
            serde_json::Value::Bool(b) if !c.is_text() => encode(&Value::Bool(*b), c)?,
            serde_json::Value::Number(n) if !c.is_text() => match n.as_i64() {
                Some(i) => encode(&Value::Int(i), c)?,
                None => match n.to_string().parse::<Decimal>() {
                    Ok(d) => encode(&Value::Decimal(d), c)?,
                    Err(_) => encode(&Value::Float(n.as_f64().unwrap_or(f64::NAN)), c)?,
                },
            },
            serde_json::Value::String(s) if !c.is_text() && c.data_type != "json" => {
                encode(&Value::String(Arc::from(s.as_str())), c)?
            }
            other if c.is_text() || c.data_type == "json" => text(other.to_string())?,
            _ => return Err(format!("cannot write JSON to {ty}")),
        },
        _ if c.data_type == "json" => text(value.to_json().to_string())?,
        Value::Bool(b) => match c.data_type.as_str() {
            "tinyint" | "bit" | "smallint" | "int" | "bigint" => MyValue::Int(i64::from(*b)),
            _ if c.is_text() => text(b.to_string())?,
            _ => return Err(format!("cannot write a bool to {ty}")),
        },
        Value::Int(i) => match () {
            _ if c.int_range().is_some() => int(i128::from(*i))?,
            _ if c.is_float() => MyValue::Double(*i as f64),
            _ if c.data_type == "decimal" => encode(&Value::Decimal(Decimal::from(*i)), c)?,
            _ if c.is_text() => text(i.to_string())?,
            _ => return Err(format!("cannot write an int to {ty}")),
        },
        Value::Float(f) => match () {
            _ if c.is_float() => MyValue::Double(*f),
            _ if c.data_type == "decimal" => encode(
                &Value::Decimal(
                    Decimal::try_from(*f).map_err(|_| format!("{f} is not a decimal"))?,
                ),
                c,
            )?,
            _ if c.int_range().is_some() && f.fract() == 0.0 && f.is_finite() => int(*f as i128)?,
            _ if c.is_text() => text(f.to_string())?,
            _ => return Err(format!("cannot write a float to {ty}")),
        },
        Value::Decimal(d) => match () {
            _ if c.data_type == "decimal" => {
                let scale = c.scale.unwrap_or(0) as u32;
                let precision = c.precision.unwrap_or(65) as u32;
                let n = d.normalize();
                if n.scale() > scale {
                    return Err(format!("{d} has more than {scale} decimal places ({ty})"));
                }
                let whole = n.trunc().abs().to_string().trim_start_matches('0').len() as u32;
                if whole > precision - scale {
                    return Err(format!("{d} is out of range for {ty}"));
                }
                MyValue::Bytes(d.to_string().into_bytes())
            }
            _ if c.is_float() => MyValue::Bytes(d.to_string().into_bytes()),
            _ if c.int_range().is_some() => {
                if !d.fract().is_zero() {
                    return Err(format!("{d} is not a whole number"));
                }
                int(d.trunc().mantissa() / 10i128.pow(d.scale()))?
            }
            _ if c.is_text() => text(d.to_string())?,
            _ => return Err(format!("cannot write a decimal to {ty}")),
        },
        Value::String(s) => match () {
            _ if c.is_text() => text(s.to_string())?,
            _ if c.is_binary() => MyValue::Bytes(s.as_bytes().to_vec()),
            _ if c.int_range().is_some() => int(s
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not an integer"))?)?,
            _ if c.data_type == "decimal" => encode(&Value::Decimal(parse_decimal(s)?), c)?,
            _ if c.data_type == "date" => encode(
                &Value::Date(
                    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                        .map_err(|_| format!("`{s}` is not a date"))?,
                ),
                c,
            )?,
            _ if matches!(c.data_type.as_str(), "datetime" | "timestamp") => encode(
                &Value::Timestamp(
                    chrono::DateTime::parse_from_rfc3339(s.trim())
                        .map_err(|_| format!("`{s}` is not an RFC 3339 timestamp"))?
                        .with_timezone(&chrono::Utc),
                ),
                c,
            )?,
            _ => MyValue::Bytes(s.as_bytes().to_vec()),
        },
        Value::Timestamp(t) => match c.data_type.as_str() {
            "datetime" | "timestamp" => datetime(t),
            _ if c.is_text() => text(value.to_text())?,
            _ => return Err(format!("cannot write a timestamp to {ty}")),
        },
        Value::Date(d) => match c.data_type.as_str() {
            "date" | "datetime" | "timestamp" => {
                MyValue::Date(d.year() as u16, d.month() as u8, d.day() as u8, 0, 0, 0, 0)
            }
            _ if c.is_text() => text(d.to_string())?,
            _ => return Err(format!("cannot write a date to {ty}")),
        },
        Value::Bytes(b) => match () {
            _ if c.is_binary() => {
                if let Some(max) = c.max_chars
                    && b.len() as u64 > max
                {
                    return Err(format!("{} bytes do not fit {ty}", b.len()));
                }
                MyValue::Bytes(b.to_vec())
            }
            _ => return Err(format!("cannot write bytes to {ty}")),
        },
        Value::List(_) | Value::Record(_) if c.is_text() => text(value.to_json_string())?,
        Value::List(_) | Value::Record(_) => {
            return Err(format!("cannot write a {} to {ty}", value.kind_name()));
        }
    })
}

/// A value as sent without a column to check against (lookup and watermark parameters).
pub fn param(value: &Value) -> MyValue {
    match value {
        Value::Null => MyValue::NULL,
        Value::Bool(b) => MyValue::Int(i64::from(*b)),
        Value::Int(i) => MyValue::Int(*i),
        Value::Float(f) => MyValue::Double(*f),
        Value::Decimal(d) => MyValue::Bytes(d.to_string().into_bytes()),
        Value::Timestamp(t) => datetime(t),
        Value::Date(d) => {
            MyValue::Date(d.year() as u16, d.month() as u8, d.day() as u8, 0, 0, 0, 0)
        }
        Value::Bytes(b) => MyValue::Bytes(b.to_vec()),
        Value::String(s) => MyValue::Bytes(s.as_bytes().to_vec()),
        Value::Json(j) => match j.as_ref() {
            serde_json::Value::Null => MyValue::NULL,
            serde_json::Value::String(s) => MyValue::Bytes(s.as_bytes().to_vec()),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => MyValue::Int(i),
                None => MyValue::Bytes(n.to_string().into_bytes()),
            },
            other => MyValue::Bytes(other.to_string().into_bytes()),
        },
        Value::List(_) | Value::Record(_) => MyValue::Bytes(value.to_json_string().into_bytes()),
    }
}

/// Character set 63: binary data, not text.
const BINARY_CHARSET: u16 = 63;

/// A column's value in the aqueduct type closest to the column's type.
pub fn natural(value: &MyValue, column: &Column) -> Result<Value, String> {
    let ty = column.column_type();
    Ok(match value {
        MyValue::NULL => Value::Null,
        MyValue::Int(i) => Value::Int(*i),
        MyValue::UInt(u) => match i64::try_from(*u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Decimal(Decimal::from(*u)),
        },
        MyValue::Float(f) => Value::Float(f64::from(*f)),
        MyValue::Double(f) => Value::Float(*f),
        MyValue::Date(y, mo, d, h, mi, s, us) => {
            let date = NaiveDate::from_ymd_opt(i32::from(*y), u32::from(*mo), u32::from(*d))
                .ok_or_else(|| format!("{y:04}-{mo:02}-{d:02} is not a date"))?;
            if matches!(
                ty,
                ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE
            ) {
                Value::Date(date)
            } else {
                let t = date
                    .and_hms_micro_opt(u32::from(*h), u32::from(*mi), u32::from(*s), *us)
                    .ok_or_else(|| "not a time of day".to_string())?;
                Value::Timestamp(t.and_utc())
            }
        }
        MyValue::Time(neg, days, h, m, s, us) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            let sign = if *neg { "-" } else { "" };
            Value::String(Arc::from(format!("{sign}{hours:02}:{m:02}:{s:02}.{us:06}")))
        }
        MyValue::Bytes(b) => match ty {
            ColumnType::MYSQL_TYPE_DECIMAL | ColumnType::MYSQL_TYPE_NEWDECIMAL => {
                let text = std::str::from_utf8(b).map_err(|_| "bad decimal".to_string())?;
                // never `FromStr`, which rounds what does not fit
                Value::Decimal(parse_decimal(text)?)
            }
            ColumnType::MYSQL_TYPE_JSON => Value::Json(Arc::new(
                serde_json::from_slice(b).map_err(|e| format!("bad JSON: {e}"))?,
            )),
            _ if column.character_set() == BINARY_CHARSET => Value::Bytes(Arc::from(b.as_slice())),
            _ => Value::String(Arc::from(
                std::str::from_utf8(b).map_err(|_| "text is not UTF-8".to_string())?,
            )),
        },
    })
}

/// Which column data types can hold a field of type `ty` (preflight).
pub fn accepts(ty: &aqueduct_graph::Type, c: &ColumnInfo) -> bool {
    use aqueduct_graph::Type;
    let text = c.is_text() || c.data_type == "json";
    match ty.required() {
        Type::Int => c.int_range().is_some() || c.is_float() || c.data_type == "decimal" || text,
        Type::Float => c.is_float() || c.data_type == "decimal" || text,
        Type::Decimal => c.data_type == "decimal" || c.is_float() || text,
        Type::Bool => {
            matches!(
                c.data_type.as_str(),
                "tinyint" | "bit" | "smallint" | "int" | "bigint"
            ) || text
        }
        Type::String => true,
        Type::Timestamp => matches!(c.data_type.as_str(), "datetime" | "timestamp") || text,
        Type::Date => matches!(c.data_type.as_str(), "date" | "datetime" | "timestamp") || text,
        Type::Bytes => c.is_binary(),
        Type::Json | Type::List(_) | Type::Record(_) => text,
        _ => true,
    }
}
