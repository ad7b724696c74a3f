//! Cron expression validation for `schedule "…"`.

use croner::parser::{CronParser, Seconds};

/// Checks a 5-field (or 6-field, seconds first) cron expression.
pub(crate) fn validate(text: &str) -> Result<(), String> {
    let fields = text.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(format!(
            "it has {fields} fields; cron takes 5, or 6 with seconds first"
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(text)
        .map(|_| ())
        .map_err(|e| e.to_string())
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
}
