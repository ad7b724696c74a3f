//! `file.write(path, format)` and `file.append(path, format)` targets.
//!
//! `write` replaces its file atomically: records go to a hidden temporary
//! file next to it (`.NAME.aq-tmp`), and each commit copies that to a
//! staging file, adds the format's closing text (`]` for json, `</records>`
//! for xml), syncs it and renames it over the target, so readers only ever
//! see a complete document. The first write of a run starts the file afresh.
//! `append` appends to the file (creating it and its directory), writing
//! the csv header only into an empty file; json and xml cannot be appended
//! to and are refused.
//!
//! Commits happen on `flush()` in batch flows (end of each chunk); in sync
//! and async flows each `write()` commits before returning, so an accepted
//! record is on disk (fsync). A template path (`"out/{.region}.csv"`) keeps
//! one file per value; interpolated values cannot leave the directory (`/`,
//! `\` and `..` are replaced by `_`).

use crate::formats::{Codec, Encoder, Format};
use crate::support::args::label;
use crate::support::io_error;
use crate::support::template::Template;
use aqueduct_graph::ModeKind;
use aqueduct_runtime::connector::{ConnectorError, OpContext, Target};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Replace the file, or append to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// `write`: atomic replacement.
    Replace,
    /// `append`: append and fsync.
    Append,
}

/// A file target.
pub(crate) struct FileTarget {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    path: Template,
    codec: Codec,
    mode: WriteMode,
    commit_each_write: bool,
    files: Mutex<HashMap<PathBuf, OpenFile>>,
}

/// One file being written.
struct OpenFile {
    /// Where records go: the temporary file (`write`) or the file itself (`append`).
    file: File,
    temp: Option<PathBuf>,
    encoder: Encoder,
    dirty: bool,
}

impl FileTarget {
    pub(crate) fn build(
        cx: &OpContext,
        root: PathBuf,
        mode: WriteMode,
    ) -> Result<FileTarget, ConnectorError> {
        let expr = cx.op.arg("path").ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `path` is required", label(cx)))
        })?;
        let path = Template::new(expr, &cx.schemas)
            .map_err(|e| ConnectorError::Config(format!("`{}`: path: {e}", label(cx))))?;
        let hint = path.shape(|_| "x".to_string());
        let codec = Codec::from_args(cx, Some(&hint), Format::Jsonl)?;
        if mode == WriteMode::Append && matches!(codec.format, Format::Json | Format::Xml) {
            return Err(ConnectorError::Config(format!(
                "`{}`: cannot append to a {} document; use jsonl, csv or text, or `write`",
                label(cx),
                codec.format.name()
            )));
        }
        Ok(FileTarget {
            inner: Arc::new(Inner {
                root,
                path,
                codec,
                mode,
                commit_each_write: cx.mode != ModeKind::Batch,
                files: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// A value safe as part of a file name.
fn sanitize(text: &str) -> String {
    let cleaned = text.replace(['/', '\\'], "_");
    if cleaned == ".." || cleaned == "." {
        "_".to_string()
    } else {
        cleaned.replace("..", "_")
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{suffix}"))
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        // Best effort: not every platform can sync a directory.
        let _ = File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
        .and_then(|d| d.sync_all());
    }
}

impl Inner {
    fn open(&self, path: &Path) -> Result<OpenFile, ConnectorError> {
        let what = format!("cannot write {}", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_error(&what, &e))?;
        }
        let mut encoder = self.codec.encoder();
        match self.mode {
            WriteMode::Replace => {
                let temp = sibling(path, "aq-tmp");
                let mut file = File::create(&temp).map_err(|e| io_error(&what, &e))?;
                file.write_all(&encoder.prefix())
                    .map_err(|e| io_error(&what, &e))?;
                Ok(OpenFile {
                    file,
                    temp: Some(temp),
                    encoder,
                    dirty: true,
                })
            }
            WriteMode::Append => {
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| io_error(&what, &e))?;
                let len = file.metadata().map_err(|e| io_error(&what, &e))?.len();
                if len == 0 {
                    file.write_all(&encoder.prefix())
                        .map_err(|e| io_error(&what, &e))?;
                } else {
                    encoder.continue_after(1);
                }
                Ok(OpenFile {
                    file,
                    temp: None,
                    encoder,
                    dirty: true,
                })
            }
        }
    }

    fn commit(path: &Path, open: &mut OpenFile) -> Result<(), ConnectorError> {
        let what = format!("cannot write {}", path.display());
        open.file.flush().map_err(|e| io_error(&what, &e))?;
        open.file.sync_data().map_err(|e| io_error(&what, &e))?;
        if let Some(temp) = &open.temp {
            let staging = sibling(path, "aq-stage");
            std::fs::copy(temp, &staging).map_err(|e| io_error(&what, &e))?;
            let mut stage = OpenOptions::new()
                .append(true)
                .open(&staging)
                .map_err(|e| io_error(&what, &e))?;
            stage
                .write_all(&open.encoder.suffix())
                .map_err(|e| io_error(&what, &e))?;
            stage.sync_all().map_err(|e| io_error(&what, &e))?;
            std::fs::rename(&staging, path).map_err(|e| io_error(&what, &e))?;
            sync_dir(path);
        }
        open.dirty = false;
        Ok(())
    }

    fn write(&self, records: &[Value]) -> Result<(), ConnectorError> {
        let mut files = self
            .files
            .lock()
            .map_err(|_| ConnectorError::Permanent("file target lock poisoned".to_string()))?;
        let mut touched: Vec<PathBuf> = Vec::new();
        let mut pending: HashMap<PathBuf, Vec<u8>> = HashMap::new();
        for record in records {
            let rel = self.path.render(record, sanitize).map_err(|e| {
                ConnectorError::Permanent(format!("cannot build the file path: {e}"))
            })?;
            let path = self.root.join(rel);
            if !files.contains_key(&path) {
                let open = self.open(&path)?;
                files.insert(path.clone(), open);
            }
            let Some(open) = files.get_mut(&path) else {
                continue;
            };
            let buf = pending.entry(path.clone()).or_default();
            open.encoder.record(record, buf)?;
            if !touched.contains(&path) {
                touched.push(path);
            }
        }
        for path in &touched {
            let (Some(open), Some(buf)) = (files.get_mut(path), pending.get(path)) else {
                continue;
            };
            open.file
                .write_all(buf)
                .map_err(|e| io_error(&format!("cannot write {}", path.display()), &e))?;
            open.dirty = true;
            if self.commit_each_write {
                Self::commit(path, open)?;
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), ConnectorError> {
        let mut files = self
            .files
            .lock()
            .map_err(|_| ConnectorError::Permanent("file target lock poisoned".to_string()))?;
        for (path, open) in files.iter_mut() {
            if open.dirty {
                Self::commit(path, open)?;
            }
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(files) = self.files.get_mut() {
            for open in files.values() {
                if let Some(temp) = &open.temp {
                    let _ = std::fs::remove_file(temp);
                }
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConnectorError> + Send + 'static,
) -> Result<T, ConnectorError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ConnectorError::Transient(format!("file writer stopped: {e}")))?
}

impl Target for FileTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let inner = self.inner.clone();
        let records = records.to_vec();
        Box::pin(blocking(move || inner.write(&records)))
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let inner = self.inner.clone();
        Box::pin(blocking(move || inner.flush()))
    }
}
