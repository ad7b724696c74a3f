//! `aqueduct build PATH --out DIR`: generate a service crate per flow.
//! (Not built yet: the flags are final, the code generator is being written.)

use crate::exit::{CmdResult, Failure};
use crate::output::Output;
use std::path::PathBuf;

/// Arguments of `build`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project directory, or a single `.aq` file.
    pub path: PathBuf,
    /// Directory the generated crates are written to.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Build only this flow (repeatable); default: every flow.
    #[arg(long = "flow", value_name = "NAME")]
    pub flows: Vec<String>,
    /// Depend on the aqueduct runtime at this local path.
    #[arg(long, value_name = "P", conflicts_with = "runtime_version")]
    pub runtime_path: Option<PathBuf>,
    /// Depend on this published version of the aqueduct runtime.
    #[arg(long, value_name = "V")]
    pub runtime_version: Option<String>,
    /// Also run `cargo build --release` on the generated crates.
    #[arg(long)]
    pub compile: bool,
}

/// Refuses to run until the code generator lands.
pub fn run(args: &Args, _out: &Output) -> CmdResult {
    let _ = args;
    Err(Failure::Usage(
        "`aqueduct build` is not built yet: the code generator is still being written; `aqueduct check` validates the project meanwhile"
            .to_string(),
    ))
}
