//! Copies of a generated service share one queue: scale-out for
//! `aqueduct build`'s output, as the `run_amqp.rs` replicas tests show it
//! for `aqueduct run`. Three copies of the `work-queue` example's `work`
//! service (built by [`super::built`]), each in a working directory of its
//! own (its own `out/jobs.db` and state store, as the service's README says
//! to run copies outside Kubernetes: one SQLite file shared by copies
//! gives `database is locked`), consume one durable queue that an
//! independent client (lapin) fills; one copy is killed with SIGKILL while
//! the queue still holds a backlog. Every job lands, the survivors take
//! what the killed copy had not committed (its unacknowledged messages
//! among them), each copy took a share, nothing is left in the queue, and
//! a job lands twice only across the killed copy and a survivor.
//!
//! The service has its queue name (`work_queue_jobs`) compiled in, with
//! the rest of its `graph.json`; a name of the run's own would mean
//! generating and compiling the service again for each run. The queue is
//! fresh for each run instead by living on a RabbitMQ node of the test's
//! own (`aqueduct_test_support::rabbitmq`), which no concurrent run shares.

// the calls of the CLI tests this test does not make
#[allow(dead_code)]
#[path = "../../../aqueduct-cli/tests/support/rabbit.rs"]
mod rabbit;

use super::{binary, built};
use rabbit::Rabbit;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The service of the example's `work` flow and the queue it consumes.
const SERVICE: &str = "work-queue-work";
const QUEUE: &str = "work_queue_jobs";
/// The `prefetch` of the example's `consume`: the most messages a copy
/// holds unacknowledged, so the most that can land twice after a kill.
const PREFETCH: usize = 20;
/// Jobs published: enough that the queue still holds a backlog once every
/// copy has committed its first job (they drain thousands a second).
const JOBS: i64 = 20_000;

/// Guards against hangs on a loaded two-core machine, not timings: the
/// waits poll and end as soon as their condition holds.
const START_LIMIT: Duration = Duration::from_secs(60);
const DRAIN_LIMIT: Duration = Duration::from_secs(300);
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// One copy of the service in a working directory of its own; killed
/// (SIGKILL) and reaped on drop.
struct Copy {
    dir: PathBuf,
    child: Child,
    status: Option<ExitStatus>,
}

