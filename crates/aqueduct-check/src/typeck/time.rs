//! Validation of timestamp and date literals written as strings
//! (`"2026-01-01T00:00:00Z"`, `"2026-01-31"`), so a typo is a compile error
//! rather than a failure at run time. The checker keeps the text as written;
//! the runtime parses it.

/// Checks `YYYY-MM-DD`; the error says what is wrong, in user words.
pub(super) fn check_date(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    if bytes.len() < 10 || !shape(&bytes[..10], b"dddd-dd-dd") {
        return Err("a date is written `YYYY-MM-DD`".to_string());
    }
    if bytes.len() > 10 {
        return Err(
            "a date has no time part; use a `timestamp` field for a date and time".to_string(),
        );
    }
    check_calendar(text)
}

/// Checks an RFC 3339 timestamp: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
pub(super) fn check_timestamp(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    if bytes.len() < 10 || !shape(&bytes[..10], b"dddd-dd-dd") {
        return Err("a timestamp is written `YYYY-MM-DDTHH:MM:SSZ`".to_string());
    }
    check_calendar(&text[..10])?;
    if bytes.len() == 10 {
        return Err("it has no time; add one, e.g. `T00:00:00Z`".to_string());
    }
    // RFC 3339 allows `t` and a space for `T`.
    if !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes.len() < 19
        || !shape(&bytes[11..19], b"dd:dd:dd")
    {
        return Err("the time is written `THH:MM:SS` after the date".to_string());
    }
    let hour = number(&bytes[11..13]);
    let minute = number(&bytes[14..16]);
    let second = number(&bytes[17..19]);
    // 60 is a leap second, which RFC 3339 allows.
    if hour > 23 || minute > 59 || second > 60 {
        return Err(format!("`{}` is not a time of day", &text[11..19]));
    }
    let mut rest = &bytes[19..];
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let digits = after_dot.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err("a fraction of a second needs digits after the `.`".to_string());
        }
        rest = &after_dot[digits..];
    }
    match rest {
        b"Z" | b"z" => Ok(()),
        [b'+' | b'-', zone @ ..]
            if shape(zone, b"dd:dd") && number(&zone[..2]) <= 23 && number(&zone[3..]) <= 59 =>
        {
            Ok(())
        }
        [] => Err("it has no time zone; add `Z` for UTC or an offset such as `+02:00`".to_string()),
        _ => Err("the time zone is written `Z` or as an offset such as `+02:00`".to_string()),
    }
}

/// Month and day ranges of a `YYYY-MM-DD` text already known to have that shape.
fn check_calendar(date: &str) -> Result<(), String> {
    let bytes = date.as_bytes();
    let year = number(&bytes[..4]);
    let month = number(&bytes[5..7]);
    let day = number(&bytes[8..10]);
    if !(1..=12).contains(&month) {
        return Err(format!("there is no month {month}"));
    }
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days {
        return Err(format!("month {month} of {year} has no day {day}"));
    }
    Ok(())
}

/// True when `bytes` matches `pattern`, where `d` stands for a digit.
fn shape(bytes: &[u8], pattern: &[u8]) -> bool {
    bytes.len() == pattern.len()
        && bytes.iter().zip(pattern).all(|(b, p)| {
            if *p == b'd' {
                b.is_ascii_digit()
            } else {
                b == p
            }
        })
}

/// The value of ASCII digits already checked by [`shape`].
fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
}

#[cfg(test)]
mod tests {
    use super::{check_date, check_timestamp};

    #[test]
    fn accepts_rfc3339_and_dates() {
        for ok in [
            "2026-01-01T00:00:00Z",
            "2024-02-29T23:59:60.123+02:00",
            "2026-01-01 08:00:00-05:30",
        ] {
            assert_eq!(check_timestamp(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_date("2026-12-31"), Ok(()));
    }

    #[test]
    fn explains_bad_literals() {
        assert_eq!(
            check_date("2026-13-01"),
            Err("there is no month 13".to_string())
        );
        assert_eq!(
            check_date("2025-02-29"),
            Err("month 2 of 2025 has no day 29".to_string())
        );
        assert!(check_date("31/01/2026").is_err());
        assert!(check_timestamp("2026-01-01").is_err_and(|e| e.contains("no time")));
        assert!(check_timestamp("2026-01-01T00:00:00").is_err_and(|e| e.contains("time zone")));
        assert!(check_timestamp("2026-01-01T25:00:00Z").is_err());
        assert!(check_timestamp("2026-01-01T00:00:00.Z").is_err());
    }
}
