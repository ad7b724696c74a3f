//! `aqueduct new NAME [--dir DIR]`: create a project from the template in
//! `templates/new/` (embedded at build time). `{{name}}` in a template is
//! replaced by the project name.

use crate::exit::{CmdResult, Exit, Failure};
use crate::output::Output;
use std::path::{Path, PathBuf};

/// The template files: path in the new project, and text.
const TEMPLATE: &[(&str, &str)] = &[
    (
        "aqueduct.yaml",
        include_str!("../../templates/new/aqueduct.yaml"),
    ),
    ("flows.aq", include_str!("../../templates/new/flows.aq")),
    (
        "input/orders.csv",
        include_str!("../../templates/new/input/orders.csv"),
    ),
    ("README.md", include_str!("../../templates/new/README.md")),
];

/// Arguments of `new`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project name: letters, digits, `-` and `_`, starting with a letter or digit.
    pub name: String,
    /// Directory to create (default: ./NAME); must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Writes the project.
pub fn run(args: &Args, out: &Output) -> CmdResult {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    check_target(&dir)?;
    for (rel, text) in TEMPLATE {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::io("create directory", parent, &e))?;
        }
        let text = text.replace("{{name}}", &args.name);
        std::fs::write(&path, text).map_err(|e| Failure::io("write", &path, &e))?;
    }
    out.note(&format!(
        "created project `{}` in {}",
        args.name,
        dir.display()
    ));
    out.note(&format!(
        "next: cd {} && aqueduct check && aqueduct test && aqueduct run",
        dir.display()
    ));
    Ok(Exit::Ok)
}

fn check_name(name: &str) -> Result<(), Failure> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Ok(());
    }
    Err(Failure::Usage(format!(
        "`{name}` is not a valid project name: use letters, digits, `-` and `_`, starting with a letter or digit"
    )))
}

/// Refuses a path that is a file or a non-empty directory.
fn check_target(dir: &Path) -> Result<(), Failure> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Failure::Usage(format!(
                    "`{}` already exists and is not empty; pick another name or --dir",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure::io("use directory", dir, &e)),
    }
}
