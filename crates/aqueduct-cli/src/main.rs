//! The `aqueduct` binary: parse the arguments, run, exit with the code.

use clap::Parser;
use std::process::ExitCode;

// Records are allocated on reader threads and freed on flow threads; glibc
// malloc spends about a quarter of a run on that, mimalloc far less.
// Built with `no_thp` (workspace Cargo.toml): mimalloc otherwise asks for
// transparent huge pages, and every first touch of its heap zeroed a whole
// 2 MiB page: a quarter of an MQTT drain's CPU and twice the resident
// memory (docs/performance.md, "Brokers").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let exit = match aqueduct_cli::Cli::try_parse() {
        Ok(cli) => aqueduct_cli::run(cli),
        Err(err) => aqueduct_cli::usage_error(&err),
    };
    exit.into()
}