impl Copy {
    fn start(dir: PathBuf, url: &str) -> Copy {
        std::fs::create_dir_all(&dir).expect("mkdir");
        let log = std::fs::File::create(dir.join("stderr.log")).expect("log file");
        let child = Command::new(binary(SERVICE))
            .current_dir(&dir)
            .env("AMQP_URL", url)
            // copies on one host: each its own admin port (the service's
            // default one would be taken by the first)
            .env("AQUEDUCT_ADMIN", "127.0.0.1:0")
            .env_remove("AQUEDUCT_STATE")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the generated service starts");
        Copy {
            dir,
            child,
            status: None,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// The job ids in the copy's `out/jobs.db` (none before the table exists).
    fn jobs(&self) -> BTreeSet<i64> {
        ids(&self.dir.join("out/jobs.db"))
    }

    /// Sends signal `name` (`STOP`, `CONT`, `KILL`, `TERM`).
    fn send(&self, name: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("runs kill");
        assert!(sent.success(), "kill -{name} {}", self.child.id());
    }

    /// Sends signal `name` (`KILL`, `TERM`) and waits for the exit.
    fn signal(&mut self, name: &str, limit: Duration) -> ExitStatus {
        self.send(name);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("polls the copy") {
                self.status = Some(status);
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the copy did not exit within {limit:?} of SIG{name}; log:\n{}",
            self.log()
        );
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The ids of table `jobs` in the SQLite file `db`: none while the file
/// or the table does not exist yet. Opened for writing (it writes
/// nothing), so that it can recover the write-ahead log of a killed copy.
fn ids(db: &Path) -> BTreeSet<i64> {
    use rusqlite::{Connection, OpenFlags};
    if !db.exists() {
        return BTreeSet::new();
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .unwrap_or_else(|e| panic!("opens {}: {e}", db.display()));
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    let mut select = match conn.prepare("select id from jobs") {
        Ok(select) => select,
        Err(e) if e.to_string().contains("no such table") => return BTreeSet::new(),
        Err(e) => panic!("reads {}: {e}", db.display()),
    };
    select
        .query_map([], |row| row.get::<_, i64>(0))
        .expect("reads jobs")
        .map(|id| id.expect("an integer id"))
        .collect()
}

/// Polls `check` every 100 ms until it holds or `limit` passed.
fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !check() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// A job as the example's `Job` type reads it.
fn job(id: i64) -> String {
    format!(
        r#"{{"id":{id},"customer":"c{}","amount":{id}.{:02}}}"#,
        id % 10,
        id % 100
    )
}

#[test]
fn copies_of_the_generated_work_queue_service_share_one_queue() {
    let test = "copies_of_the_generated_work_queue_service_share_one_queue";
    if aqueduct_test_support::service_url("AQUEDUCT_TEST_AMQP_URL", test).is_none() {
        return;
    }
    let _ = built();
    let node = aqueduct_test_support::rabbitmq().expect("a private RabbitMQ node starts");
    let url = aqueduct_test_support::amqp_url(&node);
    let rabbit = Rabbit::connect(&url);
    // aqueduct creates no queue: the example's README has it declared
    rabbit.declare(QUEUE);
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut copies: Vec<Copy> = (0..3)
        .map(|i| Copy::start(tmp.path().join(format!("copy{i}")), &url))
        .collect();
    // every copy consumes before the first job comes, so each gets a share
    let consuming = wait_until(START_LIMIT, || {
        copies.iter().all(|c| c.log().contains("consuming"))
    });
    assert!(
        consuming,
        "not every copy consumes; logs:\n{}",
        copies
            .iter()
            .map(Copy::log)
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
    // The copies drain faster than a client publishes: frozen (SIGSTOP)
    // while the jobs are published, they all start on a full queue.
    for copy in &copies {
        copy.send("STOP");
    }
    rabbit.publish(QUEUE, (1..=JOBS).map(job));
    for copy in &copies {
        copy.send("CONT");
    }
    let shared = wait_until(DRAIN_LIMIT, || copies.iter().all(|c| !c.jobs().is_empty()));
    let shares: Vec<usize> = copies.iter().map(|c| c.jobs().len()).collect();
    assert!(shared, "not every copy took jobs: {shares:?}");
    // while jobs are still queued, the copy holds a full prefetch window
    let backlog = rabbit.ready(QUEUE);
    copies[0].signal("KILL", STOP_LIMIT);
    assert!(
        backlog > 0,
        "the copies drained all {JOBS} jobs before the kill ({shares:?}): publish more"
    );
    let union = |copies: &[Copy]| {
        copies
            .iter()
            .flat_map(|c| c.jobs())
            .collect::<BTreeSet<i64>>()
    };
    let at_kill = union(&copies);
    // jobs the killed copy took and had not committed, and jobs the others
    // had not reached yet: all must land
    let open = JOBS - at_kill.len() as i64;
    println!(
        "killed copy 0 at {} jobs in its table, {backlog} queued, {open} of {JOBS} not landed",
        copies[0].jobs().len()
    );

    let all = wait_until(DRAIN_LIMIT, || union(&copies).len() as i64 >= JOBS);
    let landed = union(&copies);
    let missing: Vec<i64> = (1..=JOBS).filter(|id| !landed.contains(id)).collect();
    assert!(
        all && missing.is_empty(),
        "{} jobs lost: the survivors did not take every job the killed copy had \
         not committed (its unacknowledged ones among them): {missing:?}; survivor log:\n{}",
        missing.len(),
        copies[1].log()
    );
    assert_eq!(
        landed,
        (1..=JOBS).collect(),
        "ids outside the jobs published"
    );
    for copy in copies.iter_mut().skip(1) {
        let status = copy.signal("TERM", STOP_LIMIT);
        assert!(status.success(), "{status}; log:\n{}", copy.log());
    }
    // with every copy gone, what any held unacknowledged is ready again
    let closed = wait_until(START_LIMIT, || rabbit.consumers(QUEUE) == 0);
    assert!(closed, "the broker still counts consumers of the queue");
    assert_eq!(
        rabbit.ready(QUEUE),
        0,
        "jobs left in the queue (ready + unacknowledged) after the survivors drained"
    );

    let (a, b, c) = (copies[0].jobs(), copies[1].jobs(), copies[2].jobs());
    let shares = [a.len(), b.len(), c.len()];
    println!("jobs per copy (the first killed): {shares:?}");
    assert!(
        shares.iter().all(|&n| n > 0),
        "each copy takes a share: {shares:?}"
    );
    let both_survivors: Vec<&i64> = b.intersection(&c).collect();
    assert!(
        both_survivors.is_empty(),
        "jobs in both survivors' tables: at least once allows a job twice only \
         across the killed copy and a survivor (redelivered after the kill): {both_survivors:?}"
    );
    let twice: Vec<i64> = a
        .iter()
        .filter(|id| b.contains(id) || c.contains(id))
        .copied()
        .collect();
    println!(
        "jobs in the killed copy's and a survivor's table: {}",
        twice.len()
    );
    // the killed copy's jobs committed and not acknowledged are delivered
    // again: at most its prefetch window
    assert!(
        twice.len() <= PREFETCH,
        "{} jobs landed twice (the killed copy and a survivor): at least once repeats \
         only what the killed copy committed and had not acknowledged, at most its \
         prefetch ({PREFETCH}): {twice:?}",
        twice.len()
    );
}
