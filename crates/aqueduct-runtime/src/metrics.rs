//! A small metrics registry on atomics, rendered in the Prometheus text format.
//!
//! Handles ([`StepMetrics`], breaker gauges) are looked up once at build
//! time; counting a record is then one relaxed atomic add, no lock.
//!
//! Series: `aqueduct_records_{in,out,filtered,failed,retried,dead_lettered}_total{flow,step}`,
//! `aqueduct_commits_total{flow,step}` (target steps that committed),
//! `aqueduct_step_duration_seconds{flow,step}` (histogram) and
//! `aqueduct_circuit_breaker_state{flow,system}` (0 closed, 1 half-open, 2 open),
//! plus the gauges connectors report with [`set_system_gauge`] (a connector
//! holds no handle on the run's [`Metrics`], so they live process-wide):
//! `aqueduct_salesforce_api_requests{system}` and
//! `aqueduct_salesforce_api_requests_limit{system}` from `Sforce-Limit-Info`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Counters of one step of one flow (`step` is the step id, `source`, or `dead_letter`).
#[derive(Debug, Default)]
pub struct StepMetrics {
    /// Records that entered.
    pub records_in: AtomicU64,
    /// Records passed on or delivered.
    pub records_out: AtomicU64,
    /// Records dropped by `where`/`dedupe` (and records no `route` arm takes).
    pub filtered: AtomicU64,
    /// Records that failed here.
    pub failed: AtomicU64,
    /// Retries made here.
    pub retried: AtomicU64,
    /// Records sent to the dead letter from here.
    pub dead_lettered: AtomicU64,
    /// Commits a `to`/`tap` step made in sync and async flows: one per
    /// write, or one per group of records made durable together
    /// ([`crate::connector::Target::commit`]).
    pub commits: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl StepMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Records one duration in the histogram.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Every metric of a run.
#[derive(Debug, Default)]
pub struct Metrics {
    steps: RwLock<BTreeMap<(String, String), Arc<StepMetrics>>>,
    breakers: RwLock<BTreeMap<(String, String), Arc<AtomicU8>>>,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    /// The counters of `step` in `flow` (created on first use).
    pub fn step(&self, flow: &str, step: &str) -> Arc<StepMetrics> {
        let key = (flow.to_string(), step.to_string());
        if let Ok(map) = self.steps.read()
            && let Some(m) = map.get(&key)
        {
            return m.clone();
        }
        match self.steps.write() {
            Ok(mut map) => map.entry(key).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// The breaker gauge of `system` in `flow`.
    pub fn breaker(&self, flow: &str, system: &str) -> Arc<AtomicU8> {
        match self.breakers.write() {
            Ok(mut map) => map
                .entry((flow.to_string(), system.to_string()))
                .or_default()
                .clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Sum of one counter over every step of `flow`.
    pub fn total(&self, flow: &str, pick: impl Fn(&StepMetrics) -> &AtomicU64) -> u64 {
        self.steps
            .read()
            .map(|m| {
                m.iter()
                    .filter(|((f, _), _)| f == flow)
                    .map(|(_, s)| pick(s).load(Ordering::Relaxed))
                    .sum()
            })
            .unwrap_or(0)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let steps: Vec<((String, String), Arc<StepMetrics>)> = self
            .steps
            .read()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let counters: [(&str, &str, Pick); 6] = [
            ("in", "Records that entered a step.", |s| &s.records_in),
            ("out", "Records a step passed on or delivered.", |s| {
                &s.records_out
            }),
            ("filtered", "Records dropped by where or dedupe.", |s| {
                &s.filtered
            }),
            ("failed", "Records that failed in a step.", |s| &s.failed),
            ("retried", "Retries of calls and deliveries.", |s| {
                &s.retried
            }),
            ("dead_lettered", "Records sent to the dead letter.", |s| {
                &s.dead_lettered
            }),
        ];
        for (name, help, pick) in counters {
            let _ = writeln!(out, "# HELP aqueduct_records_{name}_total {help}");
            let _ = writeln!(out, "# TYPE aqueduct_records_{name}_total counter");
            for ((flow, step), m) in &steps {
                let _ = writeln!(
                    out,
                    "aqueduct_records_{name}_total{{flow=\"{}\",step=\"{}\"}} {}",
                    esc(flow),
                    esc(step),
                    pick(m).load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP aqueduct_commits_total Writes a target step made durable in sync and async flows (one per record, or one per group commit)."
        );
        let _ = writeln!(out, "# TYPE aqueduct_commits_total counter");
        for ((flow, step), m) in &steps {
            if is_target_step(m) {
                let _ = writeln!(
                    out,
                    "aqueduct_commits_total{{flow=\"{}\",step=\"{}\"}} {}",
                    esc(flow),
                    esc(step),
                    m.commits.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP aqueduct_step_duration_seconds Time spent in a step per record or group."
        );
        let _ = writeln!(out, "# TYPE aqueduct_step_duration_seconds histogram");
        for ((flow, step), m) in &steps {
            let labels = format!("flow=\"{}\",step=\"{}\"", esc(flow), esc(step));
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += m.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "aqueduct_step_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = m.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "aqueduct_step_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let sum = m.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "aqueduct_step_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(
                out,
                "aqueduct_step_duration_seconds_count{{{labels}}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP aqueduct_circuit_breaker_state Circuit breaker state: 0 closed, 1 half-open, 2 open."
        );
        let _ = writeln!(out, "# TYPE aqueduct_circuit_breaker_state gauge");
        if let Ok(map) = self.breakers.read() {
            for ((flow, system), g) in map.iter() {
                let _ = writeln!(
                    out,
                    "aqueduct_circuit_breaker_state{{flow=\"{}\",system=\"{}\"}} {}",
                    esc(flow),
                    esc(system),
                    g.load(Ordering::Relaxed)
                );
            }
        }
        render_system_gauges(&mut out);
        out
    }
}

/// Gauges connectors set: metric name → (help, system → value).
type SystemGauges = BTreeMap<&'static str, (&'static str, BTreeMap<String, f64>)>;

fn system_gauges() -> &'static RwLock<SystemGauges> {
    static GAUGES: OnceLock<RwLock<SystemGauges>> = OnceLock::new();
    GAUGES.get_or_init(RwLock::default)
}

/// Sets the gauge `name{system="…"}` a connector reports (the last value
/// wins); every [`Metrics::render`] shows it from then on.
pub fn set_system_gauge(name: &'static str, help: &'static str, system: &str, value: f64) {
    if let Ok(mut gauges) = system_gauges().write() {
        gauges
            .entry(name)
            .or_insert_with(|| (help, BTreeMap::new()))
            .1
            .insert(system.to_string(), value);
    }
}

fn render_system_gauges(out: &mut String) {
    let Ok(gauges) = system_gauges().read() else {
        return;
    };
    for (name, (help, values)) in gauges.iter() {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (system, value) in values {
            let _ = writeln!(out, "{name}{{system=\"{}\"}} {value}", esc(system));
        }
    }
}

/// Only steps that committed something show a commit count (others never do).
fn is_target_step(m: &StepMetrics) -> bool {
    m.commits.load(Ordering::Relaxed) > 0
}

/// Picks one counter of a step.
type Pick = fn(&StepMetrics) -> &AtomicU64;

fn esc(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_gauges_connectors_set() {
        set_system_gauge("aqueduct_test_gauge", "A test gauge.", "crm\"x", 18.0);
        set_system_gauge("aqueduct_test_gauge", "A test gauge.", "crm\"x", 19.0);
        let text = Metrics::new().render();
        assert!(
            text.contains(
                "# HELP aqueduct_test_gauge A test gauge.\n# TYPE aqueduct_test_gauge gauge\naqueduct_test_gauge{system=\"crm\\\"x\"} 19\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        let s = m.step("orders", "s1");
        StepMetrics::add(&s.records_in, 3);
        StepMetrics::add(&s.filtered, 1);
        s.observe(Duration::from_millis(3));
        StepMetrics::add(&m.step("orders", "s2").commits, 2);
        m.breaker("orders", "erp").store(2, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("# TYPE aqueduct_records_in_total counter\naqueduct_records_in_total{flow=\"orders\",step=\"s1\"} 3\n"));
        assert!(text.contains("aqueduct_records_filtered_total{flow=\"orders\",step=\"s1\"} 1\n"));
        assert!(text.contains(
            "# TYPE aqueduct_commits_total counter\naqueduct_commits_total{flow=\"orders\",step=\"s2\"} 2\n"
        ));
        assert!(!text.contains("aqueduct_commits_total{flow=\"orders\",step=\"s1\"}"));
        assert!(text.contains(
            "aqueduct_step_duration_seconds_bucket{flow=\"orders\",step=\"s1\",le=\"0.0025\"} 0\n"
        ));
        assert!(text.contains(
            "aqueduct_step_duration_seconds_bucket{flow=\"orders\",step=\"s1\",le=\"0.005\"} 1\n"
        ));
        assert!(
            text.contains("aqueduct_step_duration_seconds_count{flow=\"orders\",step=\"s1\"} 1\n")
        );
        assert!(
            text.contains("aqueduct_circuit_breaker_state{flow=\"orders\",system=\"erp\"} 2\n")
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("name value");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        assert_eq!(m.total("orders", |s| &s.records_in), 3);
    }
}
