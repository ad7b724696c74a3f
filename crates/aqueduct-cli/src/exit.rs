//! Exit codes, and the failures that stop a command.
//!
//! Every command returns `Result<Exit, Failure>`; `main` turns either into a
//! process exit code in one place (`lib::run`), so the codes stay consistent:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (also when stdout was closed early: a broken pipe) |
//! | 1 | findings: the project has errors (or warnings with `--deny-warnings`; notes never count), files need formatting, a flow failed |
//! | 2 | usage or I/O error: bad arguments, a missing path, an unknown code or connector |
//! | 3 | runtime failure |

use std::fmt;
use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything went well.
    Ok = 0,
    /// The command ran and found problems.
    Findings = 1,
    /// Bad usage or an I/O error.
    Usage = 2,
    /// A flow failed at run time.
    Runtime = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// Why a command stopped before finishing its work.
#[derive(Debug)]
pub enum Failure {
    /// Bad arguments or an unknown name; the text says what to do instead.
    Usage(String),
    /// A file could not be read or written.
    Io(String),
    /// Stdout was closed by the reader (`aqueduct … | head`): not an error.
    BrokenPipe,
    /// A flow or the runtime failed.
    Runtime(String),
}

impl Failure {
    /// An I/O failure on `path`.
    pub fn io(action: &str, path: &std::path::Path, err: &std::io::Error) -> Failure {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure::BrokenPipe;
        }
        Failure::Io(format!(
            "cannot {action} `{}`: {}",
            path.display(),
            plain_io_error(err)
        ))
    }

    /// The exit code this failure maps to.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Usage(_) | Failure::Io(_) => Exit::Usage,
            Failure::BrokenPipe => Exit::Ok,
            Failure::Runtime(_) => Exit::Runtime,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) | Failure::Io(m) | Failure::Runtime(m) => f.write_str(m),
            Failure::BrokenPipe => f.write_str("broken pipe"),
        }
    }
}

/// The OS error text without Rust's ` (os error N)` suffix.
fn plain_io_error(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// What a command returns.
pub type CmdResult = Result<Exit, Failure>;
