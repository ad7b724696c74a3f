//! Flow policies: retry, timeout, dead letter, rate limit, concurrency and
//! circuit breaker, with the timing-mode rules that concern them.

use crate::flows::FlowChecker;
use crate::options::{self, Written, WrittenValue};
use crate::typeck::Scope;
use aqueduct_catalog::{OptionSpec, ValueType};
use aqueduct_diagnostics::{Diagnostic, Span, codes};
use aqueduct_graph::{self as graph, ConfigValue, ModeKind, Policies, Value};
use aqueduct_syntax::ast;

/// Options of `circuit_breaker { … }`.
static BREAKER_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "failures",
        ty: ValueType::Int,
        required: false,
        secret: false,
        summary: "Consecutive failures that open the breaker (default 5).",
    },
    OptionSpec {
        name: "reset",
        ty: ValueType::Duration,
        required: false,
        secret: false,
        summary: "How long the breaker stays open before a trial call (default 30s).",
    },
];

/// Backoff when `retry N` names none: exponential from 500ms up to 30s.
const DEFAULT_BACKOFF: graph::Backoff = graph::Backoff::Exponential {
    base_ms: 500,
    max_ms: 30_000,
};

fn policy_name(kind: &ast::PolicyKind) -> &'static str {
    match kind {
        ast::PolicyKind::Retry { .. } => "retry",
        ast::PolicyKind::Timeout(_) => "timeout",
        ast::PolicyKind::DeadLetter(_) => "dead_letter",
        ast::PolicyKind::RateLimit { .. } => "rate_limit",
        ast::PolicyKind::Concurrency(_) => "concurrency",
        ast::PolicyKind::CircuitBreaker(_) => "circuit_breaker",
    }
}

impl<'a> FlowChecker<'_, 'a> {
    /// Checks every policy line of the flow.
    pub fn check_policies(&mut self) -> Policies {
        let mut policies = Policies::default();
        let mut seen: Vec<(&'static str, Span)> = Vec::new();
        let items: Vec<&'a ast::Policy> = self
            .flow
            .items
            .iter()
            .filter_map(|i| match i {
                ast::FlowItem::Policy(p) => Some(p),
                _ => None,
            })
            .collect();
        for policy in items {
            let name = policy_name(&policy.kind);
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                let first = *first;
                self.report(
                    Diagnostic::error(
                        codes::AQ0711,
                        format!(
                            "`{name}` is declared twice in flow `{}`",
                            self.flow.name.name
                        ),
                    )
                    .with_primary(self.file, policy.span, "declared again")
                    .with_context(self.file, first, "first declared here")
                    .with_help(format!("keep one `{name}` line")),
                );
                continue;
            }
            seen.push((name, policy.span));
            self.check_policy(policy, &mut policies);
        }
        if self.mode == Some(ModeKind::Async)
            && policies.dead_letter.is_none()
            && !seen.iter().any(|(n, _)| *n == "dead_letter")
        {
            self.report(
                Diagnostic::warning(codes::AQ0706, format!("async flow `{}` has no dead letter", self.flow.name.name))
                    .with_primary(self.file, self.flow.name.span, "a record that keeps failing stops this flow")
                    .with_help("add e.g. `dead_letter file(\"dlq\").append(\"flow.jsonl\")` so failures are kept and the flow goes on"),
            );
        }
        policies
    }

    fn check_policy(&mut self, policy: &'a ast::Policy, policies: &mut Policies) {
        match &policy.kind {
            ast::PolicyKind::Retry { attempts, backoff } => {
                let attempts = self.positive_int(attempts, "number of retries");
                let backoff = match backoff {
                    None => Some(DEFAULT_BACKOFF),
                    Some(ast::Backoff::Fixed { delay, .. }) => self
                        .positive_duration(delay, "`fixed` backoff")
                        .map(|delay_ms| graph::Backoff::Fixed { delay_ms }),
                    Some(ast::Backoff::Exponential { base, max, span }) => {
                        let base_ms = self.positive_duration(base, "the backoff base");
                        let max_ms = self.positive_duration(max, "the backoff maximum");
                        match (base_ms, max_ms) {
                            (Some(b), Some(m)) if b > m => {
                                self.report(
                                    Diagnostic::error(codes::AQ0712, "the backoff base is longer than its maximum")
                                        .with_primary(self.file, *span, "base above max")
                                        .with_help("write `exponential(BASE, MAX)` with BASE ≤ MAX, e.g. `exponential(1s, 1m)`"),
                                );
                                None
                            }
                            (Some(base_ms), Some(max_ms)) => {
                                Some(graph::Backoff::Exponential { base_ms, max_ms })
                            }
                            _ => None,
                        }
                    }
                };
                if let (Some(attempts), Some(backoff)) = (attempts, backoff) {
                    policies.retry = Some(graph::Retry {
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                        backoff,
                    });
                }
            }
            ast::PolicyKind::Timeout(d) => {
                policies.timeout_ms = self.positive_duration(d, "`timeout`")
            }
            ast::PolicyKind::DeadLetter(ep) => {
                if self.mode == Some(ModeKind::Sync) {
                    self.report(
                        Diagnostic::error(codes::AQ0704, "a `sync` flow cannot have a dead letter")
                            .with_primary(self.file, policy.span, "failures of a sync flow go back to the caller")
                            .with_help("remove `dead_letter`: the caller gets the error (502/504) and decides what to do"),
                    );
                }
                let scope = Scope {
                    current: Some(aqueduct_graph::Type::Json),
                    ..Scope::default()
                };
                policies.dead_letter = self.deliver(ep, &scope, true);
            }
            ast::PolicyKind::RateLimit { count, per } => {
                let count = self.positive_int(count, "rate limit");
                let per_ms = self.positive_duration(per, "`per`");
                if let (Some(count), Some(per_ms)) = (count, per_ms) {
                    policies.rate_limit = Some(graph::RateLimit { count, per_ms });
                }
            }
            ast::PolicyKind::Concurrency(n) => {
                policies.concurrency = self
                    .positive_int(n, "concurrency")
                    .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
            }
            ast::PolicyKind::CircuitBreaker(entries) => {
                let written: Vec<Written<'_>> = entries
                    .iter()
                    .map(|e| Written {
                        name: &e.name.name,
                        name_span: e.name.span,
                        value: WrittenValue::Option(&e.value),
                    })
                    .collect();
                let values = options::check_options(
                    self.file,
                    &written,
                    BREAKER_OPTIONS,
                    &"`circuit_breaker`",
                    policy.span,
                    &mut self.ctx.diags,
                );
                let mut breaker = graph::CircuitBreaker {
                    failures: 5,
                    reset_ms: 30_000,
                };
                for (name, value) in values {
                    match (name.as_str(), value) {
                        ("failures", ConfigValue::Literal(Value::Int(n))) if n > 0 => {
                            breaker.failures = u32::try_from(n).unwrap_or(u32::MAX)
                        }
                        ("reset", ConfigValue::Literal(Value::Duration(ms))) if ms > 0 => {
                            breaker.reset_ms = ms
                        }
                        (name, _) => self.report(
                            Diagnostic::error(
                                codes::AQ0712,
                                format!("`circuit_breaker` needs `{name}` above zero"),
                            )
                            .with_primary(self.file, policy.span, "invalid breaker setting")
                            .with_help(
                                "write e.g. `circuit_breaker { failures = 5, reset = 30s }`",
                            ),
                        ),
                    }
                }
                policies.circuit_breaker = Some(breaker);
            }
        }
    }
}
