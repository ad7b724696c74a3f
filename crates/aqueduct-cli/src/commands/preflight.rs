//! The start-up preflight outside `run`: `aqueduct check --connect` builds
//! every operation of the project the way `run` does (database connectors
//! connect, prepare their statements and compare each table with its
//! record type) without starting a flow, and reports what failed as
//! `AQ0410` diagnostics pointing at the step that uses the operation.

use aqueduct_diagnostics::{Diagnostic, SourceMap, Span, codes};
use aqueduct_graph::Graph;
use aqueduct_runtime::connector::ConfigResolver;
use aqueduct_runtime::executor::{self, BuildError, RunOptions};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Builds every flow of `graph` with the binary's registry and drops the
/// pieces unstarted; the errors `run` would stop at.
pub fn connect(
    graph: &Graph,
    config: Arc<dyn ConfigResolver>,
    sources: BTreeMap<String, Arc<str>>,
) -> Result<Vec<BuildError>, String> {
    aqueduct_connectors::install_crypto();
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    Ok(runtime.block_on(async move {
        let opts = RunOptions {
            config,
            sources,
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
    }))
}

/// Build errors as diagnostics at their steps (or without a location).
pub fn diagnostics(errors: &[BuildError], sources: &SourceMap) -> Vec<Diagnostic> {
    errors
        .iter()
        .map(|e| {
            let d = Diagnostic::error(codes::AQ0410, e.message.clone());
            match sources.iter().find(|(_, f)| f.name == e.origin.file) {
                Some((file, _)) if e.origin.end > 0 => d.with_primary(
                    file,
                    Span::new(e.origin.start, e.origin.end),
                    format!("flow `{}` cannot start here", e.flow),
                ),
                _ => d,
            }
        })
        .collect()
}
