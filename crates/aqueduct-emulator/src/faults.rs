//! Faults on demand. A rule names a fault and where it applies (method,
//! path glob, object); it fires on matching requests after skipping `after`
//! of them, `times` times (or `always`). Rules come from the seed's
//! `faults:` list and from `POST /_emulator/faults` at run time.
//!
//! | fault | effect |
//! |---|---|
//! | `service_unavailable` | HTTP 503 `SERVER_UNAVAILABLE` |
//! | `server_error` | HTTP 500 `UNKNOWN_EXCEPTION` |
//! | `session_expired` | HTTP 401 `INVALID_SESSION_ID`, and the presented token really expires |
//! | `request_limit_exceeded` | HTTP 403 `REQUEST_LIMIT_EXCEEDED` "TotalRequests Limit exceeded." |
//! | `concurrent_request_limit` | HTTP 403 `REQUEST_LIMIT_EXCEEDED` "ConcurrentPerOrgLongTxn Limit exceeded." |
//! | `unable_to_lock_row` | the write of a matching record fails with `UNABLE_TO_LOCK_ROW` (per record in collections and Bulk) |
//! | `drop_session` | a matching CometD `/meta/connect` loses its session: `403::Unknown client` |
//! | `bulk_job_failed` | a Bulk API 2.0 ingest job fails while processing its rows (`after` counts rows) |
//! | `event_rejected` | an event of a Pub/Sub `Publish` (of `object`, if given) gets a per-event `PUBLISH` error and is not published; the others of the request are (`after` counts events) |

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 503.
    ServiceUnavailable,
    /// 500.
    ServerError,
    /// 401 and the token expires.
    SessionExpired,
    /// 403 daily limit.
    RequestLimitExceeded,
    /// 403 concurrency limit.
    ConcurrentRequestLimit,
    /// Record lock timeout on writes.
    UnableToLockRow,
    /// CometD session dropped.
    DropSession,
    /// A Bulk API 2.0 ingest job fails while processing its rows.
    BulkJobFailed,
    /// One event of a Pub/Sub `Publish` is refused with a per-event error.
    EventRejected,
}

impl FaultKind {
    /// Faults answered at the HTTP level, before the request is handled.
    pub fn is_request_level(self) -> bool {
        !matches!(
            self,
            FaultKind::UnableToLockRow
                | FaultKind::DropSession
                | FaultKind::BulkJobFailed
                | FaultKind::EventRejected
        )
    }
}

/// How often a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Times {
    /// This many times.
    Count(u64),
    /// `always`.
    Always(AlwaysWord),
}

/// The word `always`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlwaysWord {
    /// Every matching request.
    Always,
}

impl Default for Times {
    fn default() -> Self {
        Times::Count(1)
    }
}

/// One fault rule, as written in the seed or posted to the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Which fault.
    pub fault: FaultKind,
    /// Only requests with this HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only requests whose path matches this glob (`*` = any characters;
    /// without `*`, the path and everything under it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only writes of this sObject (`unable_to_lock_row`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Let this many matching requests through first.
    #[serde(default)]
    pub after: u64,
    /// How many times to fire (default 1), or `always`.
    #[serde(default)]
    pub times: Times,
}

#[derive(Debug, Clone)]
struct Armed {
    id: u64,
    rule: FaultRule,
    seen: u64,
    fired: u64,
}

/// The armed rules.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Vec<Armed>,
    next_id: u64,
}

impl Faults {
    /// Arms a rule; returns its id.
    pub fn add(&mut self, rule: FaultRule) -> u64 {
        self.next_id += 1;
        self.rules.push(Armed {
            id: self.next_id,
            rule,
            seen: 0,
            fired: 0,
        });
        self.next_id
    }

    /// Disarms one rule; false when there is none with this id.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }

