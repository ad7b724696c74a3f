//! The seen keys of one `dedupe` step, and their expiry.
//!
//! With `within D` a key counts as seen for `D` after it was first let
//! through. Keys live in memory and, in async and batch flows, in the state
//! store (`dedupe/FLOW/STEP/KEY` → the time it was seen, as fixed-width
//! epoch milliseconds so stores can compare times as text), so the window
//! survives restarts. A key reaches the store only once its record is safe
//! (every target committed it, or the dead letter took it), before its
//! source is acknowledged: a key stored earlier would, after a crash before
//! the commit, make the redelivered record a "duplicate" and lose it. Both are swept of keys older than `D` at most every
//! `D / 4` (at least every second), so what a long-running `dedupe` holds
//! stays bounded by the keys of about `1.25 × D`. Without `within`, keys are
//! kept in memory for the whole run (and not persisted).
//!
//! Time is passed in (`now`) so tests can run a week of stream in a moment.

use crate::connector::StateStore;
use crate::expr::Compiled;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Digits of a stored time: epoch milliseconds, zero-padded so that text
/// order is time order.
const WIDTH: usize = 15;

/// What [`Dedupe::admit`] found.
pub enum Admission {
    /// Let through within the window: drop the record.
    Duplicate,
    /// New: pass the record on, and store the key (when the step persists
    /// keys) once the record is safe.
    New(Option<Remember>),
}

/// A key to store once its record is safe.
pub struct Remember {
    state_key: String,
    at: String,
    flow: String,
}

impl Remember {
    /// Stores the key; a state store that fails is logged and the key kept
    /// in memory only.
    pub async fn store(self, state: &dyn StateStore) {
        if let Err(error) = state.put(&self.state_key, &self.at).await {
            tracing::warn!(flow = %self.flow, %error, "Could not persist a dedupe key; it is kept in memory only.");
        }
    }
}

