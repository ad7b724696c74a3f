//! Group commit through `aqueduct run`: an async flow draining a RabbitMQ
//! backlog (prefetch 100) into `file.append` writes every message once and
//! makes them durable with far fewer commits (`aqueduct_commits_total`)
//! than messages; killed with SIGKILL mid-stream and started again, it
//! loses nothing (a message may land twice: at least once).

mod support;

use lapin::options::QueueDeleteOptions;
use std::path::Path;
use std::time::Duration;
use support::rabbit::Rabbit;
use support::{Project, jsonl_ids, wait_until};

/// Guards against hangs (a debug build on a loaded machine), not timings.
const LIMIT: Duration = Duration::from_secs(180);

impl Rabbit {
    /// A new durable queue holding items `0..n`.
    fn queue_of_items(&self, prefix: &str, n: u64) -> String {
        let queue = aqueduct_test_support::unique_name(prefix);
        self.declare(&queue);
        self.publish(
            &queue,
            (0..n).map(|id| format!(r#"{{"id":{id},"name":"n{id}"}}"#)),
        );
        queue
    }

    fn delete(&self, queue: &str) {
        self.rt.block_on(async {
            let _ = self
                .channel
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await;
        });
    }
}

fn project(queue: &str) -> Project {
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"system broker: amqp {{
  url = secret("AMQP_URL")
}}
type Item {{ id: int, name: string }}

flow drain {{
  mode async
  from broker.consume("{queue}", prefetch: 100) as Item
  to file("out").append("items.jsonl")
}}
"#
        ),
    );
    p
}

/// Lines in the output file so far.
fn lines(path: &Path) -> u64 {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count() as u64)
        .unwrap_or(0)
}

/// The sum of `aqueduct_commits_total` over the steps of flow `drain`.
fn commits(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("aqueduct_commits_total{flow=\"drain\""))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_backlog_lands_once_with_far_fewer_commits_than_messages() {
    let Some(url) = aqueduct_test_support::service_url(
        "AQUEDUCT_TEST_AMQP_URL",
        "a_backlog_lands_once_with_far_fewer_commits_than_messages",
    ) else {
        return;
    };
    const N: u64 = 5000;
    let rabbit = Rabbit::connect(&url);
    let queue = rabbit.queue_of_items("aq_group", N);
    let p = project(&queue);
    let out = p.path("out/items.jsonl");
    let admin = support::free_port();
    let mut running = p.spawn_with_env(
        &["--admin", &format!("127.0.0.1:{admin}")],
        &[("AMQP_URL", &url)],
    );
    assert!(
        wait_until(LIMIT, || lines(&out) >= N),
        "{} of {N} written; stderr:\n{}",
        lines(&out),
        running.stderr()
    );
    let metrics = support::http(admin, "GET", "/metrics", "").body;
    let r = running.terminate(Duration::from_secs(30));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let seen = jsonl_ids(&out);
    assert_eq!(seen.len() as u64, N, "every message lands");
    assert!(seen.values().all(|n| *n == 1), "each exactly once here");
    let commits = commits(&metrics);
    assert!(
        commits >= 1.0 && commits < (N / 2) as f64,
        "{commits} commits for {N} messages:\n{metrics}"
    );
    assert_eq!(rabbit.ready(&queue), 0, "every message acknowledged");
    eprintln!("{N} messages, {commits} commits");
    rabbit.delete(&queue);
}

#[test]
fn killed_with_sigkill_mid_stream_and_restarted_it_loses_nothing() {
    let Some(url) = aqueduct_test_support::service_url(
        "AQUEDUCT_TEST_AMQP_URL",
        "killed_with_sigkill_mid_stream_and_restarted_it_loses_nothing",
    ) else {
        return;
    };
    const N: u64 = 20_000;
    let rabbit = Rabbit::connect(&url);
    let queue = rabbit.queue_of_items("aq_group_kill", N);
    let p = project(&queue);
    let out = p.path("out/items.jsonl");
    let mut first = p.spawn_with_env(&[], &[("AMQP_URL", &url)]);
    assert!(
        wait_until(LIMIT, || lines(&out) >= 300),
        "no progress; stderr:\n{}",
        first.stderr()
    );
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10)).expect("killed");
    let at_kill = lines(&out);
    assert!(at_kill < N, "killed mid-stream: {at_kill} of {N}");

    let mut second = p.spawn_with_env(&[], &[("AMQP_URL", &url)]);
    assert!(
        wait_until(LIMIT, || jsonl_ids(&out).len() as u64 == N),
        "{} of {N} after the restart; stderr:\n{}",
        jsonl_ids(&out).len(),
        second.stderr()
    );
    let settled = wait_until(Duration::from_secs(20), || rabbit.ready(&queue) == 0);
    let r = second.terminate(Duration::from_secs(30));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(settled, "the queue still holds messages");
    let seen = jsonl_ids(&out);
    assert_eq!(seen.len() as u64, N, "none lost");
    assert!(
        std::fs::read(&out).is_ok_and(|b| b.ends_with(b"\n")),
        "the stopped run left a cut line"
    );
    let twice = seen.values().filter(|n| **n > 1).count();
    eprintln!("killed at {at_kill} of {N}; {twice} delivered twice");
    rabbit.delete(&queue);
}
