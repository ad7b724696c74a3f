//! Writing a group of records one request each: a record the remote refuses
//! for good goes to the dead letter on its own, the others go through.

use aqueduct_runtime::connector::{ConnectorError, Rejected};
use aqueduct_runtime::value::Value;
use std::future::Future;

/// Sends each record with `send`. Permanent failures are the refused
/// records; the first transient failure stops the group (`Err`), so the
/// flow's retry sends it again (records before it may then arrive twice:
/// at least once).
pub(crate) async fn send_each<'a, F, Fut>(
    records: &'a [Value],
    send: F,
) -> Result<Vec<Rejected>, ConnectorError>
where
    F: Fn(&'a Value) -> Fut,
    Fut: Future<Output = Result<(), ConnectorError>>,
{
    let mut rejected = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match send(record).await {
            Ok(()) => {}
            Err(error) if !error.is_retryable() => rejected.push(Rejected { index, error }),
            Err(error) => return Err(error),
        }
    }
    Ok(rejected)
}
