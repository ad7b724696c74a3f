//! The `aqueduct` binary: parse the arguments, run, exit with the code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let exit = match aqueduct_cli::Cli::try_parse() {
        Ok(cli) => aqueduct_cli::run(cli),
        Err(err) => aqueduct_cli::usage_error(&err),
    };
    exit.into()
}
