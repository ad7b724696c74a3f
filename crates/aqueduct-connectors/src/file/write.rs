//! `file.write(path, format)` and `file.append(path, format)` targets.
//!
//! `write` replaces its file atomically: records go to a hidden temporary
//! file next to it (`.NAME.aq-tmp`), and each commit copies that to a
//! staging file, adds the format's closing text (`]` for json, `</records>`
//! for xml), syncs it and renames it over the target, so readers only ever
//! see a complete document. The first write of a run starts the file afresh,
//! unless the run resumes an interrupted one (batch flows): then it goes on
//! from the file as the interrupted run last committed it, so a killed and
//! resumed run's file holds the records of both (see [`RunState`]).
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
use aqueduct_runtime::connector::{ConnectorError, OpContext, StateStore, Target};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
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
    /// The path when the template interpolates nothing (no per-record rendering).
    fixed: Option<PathBuf>,
    codec: Codec,
    mode: WriteMode,
    commit_each_write: bool,
    files: Mutex<HashMap<PathBuf, OpenFile>>,
    /// `write` in batch flows: whether this run resumes an interrupted one.
    run: Option<RunState>,
}

/// Whether a batch flow's `write` run is complete, kept in the state store
/// under `file-write:{flow}:{path}`: `{"open": true, "files": […]}` from the
/// first write of a run (stored before anything is committed) until the
/// executor reports the run complete ([`Target::finish`]), then
/// `{"open": false}`. A run that finds it open resumes an interrupted run
/// (killed, stopped or failed, whose source resumes from its checkpoint):
/// the files that run wrote are continued from their committed content
/// instead of started afresh.
struct RunState {
    state: Arc<dyn StateStore>,
    key: String,
    /// Files the interrupted run wrote: continued, not started afresh (set
    /// once the stored state was read, before any file is opened).
    resumed: std::sync::OnceLock<BTreeSet<PathBuf>>,
    /// Files this run writes (stored, with `resumed`, as the open run's
    /// files); `None` until the stored state was read.
    written: tokio::sync::Mutex<Option<BTreeSet<PathBuf>>>,
}

/// Encoded bytes a file buffers before they are written out (batch flows).
const SPILL: usize = 256 * 1024;

/// One file being written.
struct OpenFile {
    /// Where records go: the temporary file (`write`) or the file itself (`append`).
    file: File,
    temp: Option<PathBuf>,
    encoder: Encoder,
    dirty: bool,
    /// Encoded records not yet written to `file`.
    buf: Vec<u8>,
    /// Bytes written to `file` so far (prefix included).
    len: u64,
}

/// A commit prepared under the lock, done outside it (writes go on meanwhile).
struct Commit {
    path: PathBuf,
    /// The file's descriptor, duplicated.
    file: File,
    temp: Option<PathBuf>,
    /// Bytes of the temporary file that belong to this commit.
    len: u64,
    suffix: Vec<u8>,
}

