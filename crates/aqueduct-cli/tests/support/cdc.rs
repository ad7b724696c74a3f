//! The change-data-capture load the `run_*_cdc` tests write beside a
//! running flow: a deterministic mix of inserts, updates and deletes from a
//! seed (printed by the test, so a failing run can be repeated), how many
//! row changes it makes, the driver of the connection-cut tests
//! ([`write_and_cut`]), and the check of how the preflight tests' row
//! `(1, 'a', 7)` reads through a loose record type ([`assert_loose_row`]).

use super::{Project, Running, wait_until};
use aqueduct_test_support::{FaultProxy, Rng};
use std::collections::HashSet;
use std::process::Child;
use std::time::Duration;

/// A workload: its transactions, each a complete SQL text, and the number
/// of row changes they make (an update or delete of an id that no longer
/// exists changes nothing, so a source that delivers each change once
/// delivers exactly `changes` records).
pub struct Workload {
    pub transactions: Vec<String>,
    pub changes: u64,
}

impl Workload {
    /// The whole workload as one SQL text.
    pub fn sql(&self) -> String {
        self.transactions.concat()
    }

    /// The workload in `n` consecutive parts of whole transactions.
    pub fn parts(&self, n: usize) -> Vec<String> {
        let size = self.transactions.len().div_ceil(n.max(1)).max(1);
        self.transactions
            .chunks(size)
            .map(<[String]>::concat)
            .collect()
    }
}

/// About 10k statements in transactions of 1 to 10 (each opened with
/// `begin`, the server's spelling): inserts of new ids, updates and deletes
/// of random ids (some of which no longer exist), on a table
/// `(id, name, qty)`.
pub fn workload(table: &str, seed: u64, begin: &str) -> Workload {
    let mut rng = Rng::new(seed);
    let mut transactions = Vec::new();
    let mut live = HashSet::new();
    let mut changes = 0;
    let mut next_id = 1u64;
    let mut statements = 0;
    while statements < 10_000 {
        let mut sql = format!("{begin};\n");
        for _ in 0..=rng.below(10) {
            statements += 1;
            match rng.below(10) {
                0..=4 => {
                    sql.push_str(&format!(
                        "INSERT INTO {table} VALUES ({next_id}, 'n{next_id}', {});\n",
                        rng.below(1000)
                    ));
                    live.insert(next_id);
                    changes += 1;
                    next_id += 1;
                }
                5..=7 => {
                    let id = 1 + rng.below(next_id);
                    sql.push_str(&format!(
                        "UPDATE {table} SET qty = qty + 1, name = 'u{statements}' WHERE id = {id};\n"
                    ));
                    changes += u64::from(live.contains(&id));
                }
                _ => {
                    let id = 1 + rng.below(next_id);
                    sql.push_str(&format!("DELETE FROM {table} WHERE id = {id};\n"));
                    changes += u64::from(live.remove(&id));
                }
            }
        }
        sql.push_str("COMMIT;\n");
        transactions.push(sql);
    }
    Workload {
        transactions,
        changes,
    }
}

/// `url` (`scheme://[user@]host:port/db…`) with its host and port replaced
/// by `proxy`'s.
pub fn through(url: &str, proxy: &FaultProxy) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (auth, rest) = match rest.split_once('@') {
        Some((auth, rest)) => (format!("{auth}@"), rest),
        None => (String::new(), rest),
    };
    let tail = rest.find('/').map_or("", |i| &rest[i..]);
    format!("{scheme}://{auth}127.0.0.1:{}{tail}", proxy.port())
}

/// [`through`] with a query parameter added (`option`, as `name=value`),
/// such as MySQL's `prefer_socket=false`: without it mysql_async moves a
/// loopback connection to the server's Unix socket, past the proxy.
pub fn through_with(url: &str, proxy: &FaultProxy, option: Option<&str>) -> String {
    let mut through = through(url, proxy);
    if let Some(option) = option {
        through.push(if through.contains('?') { '&' } else { '?' });
        through.push_str(option);
    }
    through
}

/// The `host:port` of `url`, for [`FaultProxy::start`].
pub fn upstream(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hostport = rest.split(['/', '?']).next().unwrap_or(rest);
    if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:{default_port}")
    }
}

/// Writes `parts` one after the other with `write` (a separate client,
/// running while the flow runs) and, while each part but the last is
/// being written, cuts every connection of `proxies` once the flow is
/// delivering again: the source has made a new connection through
/// `source` since the last cut and the target changed (`target` is a
/// fingerprint of it) since the part started. The moment within that is
/// varied by `seed`. Returns the number of cuts (`parts.len() - 1`).
pub fn write_and_cut(
    parts: &[String],
    source: &FaultProxy,
    proxies: &[&FaultProxy],
    seed: u64,
    mut write: impl FnMut(usize, &str) -> Child,
    mut target: impl FnMut() -> String,
    running: &Running,
) -> usize {
    // a guard against a hang, generous for a loaded machine
    const RESUME_LIMIT: Duration = Duration::from_secs(40);
    let mut rng = Rng::new(seed);
    let mut connected_before = 0;
    let mut cuts = 0;
    for (k, part) in parts.iter().enumerate() {
        let before = target();
        let writer = write(k, part);
        if k + 1 < parts.len() {
            let resumed = wait_until(RESUME_LIMIT, || {
                source.accepted() > connected_before && target() != before
            });
            assert!(
                resumed,
                "the flow did not deliver again after cut {cuts} (connections made through each proxy: {:?})\n{}",
                proxies.iter().map(|p| p.accepted()).collect::<Vec<_>>(),
                running.stderr()
            );
            std::thread::sleep(Duration::from_millis(rng.below(400)));
            connected_before = source.accepted();
            for proxy in proxies {
                proxy.cut();
            }
            cuts += 1;
        }
        let out = writer.wait_with_output().expect("the writer ends");
        assert!(
            out.status.success(),
            "the writer failed on part {k}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    cuts
}

/// Waits for the first change in `out/changes.jsonl` of `p`, stops the
/// run, and checks it is the row `(1, 'a', 7)` read into `id: int, name:
/// string?, qty: string?, note: string?`: the integer column as the string
/// `"7"`, the field without a column null, and no dead letter.
pub fn assert_loose_row(p: &Project, running: &mut Running) {
    assert!(
        wait_until(Duration::from_secs(20), || p
            .read("out/changes.jsonl")
            .ends_with('\n')),
        "the change arrives\n{}",
        running.stderr()
    );
    running.terminate(Duration::from_secs(20));
    let change = &p.jsonl("out/changes.jsonl")[0];
    assert_eq!(
        (
            &change["id"],
            &change["name"],
            &change["qty"],
            &change["note"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!("a"),
            &serde_json::json!("7"),
            &serde_json::Value::Null
        ),
        "{change}"
    );
    assert!(!p.path("dlq/dead.jsonl").exists(), "no dead letters");
}
