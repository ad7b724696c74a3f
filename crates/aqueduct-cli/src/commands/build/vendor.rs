//! The self-contained output of `aqueduct build` (the default): the sources
//! of the aqueduct library crates the generated services use travel inside
//! the output, under `aqueduct/` (embedded into the `aqueduct` binary when
//! it was compiled, see `build.rs`), with a `Cargo.lock` derived from
//! aqueduct's own, so `cargo build` and `docker build` work from the output
//! directory alone, on any machine with Rust and the package registry.
//!
//! Only the crates the services use are written, with the aqueduct crates
//! they depend on; their manifests lose what only aqueduct's own tests
//! need (dev-dependencies, test and bench targets). The output's workspace
//! manifest gets the dependency entries those crates inherit, copied from
//! aqueduct's workspace manifest, so versions and features match what
//! aqueduct's CI built; the lock file pins the same versions (cargo drops
//! the entries the output does not use on its first build).

use aqueduct_codegen::GeneratedWorkspace;
use std::collections::{BTreeMap, BTreeSet};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Where the library sources go in the output (`aqueduct/crates/NAME`).
pub(super) const DIR: &str = "aqueduct";

/// The crates path for `RuntimeSource::Path`, relative to the output.
pub(super) fn crates_path() -> String {
    format!("{DIR}/crates")
}

/// Adds the library sources, the lock file and the workspace entries to
/// `generated`.
pub(super) fn add(generated: &mut GeneratedWorkspace) -> Result<(), String> {
    let manifests = crate_manifests();
    // the runtime, the embedded connectors and the connector crates the
    // services' systems use (`aqueduct-db` only for a flow on a database)
    let roots: Vec<&str> = generated.libraries.iter().map(String::as_str).collect();
    if let Some(missing) = roots.iter().find(|r| !manifests.contains_key(*r)) {
        return Err(format!(
            "the services need the library crate `{missing}`, which this aqueduct binary does not carry"
        ));
    }
    let needed = closure(&roots, &manifests);
    for (rel, bytes) in embedded::FILES {
        let keep = match rel.strip_prefix("crates/") {
            Some(rest) => rest.split('/').next().is_some_and(|c| needed.contains(c)),
            // files the crates include (diagnostics pages)
            None => true,
        };
        if !keep {
            continue;
        }
        let text =
            std::str::from_utf8(bytes).map_err(|_| format!("embedded file {rel} is not UTF-8"))?;
        let text = if rel.ends_with("/Cargo.toml") && rel.starts_with("crates/") {
            strip_dev_sections(text)
        } else {
            text.to_string()
        };
        generated.files.insert(format!("{DIR}/{rel}"), text);
    }
    let workspace = generated
        .files
        .get("Cargo.toml")
        .cloned()
        .ok_or("the generated workspace has no Cargo.toml")?;
    let used: BTreeSet<String> = needed
        .iter()
        .filter_map(|c| manifests.get(c.as_str()))
        .flat_map(|m| dependency_names(m))
        .collect();
    let patched = patch_workspace(&workspace, &used, &needed)?;
    generated.files.insert("Cargo.toml".into(), patched);
    generated
        .files
        .insert("Cargo.lock".into(), embedded::LOCK.to_string());
    Ok(())
}

/// Each embedded crate's manifest by crate name.
fn crate_manifests() -> BTreeMap<&'static str, &'static str> {
    embedded::FILES
        .iter()
        .filter_map(|(rel, bytes)| {
            let name = rel.strip_prefix("crates/")?.strip_suffix("/Cargo.toml")?;
            Some((name, std::str::from_utf8(bytes).ok()?))
        })
        .collect()
}

/// `roots` and every aqueduct crate they depend on (normal dependencies).
fn closure(roots: &[&str], manifests: &BTreeMap<&str, &str>) -> BTreeSet<String> {
    let mut needed = BTreeSet::new();
    let mut todo: Vec<String> = roots.iter().map(|r| r.to_string()).collect();
    while let Some(name) = todo.pop() {
        if !needed.insert(name.clone()) {
            continue;
        }
        if let Some(manifest) = manifests.get(name.as_str()) {
            todo.extend(
                dependency_names(manifest)
                    .into_iter()
                    .filter(|d| manifests.contains_key(d.as_str())),
            );
        }
    }
    needed
}

/// Names in the `[dependencies]` and `[build-dependencies]` of a manifest.
fn dependency_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]" || line == "[build-dependencies]";
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(key) = line.split(['=', '.']).next() {
            names.push(key.trim().to_string());
        }
    }
    names
}

