//! One module per subcommand. Each has an `Args` struct (clap derive) and a
//! `run(&Args, &Output) -> CmdResult`.

pub mod build;
pub mod check;
pub mod connectors;
pub mod emulate;
pub mod explain;
pub mod fmt;
pub mod graph;
pub mod new;
pub mod preflight;
pub mod run;
pub mod test;
