//! The run state of a batch flow's `file.write`, kept in the state store
//! under `file-write:{flow}:{path}`.
//!
//! A batch `write` builds each file in a hidden temporary file next to it
//! (`.NAME.aq-tmp`) and renames it over the target once, when the run is
//! complete, so the target is only ever a whole run's document and the cost
//! of a run is linear in its output. Each chunk commit syncs the temporary
//! file and stores its committed length here, before the chunk is
//! acknowledged: `{"open": true, "files": […], "lens": {path: bytes}}`. A
//! run that finds the state open resumes the interrupted one (killed,
//! stopped or failed, its source going on from its checkpoint): it cuts each
//! temporary file back to its stored length and goes on after it. When the
//! run completes ([`aqueduct_runtime::connector::Target::finish`]) the
//! state becomes `{"open": false}` and the next run starts afresh.

use aqueduct_runtime::connector::{ConnectorError, StateStore};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The open run of one `write` target.
pub(super) struct RunState {
    state: Arc<dyn StateStore>,
    key: String,
    inner: tokio::sync::Mutex<Option<Known>>,
    /// The interrupted run's files and committed lengths, readable without
    /// the async lock once the stored state was read.
    resumed: std::sync::Mutex<BTreeMap<PathBuf, Option<u64>>>,
}

/// What this run knows once the stored state was read.
#[derive(Default)]
struct Known {
    /// Files this run writes.
    files: BTreeSet<PathBuf>,
    /// Committed length of each file's temporary file.
    lens: BTreeMap<PathBuf, u64>,
}

impl RunState {
    pub(super) fn new(state: Arc<dyn StateStore>, key: String) -> RunState {
        RunState {
            state,
            key,
            inner: tokio::sync::Mutex::new(None),
            resumed: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// Before files are opened: reads whether this run resumes an
    /// interrupted one (once per run), then stores `paths` as the open run's
    /// files, before anything is committed to them.
    pub(super) async fn begin(&self, paths: Vec<PathBuf>) -> Result<(), ConnectorError> {
        let mut guard = self.inner.lock().await;
        if guard.is_none() {
            let resumed = self.read_stored().await?;
            if let Ok(mut r) = self.resumed.lock() {
                *r = resumed;
            }
            *guard = Some(Known::default());
        }
        let Some(known) = guard.as_mut() else {
            return Ok(());
        };
        let mut added = false;
        for path in paths {
            added |= known.files.insert(path);
        }
        if added {
            self.store(known).await?;
        }
        Ok(())
    }

    /// After a chunk commit synced the temporary files: their lengths.
    pub(super) async fn committed(&self, lens: Vec<(PathBuf, u64)>) -> Result<(), ConnectorError> {
        if lens.is_empty() {
            return Ok(());
        }
        let mut guard = self.inner.lock().await;
        let known = guard.get_or_insert_with(Known::default);
        for (path, len) in lens {
            known.files.insert(path.clone());
            known.lens.insert(path, len);
        }
        self.store(known).await
    }

    /// The run is complete: the next one starts afresh.
    pub(super) async fn complete(&self) -> Result<(), ConnectorError> {
        let mut guard = self.inner.lock().await;
        *guard = None;
        if let Ok(mut r) = self.resumed.lock() {
            r.clear();
        }
        self.state.put(&self.key, r#"{"open":false}"#).await
    }

    /// `Some(committed length)` when `path` belongs to the interrupted run
    /// this run resumes (`Some(None)`: its length is unknown).
    pub(super) fn resumes(&self, path: &Path) -> Option<Option<u64>> {
        self.resumed.lock().ok()?.get(path).copied()
    }

    /// Files of the interrupted run, with their committed lengths.
    pub(super) fn resumed_files(&self) -> Vec<(PathBuf, Option<u64>)> {
        self.resumed
            .lock()
            .map(|r| r.iter().map(|(p, l)| (p.clone(), *l)).collect())
            .unwrap_or_default()
    }

    async fn read_stored(&self) -> Result<BTreeMap<PathBuf, Option<u64>>, ConnectorError> {
        let mut resumed = BTreeMap::new();
        if let Some(text) = self.state.get(&self.key).await?
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
            && json["open"] == serde_json::Value::Bool(true)
            && let Some(list) = json["files"].as_array()
        {
            for path in list.iter().filter_map(|p| p.as_str()) {
                let len = json["lens"][path].as_u64();
                resumed.insert(PathBuf::from(path), len);
            }
        }
        Ok(resumed)
    }

    /// Stores the open run: this run's files and lengths, over those of the
    /// run it resumes (which stay until this run completes).
    async fn store(&self, known: &Known) -> Result<(), ConnectorError> {
        let mut files: BTreeMap<String, Option<u64>> = self
            .resumed_files()
            .into_iter()
            .map(|(p, l)| (p.to_string_lossy().into_owned(), l))
            .collect();
        for path in &known.files {
            let key = path.to_string_lossy().into_owned();
            let len = known.lens.get(path).copied();
            let entry = files.entry(key).or_insert(None);
            if len.is_some() {
                *entry = len;
            }
        }
        let lens: serde_json::Map<String, serde_json::Value> = files
            .iter()
            .filter_map(|(p, l)| l.map(|l| (p.clone(), serde_json::Value::from(l))))
            .collect();
        let value = serde_json::json!({
            "open": true,
            "files": files.keys().collect::<Vec<_>>(),
            "lens": lens,
        });
        self.state.put(&self.key, &value.to_string()).await
    }
}
