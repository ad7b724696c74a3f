//! The `aqueduct` command line: argument parsing, output formats and exit
//! codes. Every subcommand is one module of [`commands`] that loads the
//! project ([`project`]), calls the library crates, and prints through
//! [`output::Output`]; none of them holds logic another stage owns.
//!
//! ```no_run
//! use clap::Parser;
//! let cli = aqueduct_cli::Cli::parse_from(["aqueduct", "check", "examples/shop"]);
//! let exit = aqueduct_cli::run(cli);
//! assert_eq!(exit, aqueduct_cli::Exit::Ok);
//! ```

pub mod commands;
pub mod exit;
pub mod output;
pub mod project;
pub mod registry;

pub use exit::{CmdResult, Exit, Failure};

use clap::{Parser, Subcommand};
use output::{ColorChoice, Output};

/// Declarative integration pipelines: check, draw, test, run and build flows.
#[derive(Debug, Parser)]
#[command(
    name = "aqueduct",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// When to use colours: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        value_name = "WHEN",
        hide_possible_values = true
    )]
    pub color: ColorChoice,
    /// Print no progress or summary lines on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a project and report every error, warning and note.
    Check(commands::check::Args),
    /// Format `.aq` files in place (or list those that need it with --check).
    Fmt(commands::fmt::Args),
    /// Draw the checked flow graph (DOT, Mermaid, SVG) or dump it (JSON, YAML).
    Graph(commands::graph::Args),
    /// Run the flows of a project.
    Run(commands::run::Args),
    /// Run the `test` blocks of a project.
    Test(commands::test::Args),
    /// Generate a Rust service crate per flow, with a Dockerfile and Kubernetes manifests.
    Build(commands::build::Args),
    /// Explain a diagnostic code (`aqueduct explain AQ0201`), or list them all.
    Explain(commands::explain::Args),
    /// Create a new project with a sample flow and test.
    New(commands::new::Args),
    /// List the connector kinds, or show one kind's options and operations.
    Connectors(commands::connectors::Args),
    /// Run a local emulator of an external system (`emulate salesforce`).
    Emulate(commands::emulate::Args),
}

/// Runs a parsed command line and returns how it ended. Failures are
/// printed here, once.
pub fn run(cli: Cli) -> Exit {
    let out = Output::new(cli.color, cli.quiet);
    let result = match &cli.command {
        Command::Check(args) => commands::check::run(args, &out),
        Command::Fmt(args) => commands::fmt::run(args, &out),
        Command::Graph(args) => commands::graph::run(args, &out),
        Command::Run(args) => commands::run::run(args, &out),
        Command::Test(args) => commands::test::run(args, &out),
        Command::Build(args) => commands::build::run(args, &out),
        Command::Explain(args) => commands::explain::run(args, &out),
        Command::New(args) => commands::new::run(args, &out),
        Command::Connectors(args) => commands::connectors::run(args, &out),
        Command::Emulate(args) => commands::emulate::run(args, &out),
    };
    match result {
        Ok(exit) => exit,
        Err(failure) => {
            if !matches!(failure, Failure::BrokenPipe) {
                out.error(&failure.to_string());
            }
            failure.exit()
        }
    }
}

/// Prints a clap error (or `--help`/`--version`) and returns its exit code:
/// 0 for help and version, 2 for usage errors.
pub fn usage_error(err: &clap::Error) -> Exit {
    // A failed write of the help text (closed pipe) is not worth reporting.
    let _ = err.print();
    if err.use_stderr() {
        Exit::Usage
    } else {
        Exit::Ok
    }
}
