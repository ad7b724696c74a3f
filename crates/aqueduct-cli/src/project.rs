//! Loading a project from disk: the only place `.aq` files and the manifest
//! are found and read.
//!
//! `PATH` is a directory (every `*.aq` below it, in sorted order, skipping
//! `target/`, `.git/`, `.aqueduct/` and hidden entries, plus `aqueduct.yaml`
//! at its root) or a single `.aq` file (no manifest). File names in the
//! [`SourceMap`] are relative to the project root, with `/` separators.
//!
//! A file that cannot be used as text (not UTF-8: AQ0106; over 16 MiB:
//! AQ0108) is kept aside and added to the map only after the other files were
//! parsed, so the checker never sees it but its diagnostic can still show it.

use crate::exit::Failure;
use aqueduct_diagnostics::{Diagnostic, FileId, SourceMap, Span, codes};
use std::path::{Path, PathBuf};

/// Largest source file read, in bytes: the parser's limit.
pub const MAX_FILE_SIZE: u64 = aqueduct_syntax::MAX_FILE_BYTES as u64;

/// The manifest's file name.
pub const MANIFEST: &str = "aqueduct.yaml";

/// Directories never searched for `.aq` files.
const SKIPPED_DIRS: &[&str] = &["target", ".git", ".aqueduct"];

/// A project read from disk.
#[derive(Debug)]
pub struct Project {
    /// The project directory.
    pub root: PathBuf,
    /// How `PATH` was written, with a trailing `/` (empty for `.`): prefixed
    /// to file names in machine-readable output.
    pub display_prefix: String,
    /// The readable `.aq` files and the manifest.
    pub sources: SourceMap,
    /// The manifest's id in `sources`.
    pub manifest: Option<FileId>,
    /// The readable `.aq` files: id and path on disk.
    pub files: Vec<(FileId, PathBuf)>,
    /// Files that could not be read as text, with their diagnostic.
    rejected: Vec<Rejected>,
    /// True when no `.aq` file was found at all.
    empty: bool,
}

#[derive(Debug)]
struct Rejected {
    name: String,
    text: String,
    reason: Reason,
    span: Span,
    is_aq: bool,
}

#[derive(Debug, Clone, Copy)]
enum Reason {
    NotUtf8,
    TooLarge,
}

impl Project {
    /// Number of `.aq` files found, readable or not.
    pub fn file_count(&self) -> usize {
        self.files.len() + self.rejected.iter().filter(|r| r.is_aq).count()
    }

    /// Adds the rejected files to `sources` and returns the loading
    /// diagnostics (AQ0106, AQ0108, AQ0904). Call it after the readable
    /// files were parsed or checked.
    pub fn load_diagnostics(&mut self) -> Vec<Diagnostic> {
        let mut diags = Vec::new();
        for r in std::mem::take(&mut self.rejected) {
            let id = self.sources.add(r.name.clone(), r.text);
            diags.push(rejection(r.reason, &r.name, id, r.span));
        }
        if self.empty {
            diags.push(
                Diagnostic::error(codes::AQ0904, format!("no `.aq` files in `{}`", self.root.display()))
                    .with_help("write a flow in a file ending in `.aq`, or start a project with `aqueduct new NAME`"),
            );
        }
        diags
    }
}

/// A project after `check`: the result, with the loading diagnostics first.
#[derive(Debug)]
pub struct Checked {
    /// Every file, the rejected ones included (for rendering).
    pub sources: SourceMap,
    /// What the checker returned; `diagnostics` also holds the loading ones.
    pub result: aqueduct_check::CheckResult,
    /// Number of `.aq` files.
    pub file_count: usize,
    /// See [`Project::display_prefix`].
    pub display_prefix: String,
}

impl Project {
    /// Runs the checker on the readable files.
    pub fn check(mut self) -> Checked {
        let mut result = aqueduct_check::check(&self.sources, self.manifest);
        let file_count = self.file_count();
        let mut diags = self.load_diagnostics();
        diags.append(&mut result.diagnostics);
        result.diagnostics = diags;
        Checked {
            sources: self.sources,
            result,
            file_count,
            display_prefix: self.display_prefix,
        }
    }
}

