//! The `aqueduct` binary: parse the arguments, run, exit with the code.

use clap::Parser;
use std::process::ExitCode;

// Records are allocated on reader threads and freed on flow threads; glibc
// malloc spends about a quarter of a run on that, mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let exit = match aqueduct_cli::Cli::try_parse() {
        Ok(cli) => aqueduct_cli::run(cli),
        Err(err) => aqueduct_cli::usage_error(&err),
    };
    exit.into()
}
