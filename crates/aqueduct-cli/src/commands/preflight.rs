//! The start-up preflight outside `run`: `aqueduct check --connect` builds
//! every operation of the project the way `run` does (database connectors
//! connect, prepare their statements and compare each table with its
//! record type) without starting a flow, and reports what failed as
//! `AQ0410` diagnostics pointing at the step that uses the operation, and
//! what the connectors warned of (a Salesforce upsert writing a field it
//! cannot update) as `AQ0412` warnings there.

use aqueduct_diagnostics::{Diagnostic, SourceMap, Span, codes};
use aqueduct_graph::Graph;
use aqueduct_runtime::connector::ConfigResolver;
use aqueduct_runtime::executor::{self, BuildError, RunOptions};
use aqueduct_runtime::startup_warnings::{StartupWarning, StartupWarnings};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What building found: the errors `run` would stop at, and the warnings.
pub type Found = (Vec<BuildError>, Vec<StartupWarning>);

/// Builds every flow of `graph` with the binary's registry and drops the
/// pieces unstarted; the errors `run` would stop at and the warnings.
pub fn connect(
    graph: &Graph,
    config: Arc<dyn ConfigResolver>,
    sources: BTreeMap<String, Arc<str>>,
) -> Result<Found, String> {
    aqueduct_connectors::install_crypto();
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let warnings = Arc::new(StartupWarnings::default());
    let sink = warnings.clone();
    let errors = runtime.block_on(async move {
        let opts = RunOptions {
            config,
            sources,
            warnings: sink,
            // positions are not read: nothing runs
            state: Arc::new(aqueduct_runtime::state::MemoryStore::default()),
            ..RunOptions::default()
        };
        match executor::build(graph, &crate::registry::full_registry(), opts) {
            Ok(pieces) => {
                drop(pieces);
                Vec::new()
            }
            Err(errors) => errors,
        }
    });
    Ok((errors, warnings.all()))
}

/// Build errors and warnings as diagnostics at their steps (or without a
/// location).
pub fn diagnostics((errors, warnings): &Found, sources: &SourceMap) -> Vec<Diagnostic> {
    let at = |d: Diagnostic, origin: &aqueduct_graph::Origin, label: String| match sources
        .iter()
        .find(|(_, f)| f.name == origin.file)
    {
        Some((file, _)) if origin.end > 0 => {
            d.with_primary(file, Span::new(origin.start, origin.end), label)
        }
        _ => d,
    };
    let errors = errors.iter().map(|e| {
        at(
            Diagnostic::error(codes::AQ0410, e.message.clone()),
            &e.origin,
            format!("flow `{}` cannot start here", e.flow),
        )
    });
    let warnings = warnings.iter().map(|w| {
        at(
            Diagnostic::warning(codes::AQ0412, w.message.clone()).with_help(w.help.clone()),
            &w.origin,
            format!("flow `{}` may fail here", w.flow),
        )
    });
    errors.chain(warnings).collect()
}
