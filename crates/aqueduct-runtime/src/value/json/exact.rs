//! Decimal text to [`Decimal`] without rounding.
//!
//! `rust_decimal` holds 96 bits of digits (28 significant digits, 29 below
//! 79228162514264337593543950335) and at most 28 after the point; its
//! `FromStr` rounds what does not fit. A decimal that reaches a database
//! rounded is a different amount, so text with more digits than that is
//! refused with a message instead. Trailing zeros after the point are only
//! scale: they are dropped when the digits would not fit otherwise.

use rust_decimal::Decimal;

/// Why a text is not a decimal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inexact {
    /// Not decimal text at all.
    NotADecimal,
    /// A number with more digits than a decimal holds; the message says so.
    TooManyDigits(String),
}

/// The decimal `text` is (plain `12.50` or scientific `1.5e3`), exactly.
pub fn parse(text: &str) -> Result<Decimal, Inexact> {
    let t = text.trim();
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let plain = plain(mantissa)?;
    if exponent.is_none() {
        return Ok(plain);
    }
    // the mantissa fits; a scale beyond 28 or an overflow is an error, not a rounding
    Decimal::from_scientific(t).map_err(|_| too_many(t))
}

/// Plain decimal text, exactly; trailing fractional zeros dropped if need be.
fn plain(t: &str) -> Result<Decimal, Inexact> {
    if let Ok(d) = Decimal::from_str_exact(t) {
        return Ok(d);
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let numeric = digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|b| *b == b'.').count() <= 1;
    if !numeric {
        return Err(Inexact::NotADecimal);
    }
    if t.contains('.') {
        let trimmed = t.trim_end_matches('0').trim_end_matches('.');
        if let Ok(d) = Decimal::from_str_exact(trimmed) {
            return Ok(d);
        }
    }
    Err(too_many(t))
}

fn too_many(t: &str) -> Inexact {
    Inexact::TooManyDigits(format!(
        "{t} has more digits than a decimal holds exactly (28 significant digits, at most 28 after the point)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_exactly_or_is_refused() {
        let ok = |t: &str| parse(t).map(|d| d.to_string());
        assert_eq!(ok("12.50"), Ok("12.50".to_string()));
        assert_eq!(
            ok("1234567890123456789.0123456780"),
            Ok("1234567890123456789.0123456780".to_string())
        );
        // 30 digits, the last a zero of scale only
        assert_eq!(
            ok("12345678901234567890.1234567890"),
            Ok("12345678901234567890.123456789".to_string())
        );
        assert_eq!(ok("1.5e3"), Ok("1500".to_string()));
        assert_eq!(ok("abc"), Err(Inexact::NotADecimal));
        for t in [
            "1234567890123456789012345.1234567891",
            "0.12345678901234567890123456789",
            "123456789012345678901234567890123456",
            "1.2345678901234567890123456789012e3",
        ] {
            assert!(
                matches!(parse(t), Err(Inexact::TooManyDigits(_))),
                "{t}: {:?}",
                parse(t)
            );
        }
    }
}
