//! Values to and from PostgreSQL columns, exactly.
//!
//! Writing: each value is converted for its column's type *before* the
//! statement runs ([`encode`]), so a value the column cannot take (an int
//! out of `smallint` range, `12.5` for an `integer`, a string that is no
//! timestamp) is an error for that record alone, naming the column and the
//! reason. Reading: each column is decoded by its PostgreSQL type
//! ([`Cell::natural`]) and then converted to the field's declared type
//! ([`convert`]).
//!
//! | PostgreSQL | aqueduct |
//! |---|---|
//! | `smallint`, `integer`, `bigint` | `int` |
//! | `real`, `double precision` | `float` |
//! | `numeric` | `decimal` (exact, never through `f64`) |
//! | `text`, `varchar`, `char`, `name`, `citext`, enums, `uuid` | `string` |
//! | `boolean` | `bool` |
//! | `date` | `date` |
//! | `timestamptz` (`timestamp` read as UTC) | `timestamp` |
//! | `json`, `jsonb` | `json`, lists, records |
//! | `bytea` | `bytes` |
//! | NULL | null of an optional field |
//! | a domain | as its base type |
//!
//! A domain is its base type (through domains over domains): its values
//! have the base type's binary form, so every conversion here looks
//! through it ([`base`]); only messages name the domain ([`type_label`]). Where
//! the client knows a column only by OID (logical replication, the
//! preflight of `changes`), [`resolve`] asks the catalog.

use crate::values::Natural;
pub use crate::values::convert;
use aqueduct_graph::Type;
use aqueduct_runtime::value::Value;
use aqueduct_runtime::value::json::parse_decimal;
use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::error::Error;
use std::sync::Arc;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type as PgType, to_sql_checked};

type BoxError = Box<dyn Error + Sync + Send>;

/// One parameter, already converted for its column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// SQL NULL.
    Null,
    /// `boolean`.
    Bool(bool),
    /// `smallint`.
    I16(i16),
    /// `integer`.
    I32(i32),
    /// `bigint`.
    I64(i64),
    /// `real`.
    F32(f32),
    /// `double precision`.
    F64(f64),
    /// `numeric`.
    Numeric(Decimal),
    /// Text-like columns and enums (their binary form is the UTF-8 text).
    Text(String),
    /// A record's string for a text-like column, shared rather than copied.
    Shared(Arc<str>),
    /// `bytea`.
    Bytes(Vec<u8>),
    /// `date`.
    Date(NaiveDate),
    /// `timestamptz`.
    Timestamptz(DateTime<Utc>),
    /// `timestamp` (without time zone; the UTC wall time).
    Timestamp(NaiveDateTime),
    /// `json`, `jsonb`.
    Json(serde_json::Value),
    /// `uuid`.
    Uuid([u8; 16]),
    /// The smallest value of an ordered column: a watermark before any row.
    Lowest,
}