/// What buffering a group of records in memory did.
enum Buffered {
    /// Every record is buffered; nothing to do now.
    Done,
    /// Buffered, and a buffer is large enough to be written out.
    Spill,
    /// A record goes to a file not open yet: take the blocking path.
    Closed,
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
        let fixed = {
            let shape = path.shape(|_| "\0".to_string());
            (!shape.contains('\0')).then(|| root.join(shape))
        };
        Ok(FileTarget {
            inner: Arc::new(Inner {
                root,
                path,
                fixed,
                codec,
                mode,
                commit_each_write: cx.mode != ModeKind::Batch,
                files: Mutex::new(HashMap::new()),
                run: (mode == WriteMode::Replace && cx.mode == ModeKind::Batch).then(|| RunState {
                    state: cx.state.clone(),
                    key: format!("file-write:{}:{hint}", cx.flow),
                    resumed: std::sync::OnceLock::new(),
                    written: tokio::sync::Mutex::new(None),
                }),
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
                let prefix = encoder.prefix();
                let kept = match self.resumes(path) {
                    true => self.kept(path, &encoder, &mut file)?,
                    false => None,
                };
                let len = match kept {
                    Some(len) => {
                        if len > prefix.len() as u64 {
                            encoder.continue_after(1);
                        }
                        len
                    }
                    None => {
                        file.write_all(&prefix).map_err(|e| io_error(&what, &e))?;
                        prefix.len() as u64
                    }
                };
                Ok(OpenFile {
                    file,
                    temp: Some(temp),
                    encoder,
                    dirty: true,
                    buf: Vec::new(),
                    len,
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
                    buf: Vec::new(),
                    len: 0,
                })
            }
        }
    }

    /// True when `path` was written by the interrupted run this run resumes.
    fn resumes(&self, path: &Path) -> bool {
        self.run
            .as_ref()
            .and_then(|run| run.resumed.get())
            .is_some_and(|files| files.contains(path))
    }

    /// Copies the committed content of `path` without its closing text into
    /// `temp` (a resumed run goes on from it); its length, or `None` when
    /// there is no such file or it does not end as this format's files do
    /// (then the run starts it afresh, with a warning).
    fn kept(
        &self,
        path: &Path,
        encoder: &crate::formats::Encoder,
        temp: &mut File,
    ) -> Result<Option<u64>, ConnectorError> {
        let what = format!("cannot continue {}", path.display());
        let mut from = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&what, &e)),
        };
        let size = from.metadata().map_err(|e| io_error(&what, &e))?.len();
        let suffix = encoder.suffix();
        let keep = size.checked_sub(suffix.len() as u64);
        let mut tail = vec![0; suffix.len()];
        let ends_well = match keep {
            Some(keep) => {
                from.seek(SeekFrom::Start(keep))
                    .and_then(|_| from.read_exact(&mut tail))
                    .map_err(|e| io_error(&what, &e))?;
                tail == suffix
            }
            None => false,
        };
        let Some(keep) = keep.filter(|_| ends_well) else {
            tracing::warn!(file = %path.display(), "The file an interrupted run wrote does not end as a complete document; the resumed run starts it afresh.");
            return Ok(None);
        };
        from.seek(SeekFrom::Start(0))
            .map_err(|e| io_error(&what, &e))?;
        let copied = std::io::copy(&mut from.take(keep), temp).map_err(|e| io_error(&what, &e))?;
        tracing::info!(file = %path.display(), bytes = copied, "Resuming an interrupted run: the file keeps the records it committed.");
        Ok(Some(copied))
    }

    /// Writes the buffered records out to the file (no sync).
    fn spill(path: &Path, open: &mut OpenFile) -> Result<(), ConnectorError> {
        if !open.buf.is_empty() {
            open.file
                .write_all(&open.buf)
                .map_err(|e| io_error(&format!("cannot write {}", path.display()), &e))?;
            open.len += open.buf.len() as u64;
            open.buf.clear();
        }
        Ok(())
    }

    fn commit(path: &Path, open: &mut OpenFile) -> Result<(), ConnectorError> {
        Self::prepare(path, open)?.run()?;
        open.dirty = false;
        Ok(())
    }

    /// Writes out the buffer and notes what the commit covers.
    fn prepare(path: &Path, open: &mut OpenFile) -> Result<Commit, ConnectorError> {
        Self::spill(path, open)?;
        let what = format!("cannot write {}", path.display());
        open.file.flush().map_err(|e| io_error(&what, &e))?;
        Ok(Commit {
            path: path.to_path_buf(),
            file: open.file.try_clone().map_err(|e| io_error(&what, &e))?,
            temp: open.temp.clone(),
            len: open.len,
            suffix: open.encoder.suffix(),
        })
    }
    /// The file `record` goes to.
    fn path_of(&self, record: &Value) -> Result<PathBuf, ConnectorError> {
        if let Some(p) = &self.fixed {
            return Ok(p.clone());
        }
        let rel = self
            .path
            .render(record, sanitize)
            .map_err(|e| ConnectorError::Permanent(format!("cannot build the file path: {e}")))?;
        Ok(self.root.join(rel))
    }

    /// Batch flows: encodes `records` into the buffers of files already
    /// open, without touching the disk (commits happen on `flush`).
    fn buffer(&self, records: &[Value]) -> Result<Buffered, ConnectorError> {
        let mut files = self
            .files
            .lock()
            .map_err(|_| ConnectorError::Permanent("file target lock poisoned".to_string()))?;
        if let Some(path) = &self.fixed {
            let Some(open) = files.get_mut(path) else {
                return Ok(Buffered::Closed);
            };
            let mark = open.buf.len();
            for record in records {
                if let Err(e) = open.encoder.record(record, &mut open.buf) {
                    // a group is written whole or not at all
                    open.buf.truncate(mark);
                    return Err(e);
                }
            }
            open.dirty = true;
            return Ok(if open.buf.len() >= SPILL {
                Buffered::Spill
            } else {
                Buffered::Done
            });
        }
        let mut paths = Vec::with_capacity(records.len());
        for record in records {
            let path = self.path_of(record)?;
            if !files.contains_key(&path) {
                return Ok(Buffered::Closed);
            }
            paths.push(path);
        }
        let mut marks: Vec<(&PathBuf, usize)> = Vec::new();
        let mut spill = false;
        for (record, path) in records.iter().zip(&paths) {
            let Some(open) = files.get_mut(path) else {
                continue;
            };
            if !marks.iter().any(|(p, _)| *p == path) {
                marks.push((path, open.buf.len()));
            }
            if let Err(e) = open.encoder.record(record, &mut open.buf) {
                unwind(&mut files, &marks);
                return Err(e);
            }
            open.dirty = true;
            spill |= open.buf.len() >= SPILL;
        }
        Ok(if spill {
            Buffered::Spill
        } else {
            Buffered::Done
        })
    }

    /// Writes out every buffer that grew large.
    fn spill_large(&self) -> Result<(), ConnectorError> {
        let mut files = self
            .files
            .lock()
            .map_err(|_| ConnectorError::Permanent("file target lock poisoned".to_string()))?;
        for (path, open) in files.iter_mut() {
            if open.buf.len() >= SPILL {
                Self::spill(path, open)?;
            }
        }
        Ok(())
    }

    fn write(&self, records: &[Value]) -> Result<(), ConnectorError> {
        let mut files = self
            .files
            .lock()
            .map_err(|_| ConnectorError::Permanent("file target lock poisoned".to_string()))?;
        let mut marks: Vec<(PathBuf, usize)> = Vec::new();
        for record in records {
            let path = self.path_of(record)?;
            if !files.contains_key(&path) {
                let open = self.open(&path)?;
                files.insert(path.clone(), open);
            }
            let Some(open) = files.get_mut(&path) else {
                continue;
            };
            if !marks.iter().any(|(p, _)| *p == path) {
                marks.push((path.clone(), open.buf.len()));
            }
            if let Err(e) = open.encoder.record(record, &mut open.buf) {
                let marks: Vec<(&PathBuf, usize)> = marks.iter().map(|(p, n)| (p, *n)).collect();
                unwind(&mut files, &marks);
                return Err(e);
            }
        }
        for (path, _) in &marks {
            let Some(open) = files.get_mut(path) else {
                continue;
            };
            open.dirty = true;
            if self.commit_each_write {
                Self::commit(path, open)?;
            } else if open.buf.len() >= SPILL {
                Self::spill(path, open)?;
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), ConnectorError> {
        let lock = || {
            self.files
                .lock()
                .map_err(|_| ConnectorError::Permanent("file target lock poisoned".to_string()))
        };
        let mut commits = Vec::new();
        {
            let mut files = lock()?;
            for (path, open) in files.iter_mut() {
                if open.dirty {
                    commits.push(Self::prepare(path, open)?);
                    open.dirty = false;
                }
            }
        }
        // The syncs, copies and renames run without the lock: records of the
        // next chunk keep being buffered meanwhile.
        for (i, commit) in commits.iter().enumerate() {
            if let Err(e) = commit.run() {
                let mut files = lock()?;
                for c in &commits[i..] {
                    if let Some(open) = files.get_mut(&c.path) {
                        open.dirty = true;
                    }
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Commit {
    /// Makes the covered bytes durable; for `write`, copies them to a staging
    /// file, adds the closing text and renames it over the target.
    fn run(&self) -> Result<(), ConnectorError> {
        let path = &self.path;
        let what = format!("cannot write {}", path.display());
        self.file.sync_data().map_err(|e| io_error(&what, &e))?;
        if let Some(temp) = &self.temp {
            let staging = sibling(path, "aq-stage");
            let mut stage = File::create(&staging).map_err(|e| io_error(&what, &e))?;
            let mut from = File::open(temp).map_err(|e| io_error(&what, &e))?;
            std::io::copy(&mut std::io::Read::take(&mut from, self.len), &mut stage)
                .map_err(|e| io_error(&what, &e))?;
            stage
                .write_all(&self.suffix)
                .map_err(|e| io_error(&what, &e))?;
            stage.sync_all().map_err(|e| io_error(&what, &e))?;
            std::fs::rename(&staging, path).map_err(|e| io_error(&what, &e))?;
            sync_dir(path);
        }
        Ok(())
    }
}

/// Drops what a failed group added to the buffers (a group is written whole or not at all).
fn unwind(files: &mut HashMap<PathBuf, OpenFile>, marks: &[(&PathBuf, usize)]) {
    for (path, len) in marks {
        if let Some(open) = files.get_mut(*path) {
            open.buf.truncate(*len);
        }
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
        if !inner.commit_each_write {
            // batch flows: encode into memory now, touch the disk only when
            // a buffer is large or a file must be opened
            match inner.buffer(records) {
                Ok(Buffered::Done) => return Box::pin(async { Ok(()) }),
                Ok(Buffered::Spill) => return Box::pin(blocking(move || inner.spill_large())),
                Ok(Buffered::Closed) => {}
                Err(e) => return Box::pin(async { Err(e) }),
            }
        }
        let records = records.to_vec();
        Box::pin(async move {
            if inner.run.is_some() {
                inner.begin(&records).await?;
            }
            blocking(move || inner.write(&records)).await
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let inner = self.inner.clone();
        Box::pin(blocking(move || inner.flush()))
    }

    fn finish(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            let Some(run) = &self.inner.run else {
                return Ok(());
            };
            // complete (even if it wrote nothing): the next run starts afresh
            run.state.put(&run.key, r#"{"open":false}"#).await
        })
    }
}

impl Inner {
    /// Before files are opened (batch `write`): reads whether this run
    /// resumes an interrupted one, then records the files this run writes
    /// as the open run's, before anything is committed to them.
    async fn begin(&self, records: &[Value]) -> Result<(), ConnectorError> {
        let Some(run) = &self.run else {
            return Ok(());
        };
        let mut guard = run.written.lock().await;
        if guard.is_none() {
            let mut resumed = BTreeSet::new();
            if let Some(text) = run.state.get(&run.key).await?
                && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
                && json["open"] == serde_json::Value::Bool(true)
                && let Some(list) = json["files"].as_array()
            {
                resumed = list
                    .iter()
                    .filter_map(|p| p.as_str().map(PathBuf::from))
                    .collect();
            }
            let _ = run.resumed.set(resumed);
            *guard = Some(BTreeSet::new());
        }
        let Some(written) = guard.as_mut() else {
            return Ok(());
        };
        let mut added = false;
        for record in records {
            let path = self.path_of(record)?;
            if !written.contains(&path) {
                written.insert(path);
                added = true;
            }
        }
        if added {
            let resumed = run.resumed.get().into_iter().flatten();
            let all: BTreeSet<&PathBuf> = resumed.chain(written.iter()).collect();
            let value = serde_json::json!({
                "open": true,
                "files": all.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
            });
            run.state.put(&run.key, &value.to_string()).await?;
        }
        Ok(())
    }
}
