//! `file.write(path, format)` and `file.append(path, format)` targets.
//!
//! `write` replaces its file atomically: records go to a hidden temporary
//! file next to it (`.NAME.aq-tmp`). In a batch flow each chunk commit syncs
//! that file and stores its committed length, and the run's end adds the
//! format's closing text (`]` for json, `</records>` for xml) and renames it
//! over the target once, so a run costs time linear in its output and
//! readers only ever see a whole run's document. A run resuming an
//! interrupted one goes on from the temporary file as the interrupted run
//! committed it ([`write_run`]). In sync and async flows each commit copies
//! the temporary file to a staging file, closes it and renames that over the
//! target, so an accepted record is in the target at once.
//! `append` appends to the file (creating it and its directory), writing
//! the csv header only into an empty file; json and xml cannot be appended
//! to and are refused.
//!
//! Commits happen on `flush()` in batch flows (end of each chunk); in sync
//! and async flows each `write()` commits before returning, so an accepted
//! record is on disk (fsync), and records an async flow has at hand together
//! are staged into the buffers and committed with one sync (group commit:
//! `Target::stage`, `Target::commit`). A template path (`"out/{.region}.csv"`) keeps
//! one file per value; interpolated values cannot leave the directory (`/`,
//! `\` and `..` are replaced by `_`).

