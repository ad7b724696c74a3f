//! A `query(sql, key: [k1, …])` that resumes: the rows are read ordered by
//! the key, so the key of the last row handed to the flow is a position
//! the same statement can continue after (`WHERE (k1, …) > (…)`, the values
//! bound as parameters; the first read has no `WHERE`).
//!
//! - A connection that fails mid-result (a transient error) is opened
//!   again after a pause ([`pause`], shared with the `changes` sources) and
//!   the read goes on after the last row handed to the flow, in the same
//!   run: nothing is lost or read twice. [`ATTEMPTS`] failures in a row
//!   with no row read in between fail the run.
//! - The key of each row goes to a [`Committer`] with the row's ack, so
//!   the state store holds (`{kind}:{flow}:query`) the key of the last row
//!   whose chunk every target committed, the way `poll` keeps its
//!   watermark. A run killed mid-result resumes after it; a run that read
//!   the whole result and had every row acknowledged stores "complete"
//!   (JSON `null`), so the next run reads everything again.
//!
//! The key must be unique and never NULL across the result: rows with an
//! equal key would be skipped at a resume, and a NULL key has no place in
//! the order (a row with one fails the run).

use aqueduct_connectors::support::args::{arg_fields, label};
use aqueduct_connectors::support::commit::Committer;
use aqueduct_connectors::support::stopped;
use aqueduct_runtime::connector::{
    Ack, ConnectorError, DecodeError, Envelope, OpContext, StateStore,
};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Failed reads in a row, without a row read in between, that fail the
/// run: the pauses between them add up to about 48 s, enough for a server
/// restart.
pub(crate) const ATTEMPTS: u32 = 20;

/// The pause before attempt `failures + 1`: 250 ms more after each
/// failure, at most 5 s.
pub(crate) fn pause(failures: u32) -> Duration {
    Duration::from_millis(250 * u64::from(failures.clamp(1, 20)))
}

/// The key of a resumable query and where its position is kept.
pub(crate) struct Resume {
    /// The key's column names, in order.
    pub columns: Vec<String>,
    /// `db.query`, for messages.
    label: String,
    /// `postgres` or `mysql`, for the log.
    kind: &'static str,
    state_key: String,
    state: Arc<dyn StateStore>,
    /// A key value as stored (JSON).
    store: fn(&Value) -> serde_json::Value,
    /// A stored key value back.
    load: fn(&serde_json::Value) -> Option<Value>,
}

impl Resume {
    /// The context's `key`, if it has one.
    pub fn of(
        cx: &OpContext,
        kind: &'static str,
        store: fn(&Value) -> serde_json::Value,
        load: fn(&serde_json::Value) -> Option<Value>,
    ) -> Result<Option<Resume>, ConnectorError> {
        let columns = arg_fields(cx, "key")?;
        if columns.is_empty() {
            return Ok(None);
        }
        Ok(Some(Resume {
            columns,
            label: label(cx),
            kind,
            state_key: format!("{kind}:{}:query", cx.flow),
            state: cx.state.clone(),
            store,
            load,
        }))
    }

    /// `sql` ordered by the key, after the position when `after`;
    /// `quote` quotes a column name, `placeholder(i)` is parameter `i` (from 1).
    pub fn sql(
        &self,
        sql: &str,
        quote: fn(&str) -> String,
        placeholder: fn(usize) -> String,
        after: bool,
    ) -> String {
        let inner = sql.trim().trim_end_matches(';').trim_end();
        let key: Vec<String> = self.columns.iter().map(|c| quote(c)).collect();
        let key = key.join(", ");
        let mut out = format!("SELECT * FROM ({inner}) AS aq_resume");
        if after {
            let params: Vec<String> = (1..=self.columns.len()).map(placeholder).collect();
            out.push_str(&format!(" WHERE ({key}) > ({})", params.join(", ")));
        }
        out.push_str(&format!(" ORDER BY {key}"));
        out
    }

    /// Index of each key column among `columns`.
    pub fn indexes<S: AsRef<str>>(&self, columns: &[S]) -> Result<Vec<usize>, ConnectorError> {
        self.columns
            .iter()
            .map(|k| {
                columns.iter().position(|c| c.as_ref() == k).ok_or_else(|| {
                    ConnectorError::Config(format!(
                        "`{}`: key column `{k}` is not a column of the query",
                        self.label
                    ))
                })
            })
            .collect()
    }

    /// The position a previous run left, if it was interrupted.
    async fn stored(&self) -> Result<Option<Vec<Value>>, ConnectorError> {
        let Some(text) = self.state.get(&self.state_key).await? else {
            return Ok(None);
        };
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if json.is_null() {
            return Ok(None);
        }
        let same_key = json.get("key").and_then(|k| k.as_array()).is_some_and(|k| {
            k.iter()
                .map(|c| c.as_str())
                .eq(self.columns.iter().map(|c| Some(c.as_str())))
        });
        let after: Option<Vec<Value>> = json
            .get("after")
            .and_then(|a| a.as_array())
            .and_then(|a| a.iter().map(self.load).collect());
        match after {
            Some(after) if same_key && after.len() == self.columns.len() => Ok(Some(after)),
            _ => {
                tracing::warn!(key = %self.state_key, "the stored position of the query does not fit its key; reading the whole result");
                Ok(None)
            }
        }
    }

    /// The stored form of a position.
    fn position(&self, after: &[Value]) -> String {
        serde_json::json!({
            "key": self.columns,
            "after": after.iter().map(self.store).collect::<Vec<_>>(),
        })
        .to_string()
    }
}