    /// Disarms every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules with their counters, for `GET /_emulator/faults`.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.rules
                .iter()
                .map(|a| {
                    let mut v = serde_json::to_value(&a.rule).unwrap_or(Value::Null);
                    v["id"] = json!(a.id);
                    v["fired"] = json!(a.fired);
                    v["exhausted"] = json!(matches!(a.rule.times, Times::Count(n) if a.fired >= n));
                    v
                })
                .collect(),
        )
    }

    /// The request-level fault a request triggers, if any.
    pub fn take_request(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        self.take(|r| r.fault.is_request_level() && r.object.is_none() && applies(r, method, path))
    }

    /// Whether a write of `object` hits an `unable_to_lock_row` rule.
    pub fn take_lock(&mut self, object: &str, method: &str, path: &str) -> bool {
        self.take(|r| {
            r.fault == FaultKind::UnableToLockRow
                && r.object
                    .as_ref()
                    .is_none_or(|o| o.eq_ignore_ascii_case(object))
                && applies(r, method, path)
        })
        .is_some()
    }

    /// Whether the next row of an ingest job of `object` hits a
    /// `bulk_job_failed` rule (`after` counts rows: that many are processed
    /// first).
    pub fn take_job_failure(&mut self, object: &str) -> bool {
        self.take(|r| {
            r.fault == FaultKind::BulkJobFailed
                && r.object
                    .as_ref()
                    .is_none_or(|o| o.eq_ignore_ascii_case(object))
        })
        .is_some()
    }

    /// Whether the next event of a Pub/Sub `Publish` of `object` hits an
    /// `event_rejected` rule (`after` counts events: that many are
    /// published first).
    pub fn take_event_rejection(&mut self, object: &str) -> bool {
        self.take(|r| {
            r.fault == FaultKind::EventRejected
                && r.object
                    .as_ref()
                    .is_none_or(|o| o.eq_ignore_ascii_case(object))
        })
        .is_some()
    }

    /// Whether a CometD connect hits a `drop_session` rule.
    pub fn take_drop(&mut self, path: &str) -> bool {
        self.take(|r| r.fault == FaultKind::DropSession && applies(r, "POST", path))
            .is_some()
    }

    fn take(&mut self, pred: impl Fn(&FaultRule) -> bool) -> Option<FaultKind> {
        for a in &mut self.rules {
            if !pred(&a.rule) {
                continue;
            }
            if let Times::Count(n) = a.rule.times
                && a.fired >= n
            {
                continue;
            }
            a.seen += 1;
            if a.seen > a.rule.after {
                a.fired += 1;
                return Some(a.rule.fault);
            }
        }
        None
    }
}

fn applies(r: &FaultRule, method: &str, path: &str) -> bool {
    r.method
        .as_ref()
        .is_none_or(|m| m.eq_ignore_ascii_case(method))
        && r.path.as_ref().is_none_or(|p| glob(p, path))
}

/// `*` matches any run of characters; a pattern without `*` matches the
/// path itself and every path under it.
pub fn glob(pattern: &str, path: &str) -> bool {
    if !pattern.contains('*') {
        let p = pattern.trim_end_matches('/');
        return path == p || path.starts_with(&format!("{p}/")) || path == pattern;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = path;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> FaultRule {
        serde_yaml::from_str(yaml).expect("rule parses")
    }

    #[test]
    fn globs() {
        assert!(glob(
            "/services/data/*/query*",
            "/services/data/v62.0/query"
        ));
        assert!(glob(
            "/services/data/*/query*",
            "/services/data/v62.0/queryAll"
        ));
        assert!(!glob(
            "/services/data/*/query*",
            "/services/data/v62.0/sobjects"
        ));
        assert!(glob("/services/oauth2/token", "/services/oauth2/token"));
        assert!(glob("/services/data", "/services/data/v62.0/limits"));
        assert!(!glob("/services/data", "/services/database"));
    }

    #[test]
    fn after_and_times() {
        let mut f = Faults::default();
        f.add(rule(
            "{fault: service_unavailable, path: /services/data, after: 1, times: 2}",
        ));
        let hits: Vec<bool> = (0..5)
            .map(|_| f.take_request("GET", "/services/data/v62.0/").is_some())
            .collect();
        assert_eq!(hits, [false, true, true, false, false]);
        f.clear();
        f.add(rule("{fault: server_error, times: always}"));
        assert!((0..10).all(|_| f.take_request("GET", "/x").is_some()));
    }

    #[test]
    fn lock_rules_match_objects() {
        let mut f = Faults::default();
        f.add(rule("{fault: unable_to_lock_row, object: Account}"));
        assert!(
            f.take_request("PATCH", "/services/data/v62.0/sobjects/Account/x")
                .is_none()
        );
        assert!(!f.take_lock("Contact", "POST", "/p"));
        assert!(f.take_lock("account", "POST", "/p"));
        assert!(!f.take_lock("Account", "POST", "/p"));
    }

    #[test]
    fn event_rejections_count_events_of_their_object() {
        let mut f = Faults::default();
        f.add(rule("{fault: event_rejected, object: Order__e, after: 2}"));
        assert!(
            f.take_request("POST", "/eventbus.v1.PubSub/Publish")
                .is_none()
        );
        assert!(!f.take_event_rejection("Other__e"));
        let hits: Vec<bool> = (0..5).map(|_| f.take_event_rejection("order__e")).collect();
        assert_eq!(hits, [false, false, true, false, false]);
    }

    #[test]
    fn unknown_fault_names_are_refused() {
        let err = serde_yaml::from_str::<FaultRule>("{fault: gremlins}").expect_err("unknown");
        assert!(
            err.to_string().contains("unknown variant `gremlins`"),
            "{err}"
        );
    }
}
