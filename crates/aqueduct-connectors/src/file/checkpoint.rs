//! The position `file.read` stores (state key `file:{flow}:{glob}`, JSON
//! `{"done": {path: {"size", "mtime"}}, "current": {"path", "pos"}}`) and
//! the listing of the glob it is kept against. One
//! definition for the reader and for the native batch path of generated
//! services, so a service resumes what `aqueduct run` left, and the other
//! way round.

use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Size and modification time of a file, to notice changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub size: u64,
    pub mtime: u64,
}

impl Meta {
    pub fn of(meta: &std::fs::Metadata) -> Meta {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Meta {
            size: meta.len(),
            mtime,
        }
    }
}

/// The stored position: finished files, and the file in progress with the
/// byte offset after its last committed record.
#[derive(Debug, Default, Clone)]
pub(crate) struct Checkpoint {
    pub done: BTreeMap<String, Meta>,
    pub current: Option<(String, u64)>,
}

impl Checkpoint {
    pub fn parse(text: &str) -> Checkpoint {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
            tracing::warn!("ignoring an unreadable file checkpoint");
            return Checkpoint::default();
        };
        let mut cp = Checkpoint::default();
        if let Some(done) = json.get("done").and_then(|d| d.as_object()) {
            for (path, m) in done {
                let size = m.get("size").and_then(|v| v.as_u64()).unwrap_or(0);
                let mtime = m.get("mtime").and_then(|v| v.as_u64()).unwrap_or(0);
                cp.done.insert(path.clone(), Meta { size, mtime });
            }
        }
        if let Some(cur) = json.get("current")
            && let (Some(path), Some(pos)) = (
                cur.get("path").and_then(|v| v.as_str()),
                cur.get("pos").and_then(|v| v.as_u64()),
            )
        {
            cp.current = Some((path.to_string(), pos));
        }
        cp
    }

    pub fn to_json(&self) -> String {
        let done: serde_json::Map<String, serde_json::Value> = self
            .done
            .iter()
            .map(|(p, m)| (p.clone(), json!({"size": m.size, "mtime": m.mtime})))
            .collect();
        let current = self
            .current
            .as_ref()
            .map(|(path, pos)| json!({"path": path, "pos": pos}));
        json!({"done": done, "current": current}).to_string()
    }
}

/// Why the files of a glob could not be listed.
pub(crate) enum ListError {
    /// The pattern is not a glob.
    Pattern(glob::PatternError),
    /// A directory on the way could not be read.
    Entry(glob::GlobError),
}

/// The files matching `glob` under `root`, each with its path relative to
/// `root` (`/`-separated, the checkpoint's key), in that relative path's
/// order: the order `file.read` reads them in.
pub(crate) fn matching_files(root: &Path, glob: &str) -> Result<Vec<(PathBuf, String)>, ListError> {
    let pattern = root.join(glob);
    let paths = glob::glob(&pattern.to_string_lossy()).map_err(ListError::Pattern)?;
    let mut files = Vec::new();
    for entry in paths {
        let path = entry.map_err(ListError::Entry)?;
        if path.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            files.push((path, rel));
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}