use super::appended;
use super::write_run::RunState;
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
use std::io::{Seek, SeekFrom, Write};
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
    /// Sync and async flows: the target is replaced at each commit (batch
    /// flows replace it once, at the run's end).
    replace_now: bool,
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
                run: (mode == WriteMode::Replace && cx.mode == ModeKind::Batch).then(|| {
                    RunState::new(cx.state.clone(), format!("file-write:{}:{hint}", cx.flow))
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

/// `.NAME.SUFFIX` beside `path`.
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
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
                let prefix = encoder.prefix();
                let resumed = self.run.as_ref().and_then(|run| run.resumes(path));
                let (mut file, kept) = match resumed {
                    Some(committed) => kept(path, &temp, committed)?,
                    None => (File::create(&temp).map_err(|e| io_error(&what, &e))?, None),
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
                let (file, empty) = appended::open(path, self.codec.format, &encoder.prefix())
                    .map_err(|e| io_error(&what, &e))?;
                if !empty {
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

    /// Writes the buffered records out to the file (no sync).
    fn spill(path: &Path, open: &mut OpenFile) -> Result<(), ConnectorError> {
        if !open.buf.is_empty() {
            let written = match open.temp {
                // a temporary file is this target's alone
                Some(_) => open.file.write_all(&open.buf),
                None => appended::append(&open.file, &open.buf),
            };
            written.map_err(|e| io_error(&format!("cannot write {}", path.display()), &e))?;
            open.len += open.buf.len() as u64;
            open.buf.clear();
        }
        Ok(())
    }

    fn commit(&self, path: &Path, open: &mut OpenFile) -> Result<(), ConnectorError> {
        self.prepare(path, open)?.run()?;
        open.dirty = false;
        Ok(())
    }

    /// Writes out the buffer and notes what the commit covers.
    fn prepare(&self, path: &Path, open: &mut OpenFile) -> Result<Commit, ConnectorError> {
        Self::spill(path, open)?;
        let what = format!("cannot write {}", path.display());
        open.file.flush().map_err(|e| io_error(&what, &e))?;
        Ok(Commit {
            path: path.to_path_buf(),
            file: open.file.try_clone().map_err(|e| io_error(&what, &e))?,
            temp: open.temp.clone(),
            len: open.len,
            suffix: open.encoder.suffix(),
            replace_now: open.temp.is_some() && self.run.is_none(),
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

    /// The fused path ([`Target::write_encoded`]): appends JSON lines already
    /// encoded as the jsonl encoder encodes them to the one file's buffer;
    /// opens the file first when `open` (on the blocking path), else says
    /// [`Buffered::Closed`] when it is not open yet.
    fn buffer_encoded(&self, bytes: &[u8], open: bool) -> Result<Buffered, ConnectorError> {
        let Some(path) = &self.fixed else {
            return Err(ConnectorError::Permanent(
                "encoded records need a fixed file path".to_string(),
            ));
        };
        let mut files = self
            .files
            .lock()
            .map_err(|_| ConnectorError::Permanent("file target lock poisoned".to_string()))?;
        if !files.contains_key(path) {
            if !open {
                return Ok(Buffered::Closed);
            }
            let file = self.open(path)?;
            files.insert(path.clone(), file);
        }
        let Some(file) = files.get_mut(path) else {
            return Ok(Buffered::Closed);
        };
        file.buf.extend_from_slice(bytes);
        file.dirty = true;
        Ok(if file.buf.len() >= SPILL {
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
        self.write_then(records, self.commit_each_write)
    }

    /// Encodes `records` (opening their files) and, when `commit`, commits
    /// their files; otherwise they wait in the buffers for the next commit.
    fn write_then(&self, records: &[Value], commit: bool) -> Result<(), ConnectorError> {
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
            if commit {
                self.commit(path, open)?;
            } else if open.buf.len() >= SPILL {
                Self::spill(path, open)?;
            }
        }
        Ok(())
    }

    /// Commits every file written to since the last commit; the committed
    /// length of each (batch `write` stores them for a resumed run).
    fn flush(&self) -> Result<Vec<(PathBuf, u64)>, ConnectorError> {
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
                    commits.push(self.prepare(path, open)?);
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
        Ok(commits.into_iter().map(|c| (c.path, c.len)).collect())
    }

    /// The end of a complete batch run: each temporary file (this run's and
    /// those of the interrupted run it resumed that it did not write again)
    /// gets its closing text, is synced and renamed over its target.
    fn complete(&self) -> Result<(), ConnectorError> {
        let mut files = self
            .files
            .lock()
            .map_err(|_| ConnectorError::Permanent("file target lock poisoned".to_string()))?;
        let suffix = self.codec.encoder().suffix();
        for (path, mut open) in files.drain() {
            let what = format!("cannot write {}", path.display());
            Self::spill(&path, &mut open)?;
            open.file
                .write_all(&open.encoder.suffix())
                .map_err(|e| io_error(&what, &e))?;
            replace_with(&path, &open.file, open.temp.as_deref())?;
        }
        let resumed = self
            .run
            .as_ref()
            .map(|r| r.resumed_files())
            .unwrap_or_default();
        for (path, committed) in resumed {
            let temp = sibling(&path, "aq-tmp");
            if !temp.exists() {
                continue;
            }
            let (mut file, kept) = kept(&path, &temp, committed)?;
            if kept.is_none() {
                continue;
            }
            file.write_all(&suffix)
                .map_err(|e| io_error(&format!("cannot write {}", path.display()), &e))?;
            replace_with(&path, &file, Some(&temp))?;
        }
        Ok(())
    }
}

/// Syncs `file` (the temporary file `temp`) and renames it over `path`.
fn replace_with(path: &Path, file: &File, temp: Option<&Path>) -> Result<(), ConnectorError> {
    let what = format!("cannot write {}", path.display());
    file.sync_all().map_err(|e| io_error(&what, &e))?;
    if let Some(temp) = temp {
        std::fs::rename(temp, path).map_err(|e| io_error(&what, &e))?;
        sync_dir(path);
    }
    Ok(())
}

/// Reopens the temporary file of an interrupted run, cut back to what it
/// committed (`committed` bytes), to go on after it; `None` (with the file
/// started afresh, and a warning) when that length is unknown or the file
/// is shorter.
fn kept(
    path: &Path,
    temp: &Path,
    committed: Option<u64>,
) -> Result<(File, Option<u64>), ConnectorError> {
    let what = format!("cannot continue {}", path.display());
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(temp)
        .map_err(|e| io_error(&what, &e))?;
    let size = file.metadata().map_err(|e| io_error(&what, &e))?.len();
    let keep = committed.filter(|len| *len <= size);
    let Some(keep) = keep else {
        if committed.is_some() || size > 0 {
            tracing::warn!(file = %path.display(), "The file an interrupted run wrote has no committed content to go on from; the resumed run starts it afresh.");
        }
        file.set_len(0).map_err(|e| io_error(&what, &e))?;
        return Ok((file, None));
    };
    file.set_len(keep).map_err(|e| io_error(&what, &e))?;
    file.seek(SeekFrom::Start(keep))
        .map_err(|e| io_error(&what, &e))?;
    tracing::info!(file = %path.display(), bytes = keep, "Resuming an interrupted run: the file keeps the records it committed.");
    Ok((file, Some(keep)))
}

impl Commit {
    /// Makes the covered bytes durable; for `write`, copies them to a staging
    /// file, adds the closing text and renames it over the target.
    fn run(&self) -> Result<(), ConnectorError> {
        let path = &self.path;
        let what = format!("cannot write {}", path.display());
        self.file.sync_data().map_err(|e| io_error(&what, &e))?;
        if let Some(temp) = self.temp.as_ref().filter(|_| self.replace_now) {
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
        // A batch run's temporary files are what a resumed run goes on from.
        if self.run.is_some() {
            return;
        }
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

    fn group_commits(&self) -> bool {
        // batch flows already commit once per chunk
        self.inner.commit_each_write
    }

    fn stage<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let inner = self.inner.clone();
        if !inner.commit_each_write {
            return self.write(records);
        }
        // encoded into memory; written out and synced by `commit`
        match inner.buffer(records) {
            Ok(Buffered::Done) => Box::pin(async { Ok(()) }),
            Ok(Buffered::Spill) => Box::pin(blocking(move || inner.spill_large())),
            Ok(Buffered::Closed) => {
                let records = records.to_vec();
                Box::pin(blocking(move || inner.write_then(&records, false)))
            }
            Err(e) => Box::pin(async { Err(e) }),
        }
    }

    fn commit(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let inner = self.inner.clone();
        if !inner.commit_each_write {
            return Box::pin(async { Ok(()) });
        }
        // one sync per file written since the last commit (and, for
        // `write`, one replacement of the target)
        Box::pin(async move { blocking(move || inner.flush().map(|_| ())).await })
    }

    fn takes_encoded_jsonl(&self) -> bool {
        // An async flow's fused groups are made durable by `commit`, as its
        // staged records are; only `append` is fused there (the path that
        // is tested: an async `write` replaces its file at every commit).
        let i = &self.inner;
        i.codec.format == Format::Jsonl
            && i.fixed.is_some()
            && (!i.commit_each_write || i.mode == WriteMode::Append)
    }

    fn write_encoded<'a>(&'a self, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let inner = self.inner.clone();
        match inner.buffer_encoded(bytes, false) {
            Ok(Buffered::Done) => Box::pin(async { Ok(()) }),
            Ok(Buffered::Spill) => Box::pin(blocking(move || inner.spill_large())),
            Ok(Buffered::Closed) => {
                let bytes = bytes.to_vec();
                Box::pin(async move {
                    if let (Some(run), Some(path)) = (&inner.run, &inner.fixed) {
                        run.begin(vec![path.clone()]).await?;
                    }
                    blocking(move || {
                        inner.buffer_encoded(&bytes, true).and_then(|b| match b {
                            Buffered::Spill => inner.spill_large(),
                            _ => Ok(()),
                        })
                    })
                    .await
                })
            }
            Err(e) => Box::pin(async { Err(e) }),
        }
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let task = inner.clone();
            let lens = blocking(move || task.flush()).await?;
            match &inner.run {
                // stored before the chunk is acknowledged: a resumed run
                // goes on from exactly what was committed
                Some(run) => run.committed(lens).await,
                None => Ok(()),
            }
        })
    }

    fn finish(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            let Some(run) = &self.inner.run else {
                return Ok(());
            };
            let inner = self.inner.clone();
            blocking(move || inner.complete()).await?;
            // complete (even if it wrote nothing): the next run starts afresh
            run.complete().await
        })
    }
}

impl Inner {
    /// Before files are opened (batch `write`): the run state learns which
    /// files this run writes.
    async fn begin(&self, records: &[Value]) -> Result<(), ConnectorError> {
        let Some(run) = &self.run else {
            return Ok(());
        };
        let paths = records
            .iter()
            .map(|r| self.path_of(r))
            .collect::<Result<Vec<_>, _>>()?;
        run.begin(paths).await
    }
}
