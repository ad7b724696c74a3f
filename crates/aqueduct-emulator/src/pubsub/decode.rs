//! Reading the payload of an event sent to `Publish`: Avro binary written
//! with a platform event's schema ([`EventSchema`]: `CreatedDate` as a
//! `long`, `CreatedById` as a `string`, then every data field as
//! `["null", T]`), back into the JSON values a REST publish takes, so both
//! go through the same checks. Anything the schema does not account for
//! (a truncated value, a union branch past `1`, bytes left over, text that
//! is not UTF-8) is an error naming where it happened.

use super::avro::{EventSchema, Kind};
use crate::clock::rest_datetime;
use serde_json::{Map, Value, json};

/// A decoded platform event (its `CreatedDate` is read past: the stored
/// event gets the publish time, as through REST).
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// `CreatedById`.
    pub created_by: String,
    /// The data fields that are not null, as a REST body would hold them.
    pub fields: Map<String, Value>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "the payload ends at byte {} inside a {n}-byte value",
                    self.bytes.len()
                )
            })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// A zig-zag varint.
    fn long(&mut self) -> Result<i64, String> {
        let start = self.at;
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| format!("the payload ends at byte {}", self.at))?;
            self.at += 1;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
            }
        }
        Err(format!(
            "the number at byte {start} is longer than 10 bytes"
        ))
    }

    fn string(&mut self) -> Result<String, String> {
        let at = self.at;
        let n = self.long()?;
        let n = usize::try_from(n).map_err(|_| format!("negative length {n} at byte {at}"))?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| format!("the string at byte {at} is not UTF-8"))
    }

    /// One data value of `kind`, as JSON.
    fn value(&mut self, kind: Kind) -> Result<Value, String> {
        Ok(match kind {
            Kind::String => Value::String(self.string()?),
            Kind::Boolean => match self.take(1)? {
                [0] => json!(false),
                [1] => json!(true),
                b => return Err(format!("byte {} is not a boolean ({b:?})", self.at - 1)),
            },
            Kind::Int => json!(self.long()?),
            Kind::Double => {
                let mut a = [0u8; 8];
                a.copy_from_slice(self.take(8)?);
                let f = f64::from_le_bytes(a);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("the double {f} has no JSON form"))?
            }
            Kind::DateTime => {
                let ms = self.long()?;
                let t = chrono::DateTime::from_timestamp_millis(ms)
                    .ok_or_else(|| format!("{ms} ms is not a date-time"))?;
                Value::String(rest_datetime(t))
            }
            Kind::Date => {
                let days = self.long()?;
                let d = chrono::NaiveDate::default()
                    .checked_add_signed(chrono::TimeDelta::days(days))
                    .ok_or_else(|| format!("{days} days is not a date"))?;
                Value::String(d.format("%Y-%m-%d").to_string())
            }
        })
    }
}

/// Decodes a platform event's payload written with `schema`.
pub fn decode_event(schema: &EventSchema, bytes: &[u8]) -> Result<Decoded, String> {
    if schema.change {
        return Err("change events cannot be published".into());
    }
    let mut r = Reader { bytes, at: 0 };
    r.long().map_err(|e| format!("CreatedDate: {e}"))?;
    let created_by = r.string().map_err(|e| format!("CreatedById: {e}"))?;
    let mut fields = Map::new();
    for (name, kind) in &schema.fields {
        let branch = r.long().map_err(|e| format!("{name}: {e}"))?;
        match branch {
            0 => {}
            1 => {
                let v = r.value(*kind).map_err(|e| format!("{name}: {e}"))?;
                fields.insert(name.clone(), v);
            }
            n => return Err(format!("{name}: union branch {n} does not exist")),
        }
    }
    if r.at != bytes.len() {
        return Err(format!(
            "{} bytes left over after the last field",
            bytes.len() - r.at
        ));
    }
    Ok(Decoded { created_by, fields })
}

#[cfg(test)]
mod tests {
    use super::super::avro::{event_schema, long, string};
    use super::*;
    use crate::schema::Schema;
    use crate::seed::Seed;

    fn order_event() -> EventSchema {
        let seed = "
objects:
  - name: Order__e
    fields:
      - { name: Number__c, type: string, required: true }
      - { name: Total__c, type: double }
      - { name: Count__c, type: int }
      - { name: Rush__c, type: boolean }
      - { name: Due__c, type: date }
      - { name: Shipped__c, type: datetime }
";
        let schema = Schema::build(&Seed::parse(seed, "test").expect("seed")).expect("schema");
        event_schema(schema.object("Order__e").expect("the event"))
    }

    #[test]
    fn a_payload_the_emulator_encodes_decodes_to_the_same_fields() {
        let schema = order_event();
        let payload = json!({
            "CreatedDate": 1_733_220_000_000i64, "CreatedById": "005000000000001AAA",
            "Number__c": "O-1", "Total__c": 10.5, "Count__c": -3, "Rush__c": true,
            "Due__c": "2024-12-03", "Shipped__c": "2024-12-03T10:00:00.000Z"
        });
        let decoded = decode_event(&schema, &schema.encode(&payload)).expect("decodes");
        assert_eq!(decoded.created_by, "005000000000001AAA");
        assert_eq!(
            Value::Object(decoded.fields),
            json!({"Number__c": "O-1", "Total__c": 10.5, "Count__c": -3, "Rush__c": true,
                   "Due__c": "2024-12-03", "Shipped__c": "2024-12-03T10:00:00.000+0000"})
        );
        // null fields are left out, as a REST body leaves them out
        let sparse = json!({"CreatedDate": 0, "CreatedById": "005", "Number__c": "O-2"});
        let decoded = decode_event(&schema, &schema.encode(&sparse)).expect("decodes");
        assert_eq!(Value::Object(decoded.fields), json!({"Number__c": "O-2"}));
    }

    #[test]
    fn payloads_the_schema_does_not_account_for_are_errors() {
        let schema = order_event();
        let good =
            schema.encode(&json!({"CreatedDate": 1, "CreatedById": "005", "Number__c": "O-1"}));
        let error = |bytes: &[u8]| decode_event(&schema, bytes).expect_err("refused");
        assert_eq!(error(&[]), "CreatedDate: the payload ends at byte 0");
        assert!(
            error(&good[..good.len() - 1]).starts_with("Shipped__c:"),
            "{}",
            error(&good[..good.len() - 1])
        );
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(error(&longer), "1 bytes left over after the last field");
        // CreatedDate 1, CreatedById "005", then union branch 2
        let mut bad = Vec::new();
        long(&mut bad, 1);
        string(&mut bad, "005");
        long(&mut bad, 2);
        assert_eq!(error(&bad), "Number__c: union branch 2 does not exist");
        let mut not_utf8 = Vec::new();
        long(&mut not_utf8, 1);
        not_utf8.extend_from_slice(&[2, 0xff]);
        assert_eq!(
            error(&not_utf8),
            "CreatedById: the string at byte 1 is not UTF-8"
        );
    }
}
