//! Start-up checks: the executor builds operations from synchronous code
//! (possibly inside a runtime, where blocking on a future would panic), so
//! each check runs on a thread of its own with a runtime of its own.

use aqueduct_runtime::connector::ConnectorError;

/// Runs `job` on a thread of its own with a runtime of its own, and waits:
/// for start-up checks, which the executor makes from synchronous code
/// (possibly inside a runtime, where blocking on a future would panic).
pub fn startup<T: Send + 'static>(
    job: impl FnOnce() -> futures::future::BoxFuture<'static, Result<T, ConnectorError>>
    + Send
    + 'static,
) -> Result<T, ConnectorError> {
    let handle = std::thread::Builder::new()
        .name("aqueduct-startup-check".to_string())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| ConnectorError::Config(format!("cannot start a runtime: {e}")))?;
            runtime.block_on(job())
        })
        .map_err(|e| ConnectorError::Config(format!("cannot start a thread: {e}")))?;
    handle
        .join()
        .map_err(|_| ConnectorError::Config("the start-up check panicked".to_string()))?
}
