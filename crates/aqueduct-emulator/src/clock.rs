//! The emulated clock. Everything with a lifetime (tokens, CometD sessions,
//! query cursors, retained events, outbound retries, the rolling API
//! allocation) reads this clock, never the system's, so a test can move time
//! forward through the admin API instead of waiting. It either follows real
//! time from a start instant (the default) or is frozen and moves only when
//! advanced, which makes every timestamp of a run reproducible.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use std::time::Instant;

/// Real or frozen time, plus an offset the admin API can advance.
#[derive(Debug, Clone)]
pub struct Clock {
    base: DateTime<Utc>,
    started: Instant,
    frozen: bool,
    offset: Duration,
}

impl Clock {
    /// A clock reading `start` now (the current time when `None`); frozen
    /// clocks only move when advanced.
    pub fn new(start: Option<DateTime<Utc>>, frozen: bool) -> Clock {
        Clock {
            base: start.unwrap_or_else(Utc::now),
            started: Instant::now(),
            frozen,
            offset: Duration::zero(),
        }
    }

    /// Today's date in emulated time (UTC), for SOQL date literals.
    pub fn today(&self) -> chrono::NaiveDate {
        self.now().date_naive()
    }

    /// The current emulated time, in whole milliseconds.
    pub fn now(&self) -> DateTime<Utc> {
        let run = if self.frozen {
            Duration::zero()
        } else {
            Duration::from_std(self.started.elapsed()).unwrap_or_else(|_| Duration::zero())
        };
        let t = self.base + run + self.offset;
        // Salesforce timestamps carry milliseconds; keep the same precision so
        // a value read back compares equal to the one written.
        DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
    }

    /// Epoch milliseconds of [`Clock::now`].
    pub fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, by: Duration) {
        self.offset += by;
    }
}

/// A timestamp as the REST API writes it: `2024-01-02T17:38:59.000+0000`.
pub fn rest_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// A timestamp as streaming events write it: `2024-01-02T17:38:59.000Z`.
pub fn event_datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses the datetime forms Salesforce accepts on input (`…Z`, `…+0000`,
/// `…+00:00`, with or without milliseconds).
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(text, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clocks_move_only_when_advanced() {
        let start = parse_datetime("2024-01-02T17:38:59.000Z");
        let mut clock = Clock::new(start, true);
        assert_eq!(rest_datetime(clock.now()), "2024-01-02T17:38:59.000+0000");
        clock.advance(Duration::seconds(90));
        assert_eq!(event_datetime(clock.now()), "2024-01-02T17:40:29.000Z");
    }

    #[test]
    fn accepts_salesforce_datetime_spellings() {
        for text in [
            "2024-01-02T17:38:59Z",
            "2024-01-02T17:38:59.000Z",
            "2024-01-02T17:38:59.000+0000",
            "2024-01-02T18:38:59+01:00",
        ] {
            let t = parse_datetime(text).map(rest_datetime);
            assert_eq!(t.as_deref(), Some("2024-01-02T17:38:59.000+0000"), "{text}");
        }
        assert!(parse_datetime("yesterday").is_none());
    }
}
