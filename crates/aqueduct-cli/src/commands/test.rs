//! `aqueduct test [PATH]`: run the `test` blocks of a project. (Not built
//! yet: the flags are final, the test runner is being written.)

use crate::exit::{CmdResult, Failure};
use crate::output::Output;
use clap::ValueEnum;
use std::path::PathBuf;

/// Report formats of `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum TestFormat {
    /// One line per test and a summary.
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

/// Refuses to run until the test runner lands.
pub fn run(args: &Args, _out: &Output) -> CmdResult {
    let _ = args;
    Err(Failure::Usage(
        "`aqueduct test` is not built yet: the test runner is still being written; `aqueduct check` validates the tests meanwhile"
            .to_string(),
    ))
}
