//! Helpers shared by every connector: reading arguments and options,
//! per-record templates, and committing source positions after acks.

pub mod args;
pub mod commit;
pub mod startup;
pub mod template;

use aqueduct_runtime::connector::{ConnectorError, DecodeError};

/// Most bytes of raw input kept in a [`DecodeError`].
pub const RAW_LIMIT: usize = 4096;

/// `text` cut to at most `max` bytes on a character boundary, marked with `…`.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A decode error for `raw` input.
pub fn decode_error(raw: &str, reason: impl Into<String>) -> DecodeError {
    DecodeError::text(truncate(raw, RAW_LIMIT), reason)
}

/// An I/O error as a connector error: interruptions and timeouts may pass,
/// anything else (missing file, permission) will not.
pub fn io_error(what: &str, err: &std::io::Error) -> ConnectorError {
    use std::io::ErrorKind::*;
    let message = format!("{what}: {err}");
    match err.kind() {
        Interrupted | TimedOut | WouldBlock | ResourceBusy | StorageFull | QuotaExceeded => {
            ConnectorError::Transient(message)
        }
        _ => ConnectorError::Permanent(message),
    }
}

/// Resolves once shutdown is signalled (never, if the sender is gone
/// without signalling).
pub async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Constant-time equality of two byte strings (length may leak, content not).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn compares_in_constant_time() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secre"));
    }
}