impl Checked {
    /// Prints the diagnostics on stderr and returns the validated graph; when
    /// the project has errors, says so ("fix them to `purpose`") and returns
    /// `None`. The shared start of `run`, `test`, `build` and `graph`.
    pub fn graph_or_report(
        &self,
        out: &crate::output::Output,
        purpose: &str,
    ) -> Result<Option<&aqueduct_graph::Graph>, Failure> {
        out.diagnostics(
            crate::output::DiagFormat::Human,
            &self.result.diagnostics,
            &self.sources,
            "",
            crate::output::Stream::Stderr,
        )?;
        let graph = self
            .result
            .graph
            .as_ref()
            .filter(|_| !self.result.has_errors());
        if graph.is_none() {
            out.note(&format!("the project has errors; fix them to {purpose}"));
        }
        Ok(graph)
    }
}

/// Reads the project at `path`.
pub fn load(path: &Path) -> Result<Project, Failure> {
    let meta = std::fs::metadata(path).map_err(|e| Failure::io("read", path, &e))?;
    let display_prefix = match path.to_string_lossy().trim_end_matches('/') {
        "" | "." => String::new(),
        p => format!("{}/", p.replace('\\', "/")),
    };
    let mut project = Project {
        root: path.to_path_buf(),
        display_prefix,
        sources: SourceMap::default(),
        manifest: None,
        files: Vec::new(),
        rejected: Vec::new(),
        empty: false,
    };
    if meta.is_file() {
        if path.extension().is_none_or(|e| e != "aq") {
            return Err(Failure::Usage(format!(
                "`{}` is neither a directory nor a `.aq` file",
                path.display()
            )));
        }
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        project.root = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
        project.display_prefix = project
            .display_prefix
            .strip_suffix(&format!("{name}/"))
            .unwrap_or_default()
            .to_string();
        add_file(&mut project, path, name, true)?;
        return Ok(project);
    }
    let manifest = path.join(MANIFEST);
    if manifest.is_file() {
        add_file(&mut project, &manifest, MANIFEST.to_string(), false)?;
    }
    let mut found = Vec::new();
    walk(path, &mut found)?;
    project.empty = found.is_empty();
    for file in found {
        let name = relative_name(path, &file);
        add_file(&mut project, &file, name, true)?;
    }
    Ok(project)
}

/// Collects `*.aq` files below `dir`, depth first, entries sorted by name.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| Failure::io("read directory", dir, &e))?;
    let mut entries: Vec<_> = entries
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::io("read directory", dir, &e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| Failure::io("read", &path, &e))?;
        if kind.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_ref()) {
                walk(&path, found)?;
            }
        } else if name.ends_with(".aq") && path.is_file() {
            found.push(path);
        }
    }
    Ok(())
}

/// `file` relative to `root`, joined with `/`.
fn relative_name(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Reads one file into the project, or sets it aside with a diagnostic.
fn add_file(project: &mut Project, path: &Path, name: String, is_aq: bool) -> Result<(), Failure> {
    let size = std::fs::metadata(path)
        .map_err(|e| Failure::io("read", path, &e))?
        .len();
    if size > MAX_FILE_SIZE {
        project.rejected.push(Rejected {
            text: String::new(),
            span: Span::new(0, 0),
            reason: Reason::TooLarge,
            name,
            is_aq,
        });
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(|e| Failure::io("read", path, &e))?;
    match String::from_utf8(bytes) {
        Ok(text) => {
            let id = project.sources.add(name, text);
            if is_aq {
                project.files.push((id, path.to_path_buf()));
            } else {
                project.manifest = Some(id);
            }
        }
        Err(err) => {
            let at = err.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(err.as_bytes()).into_owned();
            let start = u32::try_from(at).unwrap_or(u32::MAX);
            // The lossy text holds U+FFFD (3 bytes) where the bad bytes were.
            let span = Span::new(start, start.saturating_add(3));
            project.rejected.push(Rejected {
                text,
                span,
                reason: Reason::NotUtf8,
                name,
                is_aq,
            });
        }
    }
    Ok(())
}

fn rejection(reason: Reason, name: &str, file: FileId, span: Span) -> Diagnostic {
    match reason {
        Reason::NotUtf8 => Diagnostic::error(codes::AQ0106, format!("`{name}` is not valid UTF-8"))
            .with_primary(file, span, "the first byte that is not UTF-8")
            .with_help("save the file as UTF-8; aqueduct reads no other encoding"),
        Reason::TooLarge => {
            let mib = MAX_FILE_SIZE / 1024 / 1024;
            Diagnostic::error(codes::AQ0108, format!("`{name}` is larger than {mib} MiB"))
                .with_primary(file, span, "file too large")
                .with_help("split the flows into several smaller `.aq` files")
        }
    }
}
