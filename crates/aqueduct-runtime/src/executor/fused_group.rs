//! The executor's side of the fused path ([`crate::fused`]): offering
//! the plan to a flow's source at build time, and writing the sealed groups
//! the source sends.
//!
//! A sealed group is one envelope for many input lines. It counts as that
//! many records everywhere a record is counted (the run report, step
//! metrics, the chunk size), its bytes go to the flow's one target in one
//! [`Target::write_encoded`](crate::connector::Target::write_encoded) with
//! the flow's retries, timeout and circuit breaker, and its ack waits for
//! the chunk's commit like every ack of a batch flow. In an async flow the
//! write is followed by the target's commit, within the same retries, as
//! the general path commits each group it stages
//! ([`Target::group_commits`](crate::connector::Target::group_commits)).

use super::build::Input;
use super::flow_task::{FlowRt, Pending};
use super::steps::{CKind, CStep, TargetRef};
use crate::connector::Envelope;
use crate::fused::FusedPlan;
use crate::metrics::StepMetrics;
use aqueduct_graph::{Flow, StepKind};
use std::sync::Arc;

/// A flow running on the fused path: its plan and its one target.
pub struct Fused {
    /// The plan the source runs.
    pub plan: Arc<FusedPlan>,
    /// The flow's target (its last step).
    pub target: TargetRef,
}

/// Offers the fused path to `flow`'s source, when the plan covers the
/// flow and its target takes encoded lines; `Some` when the source took it.
pub(crate) fn attach(
    flow: &Flow,
    schemas: &crate::value::Schemas,
    steps: &[CStep],
    input: Input,
) -> (Input, Option<Fused>) {
    if !crate::fused::enabled() {
        return (input, None);
    }
    let (
        Some(plan),
        Some(CStep {
            kind: CKind::To(target),
            ..
        }),
    ) = (FusedPlan::for_flow(flow, schemas), steps.last())
    else {
        return (input, None);
    };
    if steps.len() != flow.steps.len()
        || !target.target.takes_encoded_jsonl()
        || !flow.steps.iter().all(|s| {
            matches!(
                s.kind,
                StepKind::Where(_) | StepKind::Map { .. } | StepKind::To(_)
            )
        })
    {
        return (input, None);
    }
    let Input::Source {
        mut first,
        remake,
        schedule,
    } = input
    else {
        return (input, None);
    };
    let plan = Arc::new(plan);
    if !first.fuse(plan.clone()) {
        return (
            Input::Source {
                first,
                remake,
                schedule,
            },
            None,
        );
    }
    if plan.streaming() {
        tracing::info!(flow = %flow.name, "The flow runs on the fused async path (where/map from messages straight to JSON lines).");
    } else {
        tracing::info!(flow = %flow.name, "The flow runs on the fused batch path (where/map from lines straight to JSON lines).");
    }
    let again = plan.clone();
    let remake: super::SourceMaker = Box::new(move || {
        let mut source = remake()?;
        source.fuse(again.clone());
        Ok(source)
    });
    let fused = Fused {
        plan,
        target: TargetRef {
            label: target.label.clone(),
            system: target.system.clone(),
            target: target.target.clone(),
            channel: target.channel.clone(),
        },
    };
    (
        Input::Source {
            first,
            remake,
            schedule,
        },
        Some(fused),
    )
}

impl FlowRt {
    /// How many records an envelope stands for: a sealed group's lines, else one.
    pub(crate) fn weight(&self, env: &Envelope) -> usize {
        match (&self.fused, &env.record) {
            (Some(f), Ok(v)) => f
                .plan
                .open(v)
                .map(|s| s.reached.first().copied().unwrap_or(0) as usize)
                .unwrap_or(1),
            _ => 1,
        }
    }

    /// Writes a sealed group (`Ok(false)`: `value` is not one, go on as usual).
    /// The caller counted the envelope as one record received.
    pub(crate) async fn handle_sealed(
        &self,
        value: &crate::value::Value,
        pending: &Arc<Pending>,
    ) -> Result<bool, String> {
        let Some(fused) = &self.fused else {
            return Ok(false);
        };
        let Some(sealed) = fused.plan.open(value) else {
            return Ok(false);
        };
        let reached = &sealed.reached;
        let at = |i: usize| reached.get(i).copied().unwrap_or(0);
        let read = at(0);
        let stages = self.steps.len().saturating_sub(1);
        let kept = at(stages);
        let written = at(stages + 1);
        // the caller counted this envelope as one record
        StepMetrics::add(&self.source_metrics.records_in, read.saturating_sub(1));
        StepMetrics::add(&self.stats.received, read.saturating_sub(1));
        StepMetrics::add(&self.source_metrics.records_out, read);
        for (i, step) in self.steps.iter().take(stages).enumerate() {
            let (n_in, n_out) = (at(i), at(i + 1));
            StepMetrics::add(&step.metrics.records_in, n_in);
            StepMetrics::add(&step.metrics.records_out, n_out);
            if matches!(step.kind, CKind::Where(_)) {
                StepMetrics::add(&step.metrics.filtered, n_in - n_out.min(n_in));
            }
        }
        StepMetrics::add(&self.stats.filtered, read - kept.min(read));
        let Some(to) = self.steps.last() else {
            return Ok(true);
        };
        StepMetrics::add(&to.metrics.records_in, kept);
        if sealed.bytes.is_empty() {
            return Ok(true);
        }
        let t = &fused.target;
        let bytes = sealed.bytes;
        let streaming = fused.plan.streaming();
        let written_out = self
            .with_policies(to, t.system.as_deref(), || async {
                t.target.write_encoded(bytes).await?;
                if streaming {
                    // a failed commit drops what was staged: each attempt
                    // writes the group again
                    t.target.commit().await?;
                }
                Ok(())
            })
            .await;
        match written_out {
            Ok(()) => {
                if streaming {
                    self.count_commit(to);
                }
                StepMetrics::add(&to.metrics.records_out, written);
                StepMetrics::add(&self.stats.delivered, written);
                pending.mark_delivered();
                Ok(true)
            }
            Err((e, attempts)) => {
                // the group's lines are not acked: a later run reads them again
                StepMetrics::add(&to.metrics.failed, written);
                StepMetrics::add(&self.stats.failed, written);
                pending.mark_failed();
                Err(format!(
                    "step {} ({}): {}: writing {written} records failed after {attempts} attempts: {}",
                    to.id,
                    to.at,
                    t.label,
                    crate::secrets::redact(&e.to_string())
                ))
            }
        }
    }
}

impl FlowRt {
    /// True when `value` is a sealed group of this flow's fused path.
    pub(crate) fn fused_value(&self, value: &crate::value::Value) -> bool {
        self.fused
            .as_ref()
            .is_some_and(|f| f.plan.open(value).is_some())
    }
}
