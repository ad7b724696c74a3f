//! Decoding one input line into the fused path's slots, borrowing the text.
//!
//! JSON lines of the usual shape are read by a scanner of their own
//! ([`super::scan`]); the others go through `serde_json` (what the
//! general decoder, and the hand-written baseline, use) with a seed that
//! keeps unescaped strings as slices of the line. CSV rows without quotes are split by hand. Both
//! accept a subset of what the general decoders accept and give the same
//! values for it (`value::json::seed`, `value::text::parse_text`); for
//! anything else they say "not me" (`None`) and the line goes the general
//! way, which decodes it or words the error.

use super::expr::{FVal, Kind};
use crate::value::json::number::{self, Number, Numeric};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// One field of the input record type.
#[derive(Debug, Clone)]
pub(crate) struct InField {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) optional: bool,
}

impl Kind {
    /// How a JSON number is read for a field of this kind (the typed
    /// decoder's rule, [`number`]).
    fn numeric(self) -> Option<Numeric> {
        match self {
            Kind::Int => Some(Numeric::Int),
            Kind::Float => Some(Numeric::Float),
            Kind::Str | Kind::Bool => None,
        }
    }
}

impl From<Number> for FVal<'_> {
    fn from(n: Number) -> Self {
        match n {
            Number::Int(i) => FVal::Int(i),
            Number::Float(f) => FVal::Float(f),
        }
    }
}

/// "Not me".
fn no<E: de::Error>() -> E {
    E::custom("")
}

/// Decodes a JSON object line into one value per field (in `fields`
/// order), in `slots` (an empty vector whose allocation is reused).
pub(crate) fn json_line<'a>(
    line: &'a str,
    fields: &[InField],
    mut slots: Vec<FVal<'a>>,
) -> Option<Vec<FVal<'a>>> {
    if super::scan::flat_object(line, fields, &mut slots) {
        return Some(slots);
    }
    serde_line(line, fields, slots)
}

/// [`json_line`] through serde alone.
pub(crate) fn serde_line<'a>(
    line: &'a str,
    fields: &[InField],
    slots: Vec<FVal<'a>>,
) -> Option<Vec<FVal<'a>>> {
    let mut de = serde_json::Deserializer::from_str(line);
    let slots = RecordSeed { fields, slots }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(slots)
}

struct RecordSeed<'f, 'de> {
    fields: &'f [InField],
    slots: Vec<FVal<'de>>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, 'de> {
    type Value = Vec<FVal<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, 'de> {
    type Value = Vec<FVal<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let fields = self.fields;
        let mut slots = self.slots;
        slots.clear();
        slots.resize(fields.len(), FVal::Null);
        let mut seen = 0u64;
        let mut hint = 0usize;
        while let Some(slot) = map.next_key_seed(KeySeed { fields, hint })? {
            match slot {
                Some(i) => {
                    slots[i] = map.next_value_seed(FieldSeed(&fields[i]))?;
                    seen |= 1 << i;
                    hint = i + 1;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !complete(fields, seen) {
            return Err(no());
        }
        Ok(slots)
    }
}

/// Whether every required field is among those `seen` (a bit each).
pub(super) fn complete(fields: &[InField], seen: u64) -> bool {
    fields
        .iter()
        .enumerate()
        .all(|(i, f)| f.optional || seen & (1 << i) != 0)
}

/// A key: its slot, or `None` for a field the type does not declare.
struct KeySeed<'f> {
    fields: &'f [InField],
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

struct FieldSeed<'f>(&'f InField);

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = FVal<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = FVal<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar")
    }

    fn visit_unit<E: de::Error>(self) -> Result<FVal<'de>, E> {
        if self.0.optional {
            Ok(FVal::Null)
        } else {
            Err(no())
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<FVal<'de>, E> {
        self.visit_unit()
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<FVal<'de>, E> {
        match self.0.kind {
            Kind::Bool => Ok(FVal::Bool(b)),
            _ => Err(no()),
        }
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<FVal<'de>, E> {
        match self.0.kind.numeric() {
            Some(as_) => Ok(number::from_i64(i, as_).into()),
            None => Err(no()),
        }
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<FVal<'de>, E> {
        self.0
            .kind
            .numeric()
            .and_then(|as_| number::from_u64(u, as_))
            .map(FVal::from)
            .ok_or_else(no)
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<FVal<'de>, E> {
        self.0
            .kind
            .numeric()
            .and_then(|as_| number::from_f64(f, as_))
            .map(FVal::from)
            .ok_or_else(no)
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<FVal<'de>, E> {
        match self.0.kind {
            Kind::Str => Ok(FVal::Str(Cow::Borrowed(s))),
            _ => Err(no()),
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<FVal<'de>, E> {
        // an escaped string: serde had to unescape it into a buffer
        match self.0.kind {
            Kind::Str => Ok(FVal::Str(Cow::Owned(s.to_string()))),
            _ => Err(no()),
        }
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<FVal<'de>, E> {
        match self.0.kind {
            Kind::Str => Ok(FVal::Str(Cow::Owned(s))),
            _ => Err(no()),
        }
    }
}

/// How a CSV row's cells map onto the input record's fields.
#[derive(Debug, Clone)]
pub struct CsvColumns {
    /// For each field (in slot order): the cell index that holds it.
    pub(crate) cells: Vec<Option<usize>>,
    /// With a header row: the number of columns it names (a row with more
    /// cells is an error of the general path).
    pub(crate) width: Option<usize>,
    /// The delimiter byte.
    pub(crate) delimiter: u8,
}

/// Decodes a CSV row without quotes, carriage returns or extra cells, into
/// `slots` (an empty vector whose allocation is reused).
pub(crate) fn csv_row<'a>(
    line: &'a str,
    fields: &[InField],
    columns: &CsvColumns,
    mut slots: Vec<FVal<'a>>,
) -> Option<Vec<FVal<'a>>> {
    // quoting and stray line ends are the csv crate's business
    if line.bytes().any(|b| b == b'"' || b == b'\r' || b == b'\n') || !columns.delimiter.is_ascii()
    {
        return None;
    }
    let mut cells: [&str; 64] = [""; 64];
    let mut n = 0;
    for cell in line.split(columns.delimiter as char) {
        if n == cells.len() {
            return None;
        }
        cells[n] = cell;
        n += 1;
    }
    if columns.width.is_some_and(|w| n > w) {
        return None;
    }
    slots.clear();
    for (field, index) in fields.iter().zip(&columns.cells) {
        let cell = index.filter(|i| *i < n).map(|i| cells[i]);
        slots.push(match cell {
            // an empty or missing cell is null, or the general path's error
            None | Some("") if field.optional => FVal::Null,
            None | Some("") => return None,
            Some(text) => cell_value(text, field.kind)?,
        });
    }
    Some(slots)
}

/// A non-empty cell as `value::text::parse_text` reads it.
fn cell_value(text: &str, kind: Kind) -> Option<FVal<'_>> {
    let t = text.trim();
    Some(match kind {
        Kind::Str => FVal::Str(Cow::Borrowed(text)),
        Kind::Int => FVal::Int(t.parse().ok()?),
        Kind::Float => FVal::Float(t.parse().ok()?),
        Kind::Bool => {
            let lower = t.to_ascii_lowercase();
            match lower.as_str() {
                "true" | "1" | "yes" | "y" => FVal::Bool(true),
                "false" | "0" | "no" | "n" => FVal::Bool(false),
                _ => return None,
            }
        }
    })
}
