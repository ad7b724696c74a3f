//! `aqueduct fmt [PATH] [--check]`: rewrite `.aq` files in the canonical layout.
//!
//! Only the syntax stage runs: a file with a type error is still formatted,
//! a file with a syntax error is reported and left untouched. Files are
//! written only when their text changes. A file whose formatted text would
//! be larger than `check` accepts (16 MiB, AQ0108) is left untouched too:
//! `fmt` never writes a file the other commands refuse.

use crate::exit::{CmdResult, Exit, Failure};
use crate::output::{DiagFormat, Output, Stream, plural};
use crate::project;
use aqueduct_diagnostics::{Diagnostic, Span, codes};
use std::path::PathBuf;

/// Arguments of `fmt`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project directory, or a single `.aq` file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Write nothing; list the files that would change and exit 1 if any.
    #[arg(long)]
    pub check: bool,
}

/// Formats every file of the project.
pub fn run(args: &Args, out: &Output) -> CmdResult {
    let mut project = project::load(&args.path)?;
    let mut diags = Vec::new();
    let mut changed = Vec::new();
    let mut unchanged = 0usize;
    let mut broken = 0usize;
    for (id, path) in &project.files {
        let Some(file) = project.sources.get(*id) else {
            continue;
        };
        let parsed = aqueduct_syntax::parse(*id, &file.text);
        let has_errors = parsed.diagnostics.iter().any(|d| d.is_error());
        diags.extend(parsed.diagnostics);
        let tree = match parsed.file {
            Some(tree) if !has_errors => tree,
            _ => {
                broken += usize::from(has_errors);
                continue;
            }
        };
        let formatted = aqueduct_syntax::format(&tree, &file.text);
        if formatted.len() as u64 > project::MAX_FILE_SIZE {
            let mib = project::MAX_FILE_SIZE / 1024 / 1024;
            diags.push(
                Diagnostic::error(
                    codes::AQ0108,
                    format!(
                        "formatted, `{}` would be larger than {mib} MiB ({} bytes)",
                        file.name,
                        formatted.len()
                    ),
                )
                .with_primary(*id, Span::new(0, 0), "this file is left as it is")
                .with_help("split the flows into several smaller `.aq` files"),
            );
            broken += 1;
            continue;
        }
        if formatted == file.text {
            unchanged += 1;
            continue;
        }
        if !args.check {
            std::fs::write(path, &formatted).map_err(|e| Failure::io("write", path, &e))?;
        }
        changed.push(format!("{}{}", project.display_prefix, file.name));
    }
    let mut load = project.load_diagnostics();
    broken += load.iter().filter(|d| d.is_error()).count();
    load.append(&mut diags);
    out.diagnostics(
        DiagFormat::Human,
        &load,
        &project.sources,
        "",
        Stream::Stderr,
    )?;
    if args.check {
        let listing: String = changed.iter().map(|name| format!("{name}\n")).collect();
        out.print(&listing)?;
        out.note(&format!(
            "{} would be reformatted, {} already formatted",
            plural(changed.len(), "file"),
            unchanged
        ));
    } else {
        out.note(&format!(
            "formatted {}, {} unchanged",
            plural(changed.len(), "file"),
            unchanged
        ));
    }
    if broken > 0 {
        out.note(&format!(
            "{} left untouched because of errors",
            plural(broken, "file")
        ));
    }
    let failed = broken > 0 || (args.check && !changed.is_empty());
    Ok(if failed { Exit::Findings } else { Exit::Ok })
}
