//! Shared helpers for the cross-crate golden tests: loading a case (a single
//! `.aq` file or a directory holding a project) into a [`SourceMap`] and
//! checking it, the way the CLI does but without touching the terminal.

use aqueduct_check::CheckResult;
use aqueduct_diagnostics::{SourceMap, render};
use std::path::Path;

/// A loaded project: its sources and which one is the manifest.
pub struct Loaded {
    /// Every `.aq` file and the manifest, named relative to the case root.
    pub sources: SourceMap,
    /// The manifest's id, when there is one.
    pub manifest: Option<aqueduct_diagnostics::FileId>,
}

/// Loads a case: one `.aq` file, or a directory (recursively, sorted).
pub fn load(path: &Path) -> std::io::Result<Loaded> {
    let mut sources = SourceMap::default();
    let mut manifest = None;
    if path.is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        sources.add(name, std::fs::read_to_string(path)?);
        return Ok(Loaded { sources, manifest });
    }
    let mut files = Vec::new();
    collect(path, &mut files)?;
    files.sort();
    let yaml = path.join("aqueduct.yaml");
    if yaml.is_file() {
        manifest = Some(sources.add("aqueduct.yaml", std::fs::read_to_string(&yaml)?));
    }
    for file in files {
        let name = file
            .strip_prefix(path)
            .unwrap_or(&file)
            .to_string_lossy()
            .replace('\\', "/");
        sources.add(name, std::fs::read_to_string(&file)?);
    }
    Ok(Loaded { sources, manifest })
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "aq") {
            out.push(path);
        }
    }
    Ok(())
}

/// Checks a loaded project.
pub fn check(loaded: &Loaded) -> CheckResult {
    aqueduct_check::check(&loaded.sources, loaded.manifest)
}

/// The diagnostics as plain text (no colours, width 80): stable for golden files.
pub fn render_plain(result: &CheckResult, loaded: &Loaded) -> String {
    render::render_human(
        &result.diagnostics,
        &loaded.sources,
        render::HumanStyle::Plain,
    )
}
