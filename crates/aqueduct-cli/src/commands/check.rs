//! `aqueduct check [PATH]`: report every error and warning of a project.

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
    /// Exit 1 on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

/// Checks the project; exit 1 on errors (or warnings with `--deny-warnings`).
pub fn run(args: &Args, out: &Output) -> CmdResult {
    let checked = project::load(&args.path)?.check();
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
    let failed = diags.iter().any(|d| d.is_error() || args.deny_warnings);
    Ok(if failed { Exit::Findings } else { Exit::Ok })
}
