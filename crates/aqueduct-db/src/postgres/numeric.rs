//! `numeric` columns read without rounding.
//!
//! rust_decimal's own `FromSql` rounds a `numeric` with more digits than a
//! decimal holds (28 significant digits) to fit, silently. Here the
//! binary value is spelled out as decimal text and parsed exactly
//! ([`aqueduct_runtime::value::json::parse_decimal`]): such a value is an error
//! naming the value, which the caller puts beside the column.

use aqueduct_runtime::value::json::parse_decimal;
use rust_decimal::Decimal;

/// The `numeric` in its binary wire form, exactly, or why it cannot be a decimal.
pub fn decode(raw: &[u8]) -> Result<Decimal, String> {
    parse_decimal(&text(raw)?)
}

/// The wire form as decimal text: `ndigits`, `weight`, `sign`, `dscale`
/// (16 bits each), then `ndigits` base-10000 digits, the first of weight
/// `weight`.
fn text(raw: &[u8]) -> Result<String, String> {
    let word = |i: usize| -> Result<u16, String> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated numeric".to_string())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    let digits = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Result<Vec<u16>, String>>()?;
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        0xC000 => return Err("NaN is not a decimal".to_string()),
        0xD000 | 0xF000 => return Err("infinity is not a decimal".to_string()),
        _ => return Err("a numeric of unknown sign".to_string()),
    };
    let digit = |i: i64| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit(0).to_string());
        for i in 1..=weight {
            out.push_str(&format!("{:04}", digit(i)));
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        for w in [ndigits, weight as u16, sign, dscale].iter().chain(digits) {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out
    }

    #[test]
    fn spells_out_the_wire_form() {
        // 1234567.0890 (numeric(12,4)): digits 123 4567 0890, weight 1
        assert_eq!(
            text(&wire(3, 1, 0, 4, &[123, 4567, 890])),
            Ok("1234567.0890".to_string())
        );
        // -0.00012 (scale 5): digit 1 2000 of weight -1
        assert_eq!(
            text(&wire(2, -1, 0x4000, 5, &[1, 2000])),
            Ok("-0.00012".to_string())
        );
        assert_eq!(text(&wire(0, 0, 0, 2, &[])), Ok("0.00".to_string()));
        assert_eq!(text(&wire(1, 2, 0, 0, &[5])), Ok("500000000".to_string()));
        assert!(decode(&wire(0, 0, 0xC000, 0, &[])).is_err());
    }

    #[test]
    fn refuses_what_a_decimal_cannot_hold() {
        // 1234567890123456789012345.1234567891 (numeric(38,10), 35 digits)
        let raw = wire(
            10,
            6,
            0,
            10,
            &[1, 2345, 6789, 123, 4567, 8901, 2345, 1234, 5678, 9100],
        );
        assert_eq!(
            text(&raw),
            Ok("1234567890123456789012345.1234567891".to_string())
        );
        assert!(decode(&raw).is_err());
    }
}
