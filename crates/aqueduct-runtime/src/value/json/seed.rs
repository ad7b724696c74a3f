//! JSON text straight into typed values: a serde `DeserializeSeed` driven by
//! the checked type, filling record slots by field name without building an
//! intermediate `serde_json::Value` document.
//!
//! It accepts exactly what [`super::from_json`] accepts and produces the same
//! values, but for one thing: a JSON number read as a `decimal` is taken
//! from its text (`12345678901234567.89` and `0.10` stay exact, scale
//! included), where a parsed `serde_json::Value` only has its f64. Anything
//! it does not take (a type mismatch, a missing field, malformed text) is
//! left to the slower path, which has the precise error messages: the fast
//! path only ever says "not me". A number with more digits than a decimal
//! holds is noted for the slow path ([`refused`]), which sees only its f64.

use super::number::{self, Number, Numeric};
use super::{json_value, parse_date, parse_timestamp};
use crate::value::{Record, Schemas, Value};
use aqueduct_graph::{FieldType, Type};
use base64::Engine as _;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::sync::Arc;

/// Decodes `text` (one JSON document) as a value of type `ty`; `None` when
/// it is not a valid document of that type.
pub(super) fn decode(text: &str, ty: &Type, schemas: &Schemas) -> Option<Value> {
    REFUSED.with(|r| r.borrow_mut().clear());
    let mut de = serde_json::Deserializer::from_str(text);
    let value = TypeSeed { ty, schemas }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

/// "Not me": the slow path decides (and words the error).
fn no<E: de::Error>() -> E {
    E::custom("")
}

#[derive(Clone, Copy)]
struct TypeSeed<'a> {
    ty: &'a Type,
    schemas: &'a Schemas,
}

impl<'de> DeserializeSeed<'de> for TypeSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.ty.required() {
            Type::Json => {
                // untyped: keep the JSON as it is (null is null)
                let j = serde_json::Value::deserialize(d)?;
                Ok(json_value(&j))
            }
            Type::Decimal => {
                // the number's own text, never through f64
                let raw = <&serde_json::value::RawValue>::deserialize(d)?;
                decimal(raw.get(), self.ty)
            }
            _ => d.deserialize_any(self),
        }
    }
}

/// A `decimal` (or `decimal?`) from the raw JSON text of its value: a
/// number as written, a string holding a decimal, or null when optional.
fn decimal<E: de::Error>(raw: &str, ty: &Type) -> Result<Value, E> {
    let text = match raw.as_bytes().first() {
        Some(b'"') => match raw.get(1..raw.len() - 1) {
            Some(inner) if !inner.contains('\\') => inner,
            _ => return Err(no()),
        },
        Some(b'-' | b'0'..=b'9') => raw,
        Some(b'n') if raw == "null" && matches!(ty, Type::Optional(_)) => return Ok(Value::Null),
        _ => return Err(no()),
    };
    match super::exact::parse(text) {
        Ok(d) => Ok(Value::Decimal(d)),
        Err(super::exact::Inexact::TooManyDigits(message)) => {
            if let Ok(f) = text.parse::<f64>() {
                refuse(f, message);
            }
            Err(no())
        }
        Err(super::exact::Inexact::NotADecimal) => Err(no()),
    }
}

thread_local! {
    /// The JSON numbers the last [`decode`] on this thread refused as
    /// decimals for their digits, by their f64, with the reason. The slow
    /// path only sees a number's f64, which would read such a number as a
    /// rounded decimal without complaint; it asks here instead
    /// ([`refused`]).
    static REFUSED: std::cell::RefCell<Vec<(f64, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn refuse(f: f64, message: String) {
    REFUSED.with(|r| r.borrow_mut().push((f, message)));
}

/// Why the last [`decode`] on this thread refused the JSON number whose
/// f64 is `f` as a decimal, if it did.
pub(super) fn refused(f: f64) -> Option<String> {
    REFUSED.with(|r| {
        r.borrow()
            .iter()
            .find(|(g, _)| *g == f)
            .map(|(_, m)| m.clone())
    })
}

use serde::Deserialize as _;

/// How a number is read for `ty`: `duration` is an int (milliseconds).
fn numeric(ty: &Type) -> Option<Numeric> {
    match ty.required() {
        Type::Int | Type::Duration => Some(Numeric::Int),
        Type::Float => Some(Numeric::Float),
        _ => None,
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        match n {
            Number::Int(i) => Value::Int(i),
            Number::Float(f) => Value::Float(f),
        }
    }
}

impl<'de> Visitor<'de> for TypeSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.ty)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        match self.ty {
            Type::Optional(_) | Type::Null => Ok(Value::Null),
            _ => Err(no()),
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        match self.ty.required() {
            Type::Bool => Ok(Value::Bool(b)),
            _ => Err(no()),
        }
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        match numeric(self.ty) {
            Some(as_) => Ok(number::from_i64(i, as_).into()),
            None => Err(no()),
        }
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        numeric(self.ty)
            .and_then(|as_| number::from_u64(u, as_))
            .map(Value::from)
            .ok_or_else(no)
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        numeric(self.ty)
            .and_then(|as_| number::from_f64(f, as_))
            .map(Value::from)
            .ok_or_else(no)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        match self.ty.required() {
            Type::String => Ok(Value::String(Arc::from(s))),
            Type::Timestamp => parse_timestamp(s).map(Value::Timestamp).map_err(|_| no()),
            Type::Date => parse_date(s).map(Value::Date).map_err(|_| no()),
            Type::Bytes => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(|b| Value::Bytes(b.into()))
                .map_err(|_| no()),
            _ => Err(no()),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Type::List(elem) = self.ty.required() else {
            return Err(no());
        };
        let seed = TypeSeed {
            ty: elem,
            schemas: self.schemas,
        };
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(seed)? {
            out.push(v);
        }
        Ok(Value::List(Arc::new(out)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Type::Record(name) = self.ty.required() else {
            return Err(no());
        };
        let layout = self.schemas.layout(name).ok_or_else(no)?;
        let fields = &layout.fields[..];
        if fields.len() > 64 {
            return Err(no());
        }
        let mut slots = vec![Value::Null; fields.len()];
        let mut seen = 0u64;
        let mut hint = 0usize;
        while let Some(slot) = map.next_key_seed(KeySeed { fields, hint })? {
            match slot {
                Some(i) => {
                    slots[i] = map.next_value_seed(TypeSeed {
                        ty: &fields[i].ty,
                        schemas: self.schemas,
                    })?;
                    seen |= 1 << i;
                    hint = i + 1;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        for (i, f) in fields.iter().enumerate() {
            if seen & (1 << i) == 0 && !f.ty.is_optional() {
                return Err(no());
            }
        }
        Ok(Value::Record(Arc::new(Record {
            layout: layout.clone(),
            slots,
        })))
    }
}

/// A record key: its slot, or `None` for a field the type does not declare.
struct KeySeed<'a> {
    fields: &'a [FieldType],
    /// Where the next key most likely is (fields usually come in order).
    hint: usize,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(number::field_index(
            self.fields,
            |f| &f.name,
            self.hint,
            key,
        ))
    }
}
