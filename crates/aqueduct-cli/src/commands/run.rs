//! `aqueduct run [PATH]`: run the flows of a project. (Not built yet: the
//! flags are final, the executor is being written.)

use crate::exit::{CmdResult, Failure};
use crate::output::Output;
use clap::ValueEnum;
use std::path::PathBuf;

/// Log formats of `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project directory, or a single `.aq` file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Run only this flow (repeatable); default: every flow.
    #[arg(long = "flow", value_name = "NAME")]
    pub flows: Vec<String>,
    /// Environment profile from aqueduct.yaml supplying env("…") values.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Serve metrics and health on this address (e.g. 127.0.0.1:9090).
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t)]
    pub log_format: LogFormat,
}

/// Refuses to run until the executor lands.
pub fn run(args: &Args, _out: &Output) -> CmdResult {
    let _ = args;
    Err(Failure::Usage(
        "`aqueduct run` is not built yet: the executor is still being written; `aqueduct check` validates the project meanwhile"
            .to_string(),
    ))
}
