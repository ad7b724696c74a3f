//! `aqueduct check [PATH]`: report every error, warning and note of a
//! project.

use crate::exit::{CmdResult, Exit};
use crate::output::{DiagFormat, Output, Stream, count_summary, plural};
use crate::project;
use std::path::PathBuf;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project directory, or a single `.aq` file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Output format of the diagnostics.
    #[arg(long, value_enum, default_value_t)]
    pub format: DiagFormat,
    /// Exit 1 on warnings too (notes never change the exit code).
    #[arg(long)]
    pub deny_warnings: bool,
    /// Also reach every system the way `run` does before its first record
    /// (databases: connect, prepare statements, compare each table with its
    /// record type; Salesforce: describe each sObject and compare its
    /// fields) and report what would stop `run` (AQ0410) and what may fail
    /// once it runs (AQ0412).
    #[arg(long)]
    pub connect: bool,
}

/// Checks the project; exit 1 on errors (or warnings with `--deny-warnings`);
/// notes are reported and never fail it.
pub fn run(args: &Args, out: &Output) -> CmdResult {
    let mut checked = project::load(&args.path)?.check();
    if args.connect
        && let Some(graph) = &checked.result.graph
        && !checked.result.diagnostics.iter().any(|d| d.is_error())
    {
        let sources = checked
            .sources
            .iter()
            .map(|(_, f)| (f.name.clone(), std::sync::Arc::<str>::from(f.text.as_str())))
            .collect();
        let config = std::sync::Arc::new(aqueduct_runtime::secrets::EnvConfig {
            overrides: Default::default(),
            secrets_dir: None,
        });
        let found = super::preflight::connect(graph, config, sources)
            .map_err(crate::exit::Failure::Runtime)?;
        let mut found = super::preflight::diagnostics(&found, &checked.sources);
        checked.result.diagnostics.append(&mut found);
    }
    let diags = &checked.result.diagnostics;
    out.diagnostics(
        args.format,
        diags,
        &checked.sources,
        &checked.display_prefix,
        Stream::Stdout,
    )?;
    if args.format == DiagFormat::Human {
        out.note(&format!(
            "checked {}: {}",
            plural(checked.file_count, "file"),
            count_summary(diags)
        ));
    }
    let failed = diags
        .iter()
        .any(|d| d.is_error() || (args.deny_warnings && d.is_warning()));
    Ok(if failed { Exit::Findings } else { Exit::Ok })
}