impl ToSql for Param {
    fn to_sql(&self, ty: &PgType, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        // a domain's binary form is its base type's (`json` and `jsonb` differ)
        let ty = base(ty);
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Bool(v) => v.to_sql(ty, out),
            Param::I16(v) => v.to_sql(ty, out),
            Param::I32(v) => v.to_sql(ty, out),
            Param::I64(v) => v.to_sql(ty, out),
            Param::F32(v) => v.to_sql(ty, out),
            Param::F64(v) => v.to_sql(ty, out),
            Param::Numeric(v) => v.to_sql(ty, out),
            Param::Text(v) => {
                out.extend_from_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            Param::Shared(v) => {
                out.extend_from_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            Param::Bytes(v) => v.to_sql(ty, out),
            Param::Date(v) => v.to_sql(ty, out),
            Param::Timestamptz(v) => v.to_sql(ty, out),
            Param::Timestamp(v) => v.to_sql(ty, out),
            Param::Json(v) => v.to_sql(ty, out),
            Param::Uuid(v) => {
                out.extend_from_slice(v);
                Ok(IsNull::No)
            }
            Param::Lowest => lowest(ty, out),
        }
    }

    fn accepts(_: &PgType) -> bool {
        // checked by `encode` for the column's type
        true
    }

    to_sql_checked!();
}

/// The binary form of the smallest value of `ty` (`-infinity` for dates
/// and timestamps, the minimum for integers, `''` for text).
fn lowest(ty: &PgType, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    let ty = base(ty);
    match *ty {
        PgType::INT2 => i16::MIN.to_sql(ty, out),
        PgType::INT4 => i32::MIN.to_sql(ty, out),
        PgType::INT8 => i64::MIN.to_sql(ty, out),
        PgType::FLOAT4 => f32::NEG_INFINITY.to_sql(ty, out),
        PgType::FLOAT8 => f64::NEG_INFINITY.to_sql(ty, out),
        PgType::DATE => i32::MIN.to_sql(&PgType::INT4, out),
        PgType::TIMESTAMP | PgType::TIMESTAMPTZ => i64::MIN.to_sql(&PgType::INT8, out),
        PgType::NUMERIC => Decimal::MIN.to_sql(ty, out),
        _ if is_text(ty) => Ok(IsNull::No),
        _ => Err(format!("a watermark of type {ty} needs a value to start from").into()),
    }
}

/// The type a domain is made of, through domains over domains; any other
/// type itself.
pub fn base(ty: &PgType) -> &PgType {
    match ty.kind() {
        Kind::Domain(inner) => base(inner),
        _ => ty,
    }
}

/// `ty` for messages: a domain with its base type
/// (`positive_int (a domain over int4)`).
pub fn type_label(ty: &PgType) -> String {
    match base(ty) {
        b if b != ty => format!("{ty} (a domain over {b})"),
        _ => ty.to_string(),
    }
}

/// Text-like types: their binary form is the UTF-8 text.
pub fn is_text(ty: &PgType) -> bool {
    let ty = base(ty);
    matches!(
        *ty,
        PgType::TEXT | PgType::VARCHAR | PgType::BPCHAR | PgType::NAME | PgType::UNKNOWN
    ) || ty.name() == "citext"
        || matches!(ty.kind(), Kind::Enum(_))
}

/// Converts `value` for a column of type `ty`; the error says why it cannot
/// (without the column, which the caller adds).
pub fn encode(value: &Value, ty: &PgType) -> Result<Param, String> {
    let ty = base(ty);
    let out_of_range = |v: &dyn std::fmt::Display| format!("{v} is out of range for {ty}");
    Ok(match value {
        Value::Null => Param::Null,
        Value::Json(j) => match j.as_ref() {
            _ if is_json(ty) => Param::Json(j.as_ref().clone()),
            serde_json::Value::Null => Param::Null,
            serde_json::Value::Bool(b) => encode(&Value::Bool(*b), ty)?,
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => encode(&Value::Int(i), ty)?,
                None => match n.to_string().parse::<Decimal>() {
                    Ok(d) => encode(&Value::Decimal(d), ty)?,
                    Err(_) => encode(&Value::Float(n.as_f64().unwrap_or(f64::NAN)), ty)?,
                },
            },
            serde_json::Value::String(s) => encode(&Value::String(Arc::from(s.as_str())), ty)?,
            other => return Err(format!("cannot write JSON {} to {ty}", json_kind(other))),
        },
        _ if is_json(ty) => Param::Json(value.to_json()),
        Value::Bool(b) => match *ty {
            PgType::BOOL => Param::Bool(*b),
            _ if is_text(ty) => Param::Text(b.to_string()),
            _ => return Err(format!("cannot write a bool to {ty}")),
        },
        Value::Int(i) => match *ty {
            PgType::INT2 => Param::I16(i16::try_from(*i).map_err(|_| out_of_range(i))?),
            PgType::INT4 => Param::I32(i32::try_from(*i).map_err(|_| out_of_range(i))?),
            PgType::INT8 => Param::I64(*i),
            PgType::FLOAT4 => Param::F32(*i as f32),
            PgType::FLOAT8 => Param::F64(*i as f64),
            PgType::NUMERIC => Param::Numeric(Decimal::from(*i)),
            _ if is_text(ty) => Param::Text(i.to_string()),
            _ => return Err(format!("cannot write an int to {ty}")),
        },
        Value::Float(f) => match *ty {
            PgType::FLOAT4 => Param::F32(*f as f32),
            PgType::FLOAT8 => Param::F64(*f),
            PgType::NUMERIC => Param::Numeric(
                Decimal::try_from(*f).map_err(|_| format!("{f} is not a number {ty} can hold"))?,
            ),
            PgType::INT2 | PgType::INT4 | PgType::INT8 => {
                if f.fract() != 0.0 || !f.is_finite() {
                    return Err(format!("{f} is not a whole number"));
                }
                encode(&Value::Int(*f as i64), ty)?
            }
            _ if is_text(ty) => Param::Text(f.to_string()),
            _ => return Err(format!("cannot write a float to {ty}")),
        },
        Value::Decimal(d) => match *ty {
            PgType::NUMERIC => Param::Numeric(*d),
            PgType::FLOAT4 => Param::F32(d.to_f32().ok_or_else(|| out_of_range(d))?),
            PgType::FLOAT8 => Param::F64(d.to_f64().ok_or_else(|| out_of_range(d))?),
            PgType::INT2 | PgType::INT4 | PgType::INT8 => {
                if !d.fract().is_zero() {
                    return Err(format!("{d} is not a whole number"));
                }
                encode(&Value::Int(d.to_i64().ok_or_else(|| out_of_range(d))?), ty)?
            }
            _ if is_text(ty) => Param::Text(d.to_string()),
            _ => return Err(format!("cannot write a decimal to {ty}")),
        },
        Value::String(s) if is_text(ty) => Param::Shared(s.clone()),
        Value::String(s) => encode_str(s, ty)?,
        Value::Timestamp(t) => match *ty {
            PgType::TIMESTAMPTZ => Param::Timestamptz(*t),
            PgType::TIMESTAMP => Param::Timestamp(t.naive_utc()),
            _ if is_text(ty) => Param::Text(value.to_text()),
            _ => return Err(format!("cannot write a timestamp to {ty}")),
        },
        Value::Date(d) => match *ty {
            PgType::DATE => Param::Date(*d),
            _ if is_text(ty) => Param::Text(d.to_string()),
            _ => return Err(format!("cannot write a date to {ty}")),
        },
        Value::Bytes(b) => match *ty {
            PgType::BYTEA => Param::Bytes(b.to_vec()),
            _ => return Err(format!("cannot write bytes to {ty}")),
        },
        Value::List(_) | Value::Record(_) => match *ty {
            _ if is_text(ty) => Param::Text(value.to_json_string()),
            _ => return Err(format!("cannot write a {} to {ty}", value.kind_name())),
        },
    })
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
        _ => "a scalar",
    }
}

