//! Group commit in async flows: records at hand together are staged and made
//! durable by one commit, and none is acknowledged before its commit.

mod common;

use aqueduct_graph::*;
use aqueduct_runtime::connector::{Ack, ConnectorError, Envelope, Source, Target};
use aqueduct_runtime::executor::{RunOptions, RunReport, build};
use aqueduct_runtime::test_util::mock::*;
use aqueduct_runtime::value::Value;
use common::*;
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// A target with group commit: `stage` keeps ids aside, `commit` makes
/// them durable (after a pause, like an fsync), failing the first
/// `fail_commits` times (and then losing what was staged, as a failed
/// fsync may).
#[derive(Default)]
struct GroupTarget {
    staged: Mutex<Vec<String>>,
    committed: Arc<Mutex<Vec<String>>>,
    commits: AtomicUsize,
    /// Plain writes (one record alone).
    writes: AtomicUsize,
    fail_commits: AtomicU32,
    /// An id `stage` refuses for good.
    refuse: Option<String>,
}

impl GroupTarget {
    fn refuses(&self, records: &[Value]) -> bool {
        self.refuse
            .as_ref()
            .is_some_and(|r| records.iter().any(|v| id_of(v) == *r))
    }
}

fn id_of(v: &Value) -> String {
    v.field("id").to_json_string()
}

impl Target for GroupTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if self.refuses(records) {
            return Box::pin(async { Err(ConnectorError::Permanent("refused".into())) });
        }
        if let Ok(mut c) = self.committed.lock() {
            c.extend(records.iter().map(id_of));
        }
        Box::pin(async { Ok(()) })
    }

    fn group_commits(&self) -> bool {
        true
    }

    fn stage<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let ids: Vec<String> = records.iter().map(id_of).collect();
        if self.refuses(records) {
            return Box::pin(async { Err(ConnectorError::Permanent("refused".into())) });
        }
        if let Ok(mut s) = self.staged.lock() {
            s.extend(ids);
        }
        Box::pin(async { Ok(()) })
    }

    fn commit(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let staged = std::mem::take(&mut *self.staged.lock().expect("lock"));
            let fail = self
                .fail_commits
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if fail {
                return Err(ConnectorError::Transient("sync failed".into()));
            }
            self.commits.fetch_add(1, Ordering::SeqCst);
            self.committed.lock().expect("lock").extend(staged);
            Ok(())
        })
    }
}

/// Sends its records at once, then checks each acknowledgement as it
/// arrives: the record must already be committed, or dead-lettered, by then.
struct CheckedSource {
    records: Vec<Value>,
    committed: Arc<Mutex<Vec<String>>>,
    dead: Arc<Mutex<Vec<Value>>>,
    acked: Arc<AtomicUsize>,
    early: Arc<AtomicUsize>,
}

impl Source for CheckedSource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let mut waits = Vec::new();
            for record in self.records {
                let id = id_of(&record);
                let (ack, rx) = Ack::new();
                if out.send(Envelope::new(Ok(record), ack)).await.is_err() {
                    break;
                }
                let (committed, dead, acked, early) = (
                    self.committed.clone(),
                    self.dead.clone(),
                    self.acked.clone(),
                    self.early.clone(),
                );
                waits.push(async move {
                    if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(10), rx).await {
                        acked.fetch_add(1, Ordering::SeqCst);
                        let entry = format!("\"id\":{id}");
                        let safe = committed.lock().expect("lock").contains(&id)
                            || dead
                                .lock()
                                .expect("lock")
                                .iter()
                                .any(|v| v.to_json_string().contains(&entry));
                        if !safe {
                            early.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
            drop(out);
            futures::future::join_all(waits).await;
            Ok(())
        })
    }
}

struct Outcome {
    report: RunReport,
    metrics: String,
    acked: usize,
    early: usize,
}

fn retry(n: u32) -> Option<Retry> {
    Some(Retry {
        attempts: n,
        backoff: Backoff::Fixed { delay_ms: 1 },
    })
}

async fn run(
    n: usize,
    target: Arc<GroupTarget>,
    policies: Policies,
    dl: &CollectTarget,
) -> Outcome {
    let mut f = flow(
        "f",
        ModeKind::Async,
        ep("m", "read"),
        rec("Order"),
        vec![step("s1", StepKind::To(ep("m", "write")), rec("Order"))],
    );
    f.policies = policies;
    let g = graph(vec![f]);
    let items: Vec<(String, String)> = (0..n).map(|i| (format!("r{i}"), i.to_string())).collect();
    let items: Vec<(&str, &str)> = items
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let acked = Arc::new(AtomicUsize::new(0));
    let early = Arc::new(AtomicUsize::new(0));
    let source = Mutex::new(Some(CheckedSource {
        records: orders(&g, &items),
        committed: target.committed.clone(),
        dead: dl.records.clone(),
        acked: acked.clone(),
        early: early.clone(),
    }));
    let factory = MockFactory::new("mock")
        .source("read", move || -> Box<dyn Source> {
            match source.lock().expect("lock").take() {
                Some(s) => Box::new(s),
                None => Box::new(VecSource::new(vec![]).0),
            }
        })
        .target("write", target)
        .target("dlq", Arc::new(dl.clone()));
    let opts = RunOptions::default();
    let metrics = opts.metrics.clone();
    let report = build(&g, &registry(factory), opts)
        .expect("builds")
        .spawn()
        .wait()
        .await;
    Outcome {
        report,
        metrics: metrics.render(),
        acked: acked.load(Ordering::SeqCst),
        early: early.load(Ordering::SeqCst),
    }
}

