//! The background task that processes closed Bulk jobs: it marks each job
//! `InProgress`, waits the seed's processing delay (outside the lock), then
//! processes it and commits, so CDC events and outbound notifications of
//! Bulk writes go out like any others (with a `bulkapi` change origin).

use super::{JobState, Kind};
use crate::org::Org;
use std::sync::Arc;
use std::time::Duration;

/// Runs until the org is dropped (the task is aborted on shutdown).
pub async fn run(org: Arc<Org>) {
    loop {
        org.bulk.notified().await;
        loop {
            let (due, delay) = {
                let mut st = org.lock();
                let delay = st.settings.bulk_delay_ms;
                let now = st.clock.now_ms();
                let due: Vec<(String, Kind)> = st
                    .jobs
                    .all
                    .values_mut()
                    .filter(|j| j.state == JobState::UploadComplete)
                    .map(|j| {
                        j.state = JobState::InProgress;
                        j.modified_ms = now;
                        (j.id.clone(), j.kind)
                    })
                    .collect();
                (due, delay)
            };
            if due.is_empty() {
                break;
            }
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            {
                let mut st = org.lock();
                for (id, kind) in &due {
                    // Aborted while waiting: leave it aborted.
                    if st.jobs.all.get(id).map(|j| j.state) != Some(JobState::InProgress) {
                        continue;
                    }
                    match kind {
                        Kind::Ingest => super::ingest::process(&mut st, id),
                        Kind::Query => super::query::process(&mut st, id),
                    }
                }
                st.commit();
            }
            org.events.notify_waiters();
            org.outbound.notify_one();
        }
    }
}