/// A crate manifest without the sections only aqueduct's own tests need.
fn strip_dev_sections(manifest: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            skip = matches!(
                trimmed,
                "[dev-dependencies]" | "[[test]]" | "[[bench]]" | "[[example]]"
            );
        }
        if !skip {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The lines of table `header` in `manifest` (without the header).
fn table<'a>(manifest: &'a str, header: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            inside = trimmed == header;
            continue;
        }
        if inside && !trimmed.is_empty() && !trimmed.starts_with('#') {
            out.push(line);
        }
    }
    out
}

fn key_of(line: &str) -> &str {
    line.split('=').next().unwrap_or("").trim()
}

/// The generated workspace manifest with what the library crates inherit:
/// their dependencies (copied from aqueduct's workspace manifest, or a path
/// into `aqueduct/crates`), the package fields and the lints.
fn patch_workspace(
    workspace: &str,
    used: &BTreeSet<String>,
    crates: &BTreeSet<String>,
) -> Result<String, String> {
    let root = embedded::ROOT_MANIFEST;
    let declared: BTreeSet<&str> = table(workspace, "[workspace.dependencies]")
        .into_iter()
        .map(key_of)
        .collect();
    let available: BTreeMap<&str, &str> = table(root, "[workspace.dependencies]")
        .into_iter()
        .map(|l| (key_of(l), l))
        .collect();
    let mut deps = String::from("# what the aqueduct library crates in aqueduct/ use\n");
    for name in used {
        if declared.contains(name.as_str()) {
            continue;
        }
        if crates.contains(name) {
            deps.push_str(&format!(
                "{name} = {{ path = \"{}/{name}\" }}\n",
                crates_path()
            ));
        } else {
            let line = available.get(name.as_str()).ok_or_else(|| {
                format!(
                    "the embedded crates use `{name}`, which aqueduct's workspace does not declare"
                )
            })?;
            deps.push_str(line.trim());
            deps.push('\n');
        }
    }
    let package_declared: BTreeSet<&str> = table(workspace, "[workspace.package]")
        .into_iter()
        .map(key_of)
        .collect();
    let mut package = String::new();
    for line in table(root, "[workspace.package]") {
        if !package_declared.contains(key_of(line)) {
            package.push_str(line.trim());
            package.push('\n');
        }
    }
    let mut out = String::new();
    for line in workspace.lines() {
        out.push_str(line);
        out.push('\n');
        match line.trim() {
            "[workspace.dependencies]" => out.push_str(&deps),
            "[workspace.package]" => out.push_str(&package),
            _ => {}
        }
    }
    for header in ["[workspace.lints.rust]", "[workspace.lints.clippy]"] {
        let lines = table(root, header);
        if !lines.is_empty() {
            out.push('\n');
            out.push_str(header);
            out.push('\n');
            for line in lines {
                out.push_str(line.trim());
                out.push('\n');
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_crates_and_their_aqueduct_dependencies_are_embedded() {
        let manifests = crate_manifests();
        let needed = closure(&["aqueduct-runtime", "aqueduct-connectors"], &manifests);
        for name in [
            "aqueduct-runtime",
            "aqueduct-connectors",
            "aqueduct-graph",
            "aqueduct-diagnostics",
            "aqueduct-catalog",
        ] {
            assert!(needed.contains(name), "{name} in {needed:?}");
            assert!(manifests.contains_key(name), "{name} embedded");
        }
        // the compiler front end never travels with a service, nor a
        // connector crate its flows do not use
        for name in ["aqueduct-syntax", "aqueduct-check", "aqueduct-db"] {
            assert!(!needed.contains(name), "{name} not in {needed:?}");
        }
        // every connector crate a service may need is carried
        for name in [
            "aqueduct-db",
            "aqueduct-brokers",
            "aqueduct-salesforce",
            "aqueduct-web",
        ] {
            assert!(manifests.contains_key(name), "{name} embedded");
        }
    }

    #[test]
    fn dev_sections_are_stripped() {
        let m = "[package]\nname = \"x\"\n\n[dependencies]\na.workspace = true\n\n[dev-dependencies]\nb.workspace = true\n\n[[bench]]\nname = \"z\"\n\n[lints]\nworkspace = true\n";
        let s = strip_dev_sections(m);
        assert!(s.contains("a.workspace") && s.contains("[lints]"), "{s}");
        assert!(!s.contains("b.workspace") && !s.contains("bench"), "{s}");
        assert_eq!(dependency_names(m), vec!["a".to_string()]);
    }
}