/// `json` or `jsonb`.
pub fn is_json(ty: &PgType) -> bool {
    matches!(*base(ty), PgType::JSON | PgType::JSONB)
}

/// A string for a column: text as it is; other types parsed from it.
fn encode_str(s: &str, ty: &PgType) -> Result<Param, String> {
    let bad = |what: &str| format!("`{}` is not {what}", truncate(s));
    Ok(match *ty {
        _ if is_text(ty) => Param::Text(s.to_string()),
        PgType::UUID => Param::Uuid(parse_uuid(s).ok_or_else(|| bad("a UUID"))?),
        PgType::INT2 | PgType::INT4 | PgType::INT8 => encode(
            &Value::Int(s.trim().parse().map_err(|_| bad("an integer"))?),
            ty,
        )?,
        // never `FromStr`, which rounds what does not fit
        PgType::NUMERIC => Param::Numeric(parse_decimal(s)?),
        PgType::FLOAT4 | PgType::FLOAT8 => encode(
            &Value::Float(s.trim().parse().map_err(|_| bad("a number"))?),
            ty,
        )?,
        PgType::BOOL => match s.trim() {
            "true" => Param::Bool(true),
            "false" => Param::Bool(false),
            _ => return Err(bad("true or false")),
        },
        PgType::DATE => {
            Param::Date(NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| bad("a date"))?)
        }
        PgType::TIMESTAMPTZ | PgType::TIMESTAMP => {
            let t = DateTime::parse_from_rfc3339(s.trim())
                .map_err(|_| bad("an RFC 3339 timestamp"))?
                .with_timezone(&Utc);
            encode(&Value::Timestamp(t), ty)?
        }
        PgType::BYTEA => Param::Bytes(s.as_bytes().to_vec()),
        _ => return Err(format!("cannot write a string to {ty}")),
    })
}

