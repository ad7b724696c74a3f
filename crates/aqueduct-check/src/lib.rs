//! Check stage: parsed files → diagnostics and, when clean, the validated [`Graph`].
//!
//! `check` parses every `.aq` file of a project (and `aqueduct.yaml`), resolves
//! names, checks systems and operation calls against the connector catalogue,
//! types every expression, enforces timing-mode and graph rules, and lowers
//! the result to [`aqueduct_graph::Graph`]. It collects every finding in one
//! pass; the graph is only returned when no error was found.
//!
//! ```
//! use aqueduct_diagnostics::SourceMap;
//! let mut sources = SourceMap::default();
//! sources.add("main.aq", "type Order { id: string }");
//! let result = aqueduct_check::check(&sources, None);
//! assert!(result.diagnostics.iter().all(|d| !d.is_error()));
//! ```
#![warn(missing_docs)]

mod changes;
mod channels;
mod cron;
mod decls;
mod delivery;
mod flow_tests;
mod flows;
pub mod manifest;
mod names;
mod ops;
mod options;
mod policies;
mod project;
mod resume;
mod steps;
mod systems;
mod topology;
mod typeck;

pub use manifest::{Manifest, parse_manifest};
pub use typeck::{Scope, TypeEnv, Typer};

use aqueduct_diagnostics::{Diagnostic, FileId, SourceMap};
use aqueduct_graph::Graph;
use aqueduct_syntax::ast;

/// What `check` found.
#[derive(Debug)]
pub struct CheckResult {
    /// The validated graph; `None` when any error was found.
    pub graph: Option<Graph>,
    /// Every error, warning and note, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// The parsed files (for `fmt` and tools), those that parsed.
    pub files: Vec<(FileId, ast::File)>,
    /// The manifest, when one was given and it parsed.
    pub manifest: Option<Manifest>,
}

impl CheckResult {
    /// True when an error was found.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Checks a project. `sources` holds every `.aq` file (and the manifest
/// text, when `manifest` names it). Never panics; never does I/O.
pub fn check(sources: &SourceMap, manifest: Option<FileId>) -> CheckResult {
    let mut diagnostics = Vec::new();
    let manifest_file = manifest;
    let manifest = manifest_file
        .and_then(|id| sources.get(id).map(|f| (id, f)))
        .and_then(|(id, f)| {
            let (parsed, diags) = parse_manifest(id, &f.text);
            diagnostics.extend(diags);
            parsed
        });
    let mut files = Vec::with_capacity(sources.len());
    let mut unparsed = false;
    for (id, file) in sources.iter() {
        if Some(id) == manifest_file {
            continue;
        }
        let parsed = aqueduct_syntax::parse(id, &file.text);
        diagnostics.extend(parsed.diagnostics);
        match parsed.file {
            Some(tree) => files.push((id, tree)),
            None => unparsed = true,
        }
    }
    let mut ctx = project::Ctx::new(sources);
    ctx.diags = diagnostics;
    // A file that did not parse leaves its declarations out: checking the
    // rest would report every use of them as unknown ("there is no type
    // `X`"), in other files and before the real error. Like rustc, stop
    // after the syntax errors.
    let graph = if unparsed {
        None
    } else {
        lower(&mut ctx, &files, manifest.as_ref())
    };
    let mut diagnostics = ctx.diags;
    diagnostics.sort_by_key(|d| d.primary().map(|l| (l.file, l.span.start, l.span.end)));
    let graph = graph.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
    CheckResult {
        graph,
        diagnostics,
        files,
        manifest,
    }
}

/// Every pass after parsing, in order; each collects its findings in `ctx`.
fn lower<'a>(
    ctx: &mut project::Ctx<'a>,
    files: &'a [(FileId, ast::File)],
    manifest: Option<&Manifest>,
) -> Option<Graph> {
    let decls = decls::collect(files, &mut ctx.diags);
    let mut env = decls::resolve_types(&decls, &mut ctx.diags);
    let systems = systems::check_systems(ctx, &decls);
    let mut channels = channels::check_channels(ctx, &env, &decls);
    let flows = flows::check_all(ctx, &env, &decls);
    channels::check_graph(ctx, &decls, &mut channels, &flows);
    let tests = flow_tests::check_tests(ctx, &env, &decls, &flows);
    let topology = topology::build(&channels, &flows);
    // The checking is done: the record types move into the graph (a
    // second declaration of a name finds nothing, and is an error anyway).
    let mut types: Vec<_> = decls
        .order
        .iter()
        .filter_map(|(_, d)| match d {
            ast::Decl::Type(t) => env.records.remove(&t.name.name),
            _ => None,
        })
        .collect();
    types.dedup_by(|a, b| a.name == b.name);
    types.extend(ctx.fixed_types.iter().cloned());
    let mut all_systems = systems;
    all_systems.extend(ctx.inline_systems.iter().cloned());
    Some(Graph {
        project: manifest.and_then(|m| m.name.clone()).unwrap_or_default(),
        types,
        systems: all_systems,
        channels,
        flows: flows.into_iter().map(|f| f.flow).collect(),
        tests,
        topology,
    })
}