/// Reads a query's result once, emitting each row through a [`Pass`].
pub(crate) trait Reader: Send {
    /// Reads the result (after `pass.after` when set); `Ok(false)` when the
    /// flow stopped taking records or shutdown was asked.
    fn read<'a, 'b: 'a>(
        &'a mut self,
        pass: &'a mut Pass<'b>,
    ) -> BoxFuture<'a, Result<bool, ConnectorError>>;
}

/// One read's way into the flow, and the position it reached.
pub(crate) struct Pass<'a> {
    out: &'a mpsc::Sender<Envelope>,
    resume: Option<(&'a Resume, &'a Committer)>,
    /// The key of the last row handed to the flow.
    pub after: Option<Vec<Value>>,
    /// Whether this read handed a row to the flow.
    progressed: bool,
}

impl Pass<'_> {
    /// Hands a row to the flow; `key` is its key values (empty without a
    /// key). False when the flow no longer takes records.
    pub async fn emit(
        &mut self,
        record: Result<Value, DecodeError>,
        key: Vec<Value>,
    ) -> Result<bool, ConnectorError> {
        let Some((resume, committer)) = self.resume else {
            let envelope = Envelope::new(record, Ack::none());
            return Ok(self.out.send(envelope).await.is_ok());
        };
        if let Some(i) = key.iter().position(Value::is_null) {
            return Err(ConnectorError::Permanent(format!(
                "`{}`: key column `{}` is NULL in a row; the key of a resumable query must never be NULL",
                resume.label, resume.columns[i]
            )));
        }
        let (ack, ack_rx) = Ack::new();
        let envelope = Envelope::new(record, ack);
        if self.out.send(envelope).await.is_err() {
            return Ok(false);
        }
        committer.push(ack_rx, Some(resume.position(&key)));
        self.after = Some(key);
        self.progressed = true;
        Ok(true)
    }
}

/// Runs `reader` once without a key; with one, from the stored position,
/// again after each transient failure, storing positions as rows are
/// acknowledged and "complete" once the whole result was.
pub(crate) async fn drive(
    reader: &mut dyn Reader,
    resume: Option<&Resume>,
    out: mpsc::Sender<Envelope>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ConnectorError> {
    let Some(resume) = resume else {
        let mut pass = Pass {
            out: &out,
            resume: None,
            after: None,
            progressed: false,
        };
        reader.read(&mut pass).await?;
        return Ok(());
    };
    let after = resume.stored().await?;
    if let Some(after) = &after {
        tracing::info!(key = %resume.state_key, after = %resume.position(after), "resuming an interrupted query");
    }
    let committer = Committer::start(resume.state.clone(), resume.state_key.clone());
    let mut pass = Pass {
        out: &out,
        resume: Some((resume, &committer)),
        after,
        progressed: false,
    };
    let mut failures = 0u32;
    let result = loop {
        pass.progressed = false;
        match reader.read(&mut pass).await {
            Ok(true) => {
                // stored only if every row before it was acknowledged
                let (ack, ack_rx) = Ack::new();
                ack.done();
                committer.push(ack_rx, Some("null".to_string()));
                break Ok(());
            }
            Ok(false) => break Ok(()),
            Err(e) if e.is_retryable() => {
                failures = if pass.progressed { 1 } else { failures + 1 };
                if failures >= ATTEMPTS {
                    break Err(e);
                }
                tracing::warn!(error = %e, "{} query failed; resuming after the last row read", resume.kind);
                tokio::select! {
                    _ = tokio::time::sleep(pause(failures)) => {}
                    _ = stopped(&mut shutdown) => break Ok(()),
                }
            }
            Err(e) => break Err(e),
        }
    };
    drop(pass);
    drop(out);
    committer.finish().await?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resume(columns: &[&str]) -> Resume {
        Resume {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            label: "db.query".into(),
            kind: "postgres",
            state_key: "postgres:f:query".into(),
            state: Arc::new(aqueduct_runtime::state::MemoryStore::default()),
            store: |v| v.to_json(),
            load: |j| Some(Value::Json(Arc::new(j.clone()))),
        }
    }

    #[test]
    fn the_first_read_has_no_condition_and_a_resume_compares_the_whole_key() {
        let r = resume(&["a", "b"]);
        let quote = |c: &str| format!("\"{c}\"");
        let dollar = |i: usize| format!("${i}");
        assert_eq!(
            r.sql("select a, b from t;  ", quote, dollar, false),
            "SELECT * FROM (select a, b from t) AS aq_resume ORDER BY \"a\", \"b\""
        );
        assert_eq!(
            r.sql("select a, b from t", quote, dollar, true),
            "SELECT * FROM (select a, b from t) AS aq_resume WHERE (\"a\", \"b\") > ($1, $2) ORDER BY \"a\", \"b\""
        );
    }

    #[tokio::test]
    async fn a_position_of_another_key_is_not_resumed() {
        let r = resume(&["a"]);
        let other = serde_json::json!({"key": ["b"], "after": [1]}).to_string();
        r.state.put(&r.state_key, &other).await.expect("put");
        assert!(r.stored().await.expect("get").is_none());
        let same = r.position(&[Value::Int(1)]);
        r.state.put(&r.state_key, &same).await.expect("put");
        assert_eq!(r.stored().await.expect("get").map(|a| a.len()), Some(1));
        r.state.put(&r.state_key, "null").await.expect("put");
        assert!(r.stored().await.expect("get").is_none());
    }
}