fn truncate(s: &str) -> String {
    aqueduct_connectors::support::truncate(s, 64)
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hyphens optional).
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

fn format_uuid(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    if hex.len() != 32 {
        return hex;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// One column of a row, undecoded: its type and its binary value.
#[derive(Debug)]
pub struct Cell<'a> {
    ty: PgType,
    raw: Option<&'a [u8]>,
}

impl<'a> FromSql<'a> for Cell<'a> {
    fn from_sql(ty: &PgType, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Cell {
            ty: ty.clone(),
            raw: Some(raw),
        })
    }

    fn from_sql_null(ty: &PgType) -> Result<Self, BoxError> {
        Ok(Cell {
            ty: ty.clone(),
            raw: None,
        })
    }

    fn accepts(_: &PgType) -> bool {
        true
    }
}

impl Cell<'_> {
    /// The value in the aqueduct type closest to the column's type.
    pub fn natural(&self) -> Result<Value, String> {
        let Some(raw) = self.raw else {
            return Ok(Value::Null);
        };
        let ty = base(&self.ty);
        let e = |err: BoxError| format!("cannot decode {ty}: {err}");
        Ok(match *ty {
            PgType::BOOL => Value::Bool(bool::from_sql(ty, raw).map_err(e)?),
            PgType::INT2 => Value::Int(i16::from_sql(ty, raw).map_err(e)?.into()),
            PgType::INT4 => Value::Int(i32::from_sql(ty, raw).map_err(e)?.into()),
            PgType::INT8 => Value::Int(i64::from_sql(ty, raw).map_err(e)?),
            PgType::OID => Value::Int(u32::from_sql(ty, raw).map_err(e)?.into()),
            PgType::FLOAT4 => Value::Float(f32::from_sql(ty, raw).map_err(e)?.into()),
            PgType::FLOAT8 => Value::Float(f64::from_sql(ty, raw).map_err(e)?),
            PgType::NUMERIC => Value::Decimal(super::numeric::decode(raw)?),
            PgType::UUID => Value::String(Arc::from(format_uuid(raw))),
            PgType::DATE => Value::Date(NaiveDate::from_sql(ty, raw).map_err(e)?),
            PgType::TIMESTAMPTZ => Value::Timestamp(DateTime::<Utc>::from_sql(ty, raw).map_err(e)?),
            PgType::TIMESTAMP => {
                Value::Timestamp(NaiveDateTime::from_sql(ty, raw).map_err(e)?.and_utc())
            }
            PgType::JSON | PgType::JSONB => {
                Value::Json(Arc::new(serde_json::Value::from_sql(ty, raw).map_err(e)?))
            }
            PgType::BYTEA => Value::Bytes(Arc::from(raw)),
            _ if is_text(ty) => Value::String(Arc::from(
                std::str::from_utf8(raw).map_err(|_| format!("{ty} is not UTF-8"))?,
            )),
            _ => {
                return Err(format!(
                    "aqueduct cannot read {ty} columns; cast it in the query (e.g. `col::text`)"
                ));
            }
        })
    }

    /// The column's PostgreSQL type.
    pub fn pg_type(&self) -> &PgType {
        &self.ty
    }
}

