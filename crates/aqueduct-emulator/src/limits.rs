//! The org's API allocation: every counted request is timestamped with the
//! emulated clock, and usage is the count over the last 24 hours (rolling,
//! as in Salesforce). `Sforce-Limit-Info: api-usage=N/MAX` is built here,
//! and so is the body of `GET /limits`.

use serde_json::{Value, json};
use std::collections::VecDeque;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Counters of the daily allocations.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `DailyApiRequests.Max`.
    pub max_requests: u64,
    /// `DailyBulkV2QueryJobs.Max`.
    pub max_query_jobs: u64,
    requests: VecDeque<i64>,
    query_jobs: VecDeque<i64>,
}

impl Limits {
    /// Fresh counters.
    pub fn new(max_requests: u64, max_query_jobs: u64) -> Limits {
        Limits {
            max_requests,
            max_query_jobs,
            requests: VecDeque::new(),
            query_jobs: VecDeque::new(),
        }
    }

    fn prune(&mut self, now: i64) {
        for q in [&mut self.requests, &mut self.query_jobs] {
            while q.front().is_some_and(|t| *t <= now - DAY_MS) {
                q.pop_front();
            }
        }
    }

    /// Requests used in the last 24 hours.
    pub fn used(&mut self, now: i64) -> u64 {
        self.prune(now);
        self.requests.len() as u64
    }

    /// Counts one request; false (and not counted) when the allocation is spent.
    pub fn count(&mut self, now: i64) -> bool {
        if self.used(now) >= self.max_requests {
            return false;
        }
        self.requests.push_back(now);
        true
    }

    /// Counts one Bulk API 2.0 query job; false when the allocation is spent.
    pub fn count_query_job(&mut self, now: i64) -> bool {
        self.prune(now);
        if self.query_jobs.len() as u64 >= self.max_query_jobs {
            return false;
        }
        self.query_jobs.push_back(now);
        true
    }

    /// `api-usage=N/MAX`.
    pub fn header(&mut self, now: i64) -> String {
        format!("api-usage={}/{}", self.used(now), self.max_requests)
    }

    /// Sets the allocation and/or the usage (admin API).
    pub fn set(&mut self, now: i64, max: Option<u64>, used: Option<u64>) {
        if let Some(max) = max {
            self.max_requests = max;
        }
        if let Some(used) = used {
            self.requests.clear();
            self.requests
                .extend(std::iter::repeat_n(now, used as usize));
        }
    }

    /// The body of `GET /limits`.
    pub fn report(&mut self, now: i64) -> Value {
        let used = self.used(now);
        let jobs = self.query_jobs.len() as u64;
        let entry =
            |max: u64, used: u64| json!({"Max": max, "Remaining": max.saturating_sub(used)});
        json!({
            "DailyApiRequests": entry(self.max_requests, used),
            "DailyBulkApiBatches": entry(15_000, 0),
            "DailyBulkV2QueryJobs": entry(self.max_query_jobs, jobs),
            "DailyBulkV2QueryFileStorageMB": entry(976_562, 0),
            "DailyAsyncApexExecutions": entry(250_000, 0),
            "DailyStreamingApiEvents": entry(10_000, 0),
            "MonthlyPlatformEventsUsageEntitlement": entry(0, 0),
            "DataStorageMB": entry(5, 0),
            "FileStorageMB": entry(20, 0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_rolls_over_24_hours() {
        let mut l = Limits::new(2, 10);
        assert!(l.count(0));
        assert!(l.count(1000));
        assert!(!l.count(2000));
        assert_eq!(l.header(2000), "api-usage=2/2");
        assert!(l.count(DAY_MS + 1));
        assert_eq!(
            l.report(DAY_MS + 1)["DailyApiRequests"],
            json!({"Max": 2, "Remaining": 0})
        );
        l.set(DAY_MS + 1, Some(5), Some(0));
        assert_eq!(l.header(DAY_MS + 1), "api-usage=0/5");
    }
}