fn sorted_unique(ids: &[String]) -> Vec<String> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    ids
}

#[tokio::test]
async fn records_at_hand_share_one_commit_and_are_acked_after_it() {
    let target = Arc::new(GroupTarget::default());
    let dl = CollectTarget::default();
    let out = run(500, target.clone(), Policies::default(), &dl).await;
    assert!(out.report.ok(), "{}", out.report);
    let committed = target.committed.lock().expect("lock").clone();
    assert_eq!(committed.len(), 500, "each record lands once");
    assert_eq!(sorted_unique(&committed).len(), 500);
    let commits = target.commits.load(Ordering::SeqCst) + target.writes.load(Ordering::SeqCst);
    assert!(commits <= 50, "{commits} commits for 500 records");
    assert_eq!(out.acked, 500);
    assert_eq!(out.early, 0, "acknowledged before its commit");
    assert!(
        out.metrics.contains(&format!(
            "aqueduct_commits_total{{flow=\"f\",step=\"s1\"}} {commits}\n"
        )),
        "{}",
        out.metrics
    );
}

#[tokio::test]
async fn a_failed_commit_stages_its_whole_group_again() {
    let target = Arc::new(GroupTarget {
        fail_commits: AtomicU32::new(2),
        ..GroupTarget::default()
    });
    let dl = CollectTarget::default();
    let policies = Policies {
        retry: retry(3),
        dead_letter: Some(ep("m", "dlq")),
        ..Policies::default()
    };
    let out = run(300, target.clone(), policies, &dl).await;
    assert!(out.report.ok(), "{}", out.report);
    let committed = target.committed.lock().expect("lock").clone();
    assert_eq!(sorted_unique(&committed).len(), 300, "none lost");
    assert!(dl.json().is_empty(), "{:?}", dl.json());
    assert_eq!(out.acked, 300);
    assert_eq!(out.early, 0, "acknowledged before its commit");
    assert!(
        out.metrics
            .contains("aqueduct_records_retried_total{flow=\"f\",step=\"s1\"} 2\n")
    );
}

#[tokio::test]
async fn a_commit_failing_for_good_dead_letters_its_whole_group() {
    let target = Arc::new(GroupTarget {
        fail_commits: AtomicU32::new(u32::MAX),
        ..GroupTarget::default()
    });
    let dl = CollectTarget::default();
    let policies = Policies {
        retry: retry(2),
        dead_letter: Some(ep("m", "dlq")),
        ..Policies::default()
    };
    let out = run(100, target.clone(), policies, &dl).await;
    assert!(out.report.ok(), "{}", out.report);
    let single = target.writes.load(Ordering::SeqCst);
    // a record that came alone was written (and committed) on its own
    assert_eq!(dl.json().len() + single, 100, "{:?}", dl.json());
    assert!(dl.json().len() >= 50);
    let entry: serde_json::Value = serde_json::from_str(&dl.json()[0]).expect("json");
    assert_eq!(entry["error"], "m.write: sync failed");
    assert_eq!(entry["attempts"], 3, "the first try and 2 retries");
    assert_eq!(out.acked, 100, "dead-lettered records are acked");
    assert_eq!(out.early, 0, "acknowledged before the dead letter took it");
}

#[tokio::test]
async fn a_record_the_target_refuses_fails_alone() {
    let target = Arc::new(GroupTarget {
        refuse: Some("\"r7\"".to_string()),
        ..GroupTarget::default()
    });
    let dl = CollectTarget::default();
    let policies = Policies {
        dead_letter: Some(ep("m", "dlq")),
        ..Policies::default()
    };
    let out = run(200, target.clone(), policies, &dl).await;
    assert!(out.report.ok(), "{}", out.report);
    let committed = target.committed.lock().expect("lock").clone();
    let entries = dl.json();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].contains("\"id\":\"r7\""), "{entries:?}");
    assert_eq!(committed.len(), 199);
    assert!(!committed.contains(&"\"r7\"".to_string()));
    assert_eq!(out.acked, 200);
    assert_eq!(out.early, 0);
}

#[tokio::test]
async fn a_record_alone_is_written_and_committed_as_before() {
    let target = Arc::new(GroupTarget::default());
    let dl = CollectTarget::default();
    let out = run(1, target.clone(), Policies::default(), &dl).await;
    assert!(out.report.ok(), "{}", out.report);
    assert_eq!(target.writes.load(Ordering::SeqCst), 1);
    assert_eq!(target.commits.load(Ordering::SeqCst), 0);
    assert_eq!(out.acked, 1);
    assert!(
        out.metrics
            .contains("aqueduct_commits_total{flow=\"f\",step=\"s1\"} 1\n")
    );
}