/// The kind of value [`Cell::natural`] reads from a column of type `ty`;
/// `None` for a type it cannot read (`interval`, `time`, arrays, …), whose
/// every value is an error.
pub fn natural_kind(ty: &PgType) -> Option<Natural> {
    let ty = base(ty);
    Some(match *ty {
        PgType::BOOL => Natural::Bool,
        PgType::INT2 | PgType::INT4 | PgType::INT8 | PgType::OID => Natural::Int,
        PgType::FLOAT4 | PgType::FLOAT8 => Natural::Float,
        PgType::NUMERIC => Natural::Decimal,
        PgType::UUID => Natural::String,
        PgType::DATE => Natural::Date,
        PgType::TIMESTAMPTZ | PgType::TIMESTAMP => Natural::Timestamp,
        PgType::JSON | PgType::JSONB => Natural::Json,
        PgType::BYTEA => Natural::Bytes,
        _ if is_text(ty) => Natural::String,
        _ => return None,
    })
}

/// Which PostgreSQL column types can hold a field of type `ty` (for the
/// start-up preflight); `None` when any type goes (json fields).
pub fn accepts(ty: &Type, column: &PgType) -> bool {
    let column = base(column);
    let json = is_json(column);
    match ty.required() {
        Type::Int => {
            matches!(
                *column,
                PgType::INT2 | PgType::INT4 | PgType::INT8 | PgType::NUMERIC | PgType::FLOAT8
            ) || is_text(column)
        }
        Type::Float => {
            matches!(*column, PgType::FLOAT4 | PgType::FLOAT8 | PgType::NUMERIC) || is_text(column)
        }
        Type::Decimal => matches!(*column, PgType::NUMERIC) || is_text(column),
        Type::Bool => *column == PgType::BOOL || is_text(column),
        Type::String => {
            is_text(column)
                || json
                || matches!(
                    *column,
                    PgType::UUID
                        | PgType::DATE
                        | PgType::TIMESTAMP
                        | PgType::TIMESTAMPTZ
                        | PgType::NUMERIC
                        | PgType::INT2
                        | PgType::INT4
                        | PgType::INT8
                )
        }
        Type::Timestamp => {
            matches!(*column, PgType::TIMESTAMPTZ | PgType::TIMESTAMP) || is_text(column)
        }
        Type::Date => *column == PgType::DATE || is_text(column),
        Type::Bytes => *column == PgType::BYTEA,
        Type::Json => true,
        Type::List(_) | Type::Record(_) => json || is_text(column),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary form of a sample value of `ty`.
    fn sample(ty: &PgType) -> BytesMut {
        let mut out = BytesMut::new();
        let written = match *ty {
            PgType::BOOL => true.to_sql(ty, &mut out),
            PgType::INT2 => 1i16.to_sql(ty, &mut out),
            PgType::INT4 => 1i32.to_sql(ty, &mut out),
            PgType::INT8 => 1i64.to_sql(ty, &mut out),
            PgType::OID => 1u32.to_sql(ty, &mut out),
            PgType::FLOAT4 => 1f32.to_sql(ty, &mut out),
            PgType::FLOAT8 => 1f64.to_sql(ty, &mut out),
            PgType::NUMERIC => Decimal::new(125, 2).to_sql(ty, &mut out),
            PgType::DATE => NaiveDate::from_ymd_opt(2024, 2, 29)
                .expect("a date")
                .to_sql(ty, &mut out),
            PgType::TIMESTAMPTZ => DateTime::<Utc>::UNIX_EPOCH.to_sql(ty, &mut out),
            PgType::TIMESTAMP => DateTime::<Utc>::UNIX_EPOCH.naive_utc().to_sql(ty, &mut out),
            PgType::JSON | PgType::JSONB => serde_json::json!({"a": 1}).to_sql(ty, &mut out),
            _ => {
                // uuid, bytea, text-like: sixteen bytes of ASCII
                out.extend_from_slice(b"0123456789abcdef");
                Ok(IsNull::No)
            }
        };
        written.expect("a sample value");
        out
    }

    #[test]
    fn natural_kind_is_the_kind_cell_natural_reads() {
        let kinds = [
            PgType::BOOL,
            PgType::INT2,
            PgType::INT4,
            PgType::INT8,
            PgType::OID,
            PgType::FLOAT4,
            PgType::FLOAT8,
            PgType::NUMERIC,
            PgType::UUID,
            PgType::DATE,
            PgType::TIMESTAMPTZ,
            PgType::TIMESTAMP,
            PgType::JSON,
            PgType::JSONB,
            PgType::BYTEA,
            PgType::TEXT,
            PgType::VARCHAR,
            PgType::BPCHAR,
            PgType::NAME,
        ];
        for ty in &kinds {
            let raw = sample(ty);
            let read = Cell::from_sql(ty, &raw)
                .expect("a cell")
                .natural()
                .expect("reads");
            let kind = natural_kind(ty).expect("a readable type");
            assert_eq!(format!("{kind:?}").to_lowercase(), read.kind_name(), "{ty}");
        }
        for ty in [
            PgType::INTERVAL,
            PgType::TIME,
            PgType::INT4_ARRAY,
            PgType::INET,
        ] {
            assert_eq!(natural_kind(&ty), None, "{ty}");
            let raw = [0u8; 16];
            assert!(
                Cell::from_sql(&ty, &raw)
                    .expect("a cell")
                    .natural()
                    .is_err()
            );
        }
    }

    #[test]
    fn a_domain_is_read_written_and_accepted_as_its_base_type() {
        let domain = |name: &str, over: PgType| {
            PgType::new(name.into(), 90_000, Kind::Domain(over), "public".into())
        };
        let pos = domain("positive_int", PgType::INT4);
        // a domain over a domain
        let level = domain("level", pos.clone());
        let money = domain("money_amount", PgType::NUMERIC);
        let doc = domain("doc", PgType::JSONB);
        assert_eq!(base(&level), &PgType::INT4);
        assert_eq!(type_label(&level), "level (a domain over int4)");
        assert_eq!(type_label(&PgType::INT4), "int4");
        assert_eq!(natural_kind(&level), Some(Natural::Int));
        assert!(accepts(&Type::Int, &level) && !accepts(&Type::Bool, &level));
        assert!(accepts(&Type::Decimal, &money) && !accepts(&Type::Date, &money));
        assert_eq!(encode(&Value::Int(7), &level), Ok(Param::I32(7)));
        assert!(encode(&Value::Int(1 << 40), &level).is_err());
        let exact = Decimal::new(1_234_567_890_123_456_789, 10);
        let Ok(param) = encode(&Value::Decimal(exact), &money) else {
            panic!("a decimal for a numeric domain")
        };
        // the base type's binary form, read back the same
        for (param, ty, want) in [
            (Param::I32(7), &level, Value::Int(7)),
            (param, &money, Value::Decimal(exact)),
            (
                Param::Json(serde_json::json!({"a": 1})),
                &doc,
                Value::Json(Arc::new(serde_json::json!({"a": 1}))),
            ),
        ] {
            let mut raw = BytesMut::new();
            param.to_sql(ty, &mut raw).expect("encodes");
            let read = Cell::from_sql(ty, &raw).expect("a cell").natural();
            assert_eq!(read, Ok(want), "{ty}");
        }
    }
}
