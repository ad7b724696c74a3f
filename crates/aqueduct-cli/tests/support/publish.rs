//! The fault scenario every confirmed broker target is tested with: a
//! batch flow publishes [`PUBLISHED`] items (`support::drain::item_json`)
//! at a paced rate while the broker restarts, its `retry` carrying the
//! writes that fail while the broker is down, and afterwards the broker
//! holds every item (at least once: one whose confirmation was lost in the
//! restart may be there twice).

use super::{Project, drain, wait_until};
use aqueduct_test_support::Rng;
use std::collections::BTreeSet;
use std::time::Duration;

/// Items each restart test publishes.
pub const PUBLISHED: i64 = 2000;

/// A project whose batch flow `send` reads [`PUBLISHED`] items and
/// publishes each with `to` (a target of a system declared in `system`),
/// paced to 500 per second and retried for about half a minute.
pub fn project(system: &str, to: &str) -> Project {
    let p = Project::new();
    let items: String = (0..PUBLISHED).map(|i| drain::item_json(i) + "\n").collect();
    p.file("in/items.jsonl", items).file(
        "main.aq",
        format!(
            r#"{system}
type Item {{ id: int, name: string }}

flow send {{
  mode batch chunk 100
  from file("in").read("items.jsonl") as Item
  to {to}
  rate_limit 500 per 1s
  retry 60 backoff fixed(500ms)
}}
"#
        ),
    );
    p
}

/// Runs `project` with `env`; once the broker holds a few hundred items
/// (`published` counts them, connecting anew each time), `restart`s it
/// while the run goes on; then the run must end well and `stored` (the
/// ids the broker holds) must name every item.
pub fn through_restart(
    project: &Project,
    env: (&str, &str),
    mut published: impl FnMut() -> i64,
    restart: impl FnOnce(),
    stored: impl FnOnce() -> BTreeSet<i64>,
) {
    // each retried write is logged (at debug), so a run that does not end
    // shows what its retries met
    let log = ("RUST_LOG", "info,aqueduct_runtime::executor=debug");
    let mut running = project.spawn_with_env(&[], &[env, log]);
    let strike_at = 200 + Rng::new(drain::seed()).below(1000) as i64;
    println!("restarting once {strike_at} of {PUBLISHED} items are stored");
    assert!(
        wait_until(Duration::from_secs(60), || published() >= strike_at),
        "{strike_at} items never reached the broker; stderr:\n{}",
        running.stderr()
    );
    assert!(running.is_running(), "the run ended before the restart");
    restart();
    let status = running.wait_exit(Duration::from_secs(120));
    let stderr = running.stderr();
    assert!(
        status.is_some_and(|s| s.success()),
        "the run ended with {status:?}; stderr:\n{stderr}"
    );
    let got = stored();
    let missing: Vec<i64> = (0..PUBLISHED).filter(|i| !got.contains(i)).collect();
    assert!(
        missing.is_empty(),
        "{} of {PUBLISHED} missing after a restart at {strike_at}: {missing:?}; stderr:\n{stderr}",
        missing.len()
    );
}

/// The ids of JSON items (`{"id":…}`).
pub fn ids<'a>(payloads: impl IntoIterator<Item = &'a String>) -> BTreeSet<i64> {
    payloads
        .into_iter()
        .filter_map(|m| serde_json::from_str::<serde_json::Value>(m).ok()?["id"].as_i64())
        .collect()
}
