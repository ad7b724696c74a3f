//! `aqueduct test [PATH]`: run the `test` blocks of a project, in process,
//! without touching any system: `given` records replace the source, `stub`
//! lines answer `enrich` calls, `expect` lines are compared with what reached
//! each target.

use crate::exit::{CmdResult, Exit};
use crate::output::Output;
use crate::project;
use clap::ValueEnum;
use std::path::PathBuf;

/// Report formats of `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum TestFormat {
    /// One line per test, a readable diff per failure, and a summary.
    #[default]
    Human,
    /// A JUnit XML report, for CI systems.
    Junit,
    /// One JSON object per test.
    Json,
}

/// Arguments of `test`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project directory, or a single `.aq` file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Run only tests whose name contains this text.
    #[arg(long, value_name = "NAME")]
    pub filter: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t)]
    pub format: TestFormat,
}

/// Checks the project, then runs its tests; exit 1 when one fails.
pub fn run(args: &Args, out: &Output) -> CmdResult {
    let checked = project::load(&args.path)?.check();
    let Some(graph) = checked.graph_or_report(out, "run its tests")? else {
        return Ok(Exit::Findings);
    };
    let report = aqueduct_runtime::testing::run_tests(graph, args.filter.as_deref());
    let text = match args.format {
        TestFormat::Human => report.render_text(),
        TestFormat::Junit => report.render_junit(),
        TestFormat::Json => report.render_json(),
    };
    out.print(&text)?;
    Ok(if report.ok() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}
