//! Start-up warnings: what a connector finds while it is built that does
//! not stop the flow but that the user should know (a Salesforce upsert
//! writing a field it can create but not update). `run` logs each one;
//! `aqueduct check --connect` reports them as warning diagnostics at the
//! step, so they are collected here rather than only logged.

use aqueduct_graph::Origin;
use std::sync::Mutex;

/// One warning, at the step whose operation found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupWarning {
    /// The flow.
    pub flow: String,
    /// What may go wrong.
    pub message: String,
    /// What to do about it.
    pub help: String,
    /// The step.
    pub origin: Origin,
}

/// The warnings of one start-up (shared by every operation built).
#[derive(Debug, Default)]
pub struct StartupWarnings(Mutex<Vec<StartupWarning>>);

impl StartupWarnings {
    /// Records a warning once: an operation may be built more than once
    /// (prepared, then built), and each build finds the same thing.
    pub fn push(&self, warning: StartupWarning) {
        let Ok(mut all) = self.0.lock() else {
            return;
        };
        if !all.contains(&warning) {
            tracing::warn!(flow = %warning.flow, help = %warning.help, "{}", warning.message);
            all.push(warning);
        }
    }

    /// Every warning recorded so far, in the order found.
    pub fn all(&self) -> Vec<StartupWarning> {
        self.0.lock().map(|w| w.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_warning_is_kept_once() {
        let warnings = StartupWarnings::default();
        let w = StartupWarning {
            flow: "sync".into(),
            message: "m".into(),
            help: "h".into(),
            origin: Origin::default(),
        };
        warnings.push(w.clone());
        warnings.push(w.clone());
        warnings.push(StartupWarning {
            flow: "other".into(),
            ..w.clone()
        });
        assert_eq!(warnings.all().len(), 2);
    }
}