/// The seen keys of one `dedupe` step.
pub struct Dedupe {
    /// The key.
    pub key: Compiled,
    /// The window; `None` remembers keys for the whole run.
    pub within: Option<Duration>,
    /// Keep keys in the state store (async and batch flows with a window).
    pub persist: bool,
    /// State key prefix (`dedupe/FLOW/STEP/`).
    pub prefix: String,
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// Key → when it was let through (epoch ms).
    keys: HashMap<String, i64>,
    /// When the last sweep ran (epoch ms).
    swept: i64,
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A time as stored: fixed-width epoch milliseconds.
fn stored(ms: i64) -> String {
    format!("{:0WIDTH$}", ms.max(0))
}

/// A stored time: fixed-width milliseconds, or RFC 3339 (as written before).
fn parse_stored(text: &str) -> Option<i64> {
    if text.len() == WIDTH && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    crate::value::json::parse_timestamp(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

impl Dedupe {
    /// An empty window.
    pub fn new(key: Compiled, within: Option<Duration>, persist: bool, prefix: String) -> Dedupe {
        Dedupe {
            key,
            within,
            persist: persist && within.is_some(),
            prefix,
            inner: Mutex::new(Seen::default()),
        }
    }

    fn window_ms(&self) -> Option<i64> {
        self.within
            .map(|w| i64::try_from(w.as_millis()).unwrap_or(i64::MAX))
    }

    /// [`Admission::Duplicate`] when `key` was let through within the window
    /// before `now`; otherwise remembers it in memory (as of `now`) and
    /// returns what to store once the record is safe.
    pub async fn admit(
        &self,
        state: &dyn StateStore,
        flow: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Admission {
        let now_ms = millis(now);
        let window = self.window_ms();
        let fresh = |at: i64| window.is_none_or(|w| now_ms.saturating_sub(at) < w);
        let sweep = self.sweep_memory(now_ms);
        if let Some(cutoff) = sweep
            && self.persist
            && let Err(error) = state
                .remove_prefix_below(&self.prefix, &stored(cutoff))
                .await
        {
            tracing::warn!(flow = %flow, %error, "Could not expire old dedupe keys.");
        }
        let in_memory = self
            .inner
            .lock()
            .ok()
            .and_then(|s| s.keys.get(key).copied());
        if in_memory.is_some_and(fresh) {
            return Admission::Duplicate;
        }
        let mut remember = None;
        if self.persist {
            let state_key = format!("{}{}", self.prefix, key);
            if let Ok(Some(at)) = state.get(&state_key).await
                && let Some(at) = parse_stored(&at)
                && fresh(at)
            {
                self.remember(key, at);
                return Admission::Duplicate;
            }
            remember = Some(Remember {
                state_key,
                at: stored(now_ms),
                flow: flow.to_string(),
            });
        }
        self.remember(key, now_ms);
        Admission::New(remember)
    }

    /// Drops expired keys from memory when a sweep is due; returns the
    /// cutoff (keys seen before it are expired) when it swept.
    fn sweep_memory(&self, now_ms: i64) -> Option<i64> {
        let window = self.window_ms()?;
        let every = (window / 4).max(1000);
        let mut seen = self.inner.lock().ok()?;
        if now_ms.saturating_sub(seen.swept) < every {
            return None;
        }
        seen.swept = now_ms;
        let cutoff = now_ms.saturating_sub(window);
        seen.keys.retain(|_, at| *at >= cutoff);
        Some(cutoff)
    }

    fn remember(&self, key: &str, at: i64) {
        if let Ok(mut seen) = self.inner.lock() {
            seen.keys.insert(key.to_string(), at);
        }
    }

    /// Keys held in memory (for tests and metrics).
    pub fn held(&self) -> usize {
        self.inner.lock().map(|s| s.keys.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{MemoryStore, SqliteStore};
    use aqueduct_graph::{Expr, ExprKind, Type, Value as Lit};
    use std::sync::Arc;

    fn dedupe(within: Duration) -> Dedupe {
        let key = crate::expr::compile(
            &Expr {
                kind: ExprKind::Lit(Lit::Null),
                ty: Type::Null,
            },
            &Arc::new(crate::value::Schemas::default()),
        );
        Dedupe::new(key, Some(within), true, "dedupe/f/s1/".into())
    }

    /// `admit`, with the key stored at once (as if its record was safe).
    async fn is_duplicate(
        d: &Dedupe,
        state: &dyn StateStore,
        key: &str,
        now: DateTime<Utc>,
    ) -> bool {
        match d.admit(state, "f", key, now).await {
            Admission::Duplicate => true,
            Admission::New(remember) => {
                if let Some(remember) = remember {
                    remember.store(state).await;
                }
                false
            }
        }
    }

    fn start() -> DateTime<Utc> {
        crate::value::json::parse_timestamp("2026-01-05T00:00:00Z").expect("ts")
    }

    /// A week of stream (one new key every 10 simulated seconds, each sent
    /// twice, a minute apart), `within 1h`: duplicates in the window are
    /// dropped, keys past it expire, and neither memory nor the state store
    /// ever holds more than the keys of about 1.25 hours.
    #[tokio::test]
    async fn a_week_of_keys_within_an_hour_stays_bounded() {
        let state = MemoryStore::default();
        let d = dedupe(Duration::from_secs(3600));
        let step = chrono::Duration::seconds(10);
        let bound = 3600 * 5 / 4 / 10 + 10;
        let mut max_store = 0;
        let mut max_memory = 0;
        let mut now = start();
        let week = 7 * 24 * 360;
        for i in 0..week {
            let key = format!("k{i}");
            assert!(!is_duplicate(&d, &state, &key, now).await, "{key} is new");
            if i >= 6 {
                // the key of a minute ago, again: inside the window
                let again = format!("k{}", i - 6);
                assert!(is_duplicate(&d, &state, &again, now).await, "{again}");
            }
            now += step;
            // the sweep runs every 15 minutes (90 steps): sample just before it
            if i % 90 >= 85 {
                max_store = max_store.max(state.snapshot().len());
            }
            max_memory = max_memory.max(d.held());
        }
        assert!(
            max_store <= bound,
            "store held {max_store} keys (bound {bound})"
        );
        assert!(
            max_memory <= bound,
            "memory held {max_memory} keys (bound {bound})"
        );
        assert!(max_store >= 360, "the window itself is kept: {max_store}");
        // a key from two hours ago is new again
        let old = format!("k{}", week - 720);
        assert!(!is_duplicate(&d, &state, &old, now).await);
    }

    /// Expiry works in the SQLite store, and on keys a previous run wrote.
    #[tokio::test]
    async fn sqlite_keys_past_the_window_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = SqliteStore::open(&dir.path().join("state.db"))
            .await
            .expect("open");
        let d = dedupe(Duration::from_secs(60));
        let now = start();
        for i in 0..100 {
            let at = now + chrono::Duration::seconds(i);
            assert!(!is_duplicate(&d, &state, &format!("k{i}"), at).await);
        }
        state
            .put("other/key", "000000000000000")
            .await
            .expect("put");
        // a new run (empty memory) five minutes later: k0..k99 are expired
        let d = dedupe(Duration::from_secs(60));
        let later = now + chrono::Duration::seconds(400);
        assert!(!is_duplicate(&d, &state, "k5", later).await);
        assert_eq!(state.get("dedupe/f/s1/k6").await.expect("get"), None);
        assert!(state.get("dedupe/f/s1/k5").await.expect("get").is_some());
        assert!(
            state.get("other/key").await.expect("get").is_some(),
            "other keys stay"
        );
        // within the window a restart still sees the key
        let d = dedupe(Duration::from_secs(60));
        assert!(is_duplicate(&d, &state, "k5", later + chrono::Duration::seconds(30)).await);
    }

    /// A key let through whose record never became safe (the targets did
    /// not commit it before a crash) is not stored: after a restart the
    /// redelivered record is new, not a duplicate.
    #[tokio::test]
    async fn a_key_whose_record_never_landed_is_new_after_a_restart() {
        let state = MemoryStore::default();
        let d = dedupe(Duration::from_secs(3600));
        let now = start();
        assert!(matches!(
            d.admit(&state, "f", "k1", now).await,
            Admission::New(Some(_))
        ));
        // within the run, the key is seen
        assert!(matches!(
            d.admit(&state, "f", "k1", now).await,
            Admission::Duplicate
        ));
        assert!(state.snapshot().is_empty(), "nothing stored yet");
        let restarted = dedupe(Duration::from_secs(3600));
        assert!(matches!(
            restarted.admit(&state, "f", "k1", now).await,
            Admission::New(Some(_))
        ));
    }
}
