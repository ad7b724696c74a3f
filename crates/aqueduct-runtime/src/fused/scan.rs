//! A hand-written scanner for the usual shape of a JSON line: one flat
//! object of scalar values, strings without escapes, numbers of a few
//! digits. It reads such a line in one pass over its bytes, without
//! serde's visitor calls, and gives exactly the slots the serde seed of
//! [`super::decode`] gives.
//!
//! It takes a line only when it is sure of that; for anything else
//! (an escape, a control character, a nested value, a number with many
//! digits or a large exponent, `-0`, a value of the wrong kind, invalid
//! JSON) it says "not me" and the caller decodes the line with serde,
//! which accepts it or refuses it as before. Numbers are the delicate
//! part: `serde_json` computes a float as its digits times or divided by
//! a power of ten, which is exact (one rounding) when the digits fit in
//! 53 bits and the power is at most 10^22; the scanner takes only those,
//! where every correct parser agrees with it.

use super::decode::InField;
use super::expr::{FVal, Kind};
use std::borrow::Cow;

/// Powers of ten that are exact in an f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Decodes `line` into `slots` (one per field, in `fields` order) when it
/// has the usual shape; false leaves the line to serde (and `slots` in any
/// state: the serde path starts them afresh).
pub(crate) fn flat_object<'a>(
    line: &'a str,
    fields: &[InField],
    slots: &mut Vec<FVal<'a>>,
) -> bool {
    if fields.len() > 64 {
        return false;
    }
    let mut c = Cursor {
        text: line,
        s: line.as_bytes(),
        i: 0,
    };
    slots.clear();
    slots.resize(fields.len(), FVal::Null);
    let Some(seen) = c.object(fields, slots) else {
        return false;
    };
    super::decode::complete(fields, seen)
}

struct Cursor<'a> {
    text: &'a str,
    s: &'a [u8],
    i: usize,
}

/// A JSON number as `serde_json` reads it: its digits as an integer, the
/// power of ten they are scaled by, and whether it had a fraction or an
/// exponent.
struct Num {
    negative: bool,
    digits: u64,
    exponent: i32,
    integer: bool,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek() == Some(b)).then(|| self.i += 1)
    }

    /// The object; the fields seen (a bit each).
    fn object(&mut self, fields: &[InField], slots: &mut [FVal<'a>]) -> Option<u64> {
        self.ws();
        self.eat(b'{')?;
        self.ws();
        let mut seen = 0u64;
        if self.eat(b'}').is_none() {
            let mut hint = 0;
            loop {
                let key = self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                match crate::value::json::number::field_index(fields, |f| &f.name, hint, key) {
                    Some(k) => {
                        let field = fields.get(k)?;
                        *slots.get_mut(k)? = self.value(field)?;
                        seen |= 1 << k;
                        hint = k + 1;
                    }
                    None => self.skip_scalar()?,
                }
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        self.ws();
                    }
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.ws();
        (self.i == self.s.len()).then_some(seen)
    }

    /// A string without escapes or control characters, borrowed.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let rest = self.s.get(start..)?;
        let len = memchr::memchr(b'"', rest)?;
        // without an early exit, so that it runs on whole vectors
        let special = rest
            .get(..len)?
            .iter()
            .fold(false, |any, &b| any | (b == b'\\') | (b < 0x20));
        if special {
            return None;
        }
        self.i = start + len + 1;
        self.text.get(start..start + len)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.s.get(self.i..)?.starts_with(word) {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// The value of `field`, as the serde seed makes it.
    fn value(&mut self, field: &InField) -> Option<FVal<'a>> {
        match (self.peek()?, field.kind) {
            (b'"', Kind::Str) => Some(FVal::Str(Cow::Borrowed(self.string()?))),
            (b't', Kind::Bool) => self.literal(b"true").map(|()| FVal::Bool(true)),
            (b'f', Kind::Bool) => self.literal(b"false").map(|()| FVal::Bool(false)),
            (b'n', _) if field.optional => self.literal(b"null").map(|()| FVal::Null),
            (b'-' | b'0'..=b'9', Kind::Int) => {
                let n = self.number()?;
                // `-0` is a float to serde_json; leave it (and fractions) to serde
                if !n.integer || (n.negative && n.digits == 0) {
                    return None;
                }
                let v = n.digits as i64;
                Some(FVal::Int(if n.negative { -v } else { v }))
            }
            (b'-' | b'0'..=b'9', Kind::Float) => {
                let n = self.number()?;
                if n.negative && n.digits == 0 {
                    return None;
                }
                if n.integer {
                    // serde_json: a u64, or an i64 when negative, then `as f64`
                    let v = n.digits as i64;
                    return Some(FVal::Float(if n.negative {
                        (-v) as f64
                    } else {
                        n.digits as f64
                    }));
                }
                if n.digits >= 1 << 53 {
                    return None;
                }
                let pow = *POW10.get(n.exponent.unsigned_abs() as usize)?;
                let mut f = n.digits as f64;
                if n.exponent >= 0 {
                    f *= pow;
                } else {
                    f /= pow;
                }
                Some(FVal::Float(if n.negative { -f } else { f }))
            }
            _ => None,
        }
    }

    /// Skips the value of a key the type does not declare (scalars only).
    fn skip_scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number().map(|_| ()),
            _ => None,
        }
    }

    /// A number of at most 18 digits and an exponent of at most 4 digits
    /// (JSON's grammar: no leading zeros, digits after a point and after an
    /// exponent mark).
    fn number(&mut self) -> Option<Num> {
        let negative = self.eat(b'-').is_some();
        let mut digits = 0u64;
        let mut count = 0u32;
        let mut exponent = 0i32;
        let mut integer = true;
        match self.peek()? {
            b'0' => {
                self.i += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return None;
                }
            }
            b'1'..=b'9' => {
                while let Some(d @ b'0'..=b'9') = self.peek() {
                    digits = digits * 10 + u64::from(d - b'0');
                    count += 1;
                    if count > 18 {
                        return None;
                    }
                    self.i += 1;
                }
            }
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            integer = false;
            let before = self.i;
            while let Some(d @ b'0'..=b'9') = self.peek() {
                digits = digits * 10 + u64::from(d - b'0');
                count += 1;
                exponent -= 1;
                if count > 18 {
                    return None;
                }
                self.i += 1;
            }
            if self.i == before {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.i += 1;
            let negative_exp = match self.peek()? {
                b'-' => {
                    self.i += 1;
                    true
                }
                b'+' => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let before = self.i;
            let mut exp = 0i32;
            while let Some(d @ b'0'..=b'9') = self.peek() {
                exp = exp * 10 + i32::from(d - b'0');
                if self.i - before >= 4 {
                    return None;
                }
                self.i += 1;
            }
            if self.i == before {
                return None;
            }
            exponent += if negative_exp { -exp } else { exp };
        }
        Some(Num {
            negative,
            digits,
            exponent,
            integer,
        })
    }
}
