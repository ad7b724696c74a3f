//! `timeout D`: bounds each call and write (async, batch) or the whole
//! request (sync, answered 504).

use crate::connector::ConnectorError;
use std::future::Future;
use std::time::Duration;

/// Runs `fut` within `limit` (no limit when `None`); running out is a
/// transient error, so it may be retried.
pub async fn bounded<T>(
    limit: Option<Duration>,
    fut: impl Future<Output = Result<T, ConnectorError>>,
) -> Result<T, ConnectorError> {
    match limit {
        None => fut.await,
        Some(d) => match tokio::time::timeout(d, fut).await {
            Ok(r) => r,
            Err(_) => Err(ConnectorError::Transient(format!(
                "timed out after {}",
                human(d)
            ))),
        },
    }
}

/// `250ms`, `3s`, `2m`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) && ms > 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn times_out_slow_calls() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, ConnectorError>(())
        };
        let e = bounded(Some(Duration::from_millis(20)), slow)
            .await
            .expect_err("times out");
        assert_eq!(e.to_string(), "timed out after 20ms");
        assert!(e.is_retryable());
    }
}
