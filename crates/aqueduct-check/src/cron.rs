//! Cron expression validation for `schedule "…"`.

use croner::parser::{CronParser, Seconds};

/// The fields of a cron expression with their ranges, seconds first.
const FIELDS: [(&str, u32, u32); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
];

/// Checks a 5-field (or 6-field, seconds first) cron expression. The error
/// says which field is wrong, in words.
pub(crate) fn validate(text: &str) -> Result<(), String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if !(5..=6).contains(&fields.len()) {
        return Err(format!(
            "it has {} field{}; cron takes 5, or 6 with seconds first",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" }
        ));
    }
    let specs = &FIELDS[6 - fields.len()..];
    for (field, (name, min, max)) in fields.iter().zip(specs) {
        check_field(field, name, *min, *max)?;
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(text)
        .map(|_| ())
        .map_err(|e| {
            let why = e.to_string();
            let why = why.trim_start_matches("Component error: ");
            why.trim_end_matches('.').to_lowercase()
        })
}

/// Range-checks the numbers of one field (`5`, `1-5`, `*/15`, `1,3`); names
/// (`MON`, `JAN`) and special characters (`L`, `W`, `#`, `?`) are left to
/// the parser.
fn check_field(field: &str, name: &str, min: u32, max: u32) -> Result<(), String> {
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step
            && step.parse::<u32>().is_ok_and(|s| s == 0)
        {
            return Err(format!("the {name} step `/{step}` must be above zero"));
        }
        for number in range.split('-') {
            let Ok(n) = number.parse::<u32>() else {
                continue;
            };
            if n < min || n > max {
                return Err(format!(
                    "{name} `{n}` is out of range (the {name} field takes {min}–{max})"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_common_schedules_and_rejects_nonsense() {
        assert!(validate("0 2 * * *").is_ok());
        assert!(validate("*/15 * * * *").is_ok());
        assert!(validate("0 0 2 * * MON-FRI").is_ok());
        assert!(validate("61 * * * *").is_err());
        assert!(validate("every day").is_err());
    }

    #[test]
    fn names_the_field_that_is_out_of_range() {
        assert_eq!(
            validate("61 * * * *").unwrap_err(),
            "minute `61` is out of range (the minute field takes 0–59)"
        );
        assert_eq!(
            validate("0 0 25 * * *").unwrap_err(),
            "hour `25` is out of range (the hour field takes 0–23)"
        );
        assert_eq!(
            validate("0 2 * 13 *").unwrap_err(),
            "month `13` is out of range (the month field takes 1–12)"
        );
        assert!(validate("*/0 * * * *").unwrap_err().contains("above zero"));
        assert!(validate("0 2 * * 1-5").is_ok());
    }
}
