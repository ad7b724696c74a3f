//! Progress of a run on a terminal: one spinner line per flow with its
//! counts, read from the metrics every 100 ms. Off the terminal nothing is
//! drawn; the summary printed at the end says what each flow did.

use aqueduct_graph::Graph;
use aqueduct_runtime::metrics::Metrics;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The spinners and the task refreshing them.
pub struct Progress {
    bars: Vec<ProgressBar>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts drawing when `terminal` is true.
pub fn start(graph: &Graph, metrics: Arc<Metrics>, terminal: bool) -> Progress {
    if !terminal {
        return Progress {
            bars: Vec::new(),
            task: None,
        };
    }
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let flows: Vec<String> = graph.flows.iter().map(|f| f.name.clone()).collect();
    let bars: Vec<ProgressBar> = flows
        .iter()
        .map(|name| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_prefix(name.clone());
            bar
        })
        .collect();
    let refresh = bars.clone();
    let task = tokio::spawn(async move {
        loop {
            for (bar, flow) in refresh.iter().zip(&flows) {
                let received = metrics
                    .step(flow, "source")
                    .records_in
                    .load(Ordering::Relaxed);
                let dead = metrics.total(flow, |s| &s.dead_lettered);
                bar.set_message(format!("{received} records in, {dead} dead-lettered"));
                bar.tick();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Progress {
        bars,
        task: Some(task),
    }
}

impl Progress {
    /// Stops refreshing and clears the spinners.
    pub fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        for bar in self.bars {
            bar.finish_and_clear();
        }
    }
}
