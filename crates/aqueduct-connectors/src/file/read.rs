//! `file.read(glob, format)`: a bounded source over every file matching a
//! glob (relative to `root`), in path order.
//!
//! Checkpoints: the state key is `file:{flow}:{glob}` and holds JSON
//! `{"done": {path: {"size", "mtime"}}, "current": {"path", "pos"}}`. Every
//! `chunk` records (and at the end of each file), once all records read so
//! far are acked, the position is stored: `pos` is the byte offset after the
//! last record for line formats (jsonl, csv, text) and the count of records
//! for document formats (json, xml, bytes). A killed run resumes right after
//! the last committed record. A finished file is remembered with its size
//! and modification time, so a later run skips it unless it changed; a
//! file that changed is read again from its start.

use crate::formats::{self, Codec, Format};
use crate::support::args::{label, req_str};
use crate::support::commit::Committer;
use crate::support::{io_error, stopped};
use aqueduct_runtime::connector::{
    Ack, ConnectorError, DecodeError, Envelope, OpContext, Source, StateStore,
};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// Reads every file matching a glob.
pub(crate) struct ReadSource {
    root: PathBuf,
    glob: String,
    codec: Codec,
    key: String,
    chunk: usize,
    state: Arc<dyn StateStore>,
    shutdown: watch::Receiver<bool>,
}

/// Size and modification time of a file, to notice changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    size: u64,
    mtime: u64,
}

impl Meta {
    fn of(meta: &std::fs::Metadata) -> Meta {
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

/// The stored position.
#[derive(Debug, Default, Clone)]
struct Checkpoint {
    done: BTreeMap<String, Meta>,
    current: Option<(String, u64)>,
}

impl Checkpoint {
    fn parse(text: &str) -> Checkpoint {
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

    fn to_json(&self) -> String {
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

/// What the reader thread hands the async side.
enum Item {
    Record {
        record: Result<Value, DecodeError>,
        file: String,
        pos: u64,
    },
    FileDone {
        file: String,
        meta: Meta,
    },
    Failed(ConnectorError),
}

/// One file to read and where to start.
struct Job {
    path: PathBuf,
    rel: String,
    meta: Meta,
    start: u64,
}

impl ReadSource {
    pub(crate) fn build(cx: &OpContext, root: PathBuf) -> Result<ReadSource, ConnectorError> {
        let glob = req_str(cx, "glob")?;
        glob::Pattern::new(&glob).map_err(|e| {
            ConnectorError::Config(format!("`{}`: bad glob `{glob}`: {e}", label(cx)))
        })?;
        let codec = Codec::from_args(cx, Some(&glob), Format::Jsonl)?;
        Ok(ReadSource {
            root,
            key: format!("file:{}:{}", cx.flow, glob),
            glob,
            codec,
            chunk: cx.chunk.max(1),
            state: cx.state.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    fn list(&self) -> Result<Vec<(PathBuf, String)>, ConnectorError> {
        let pattern = self.root.join(&self.glob);
        let pattern = pattern.to_string_lossy();
        let paths = glob::glob(&pattern)
            .map_err(|e| ConnectorError::Config(format!("bad glob `{}`: {e}", self.glob)))?;
        let mut files = Vec::new();
        for entry in paths {
            let path = entry.map_err(|e| io_error("cannot list files", e.error()))?;
            if path.is_file() {
                let rel = path
                    .strip_prefix(&self.root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                files.push((path, rel));
            }
        }
        files.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(files)
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let mut checkpoint = match self.state.get(&self.key).await? {
            Some(text) => Checkpoint::parse(&text),
            None => Checkpoint::default(),
        };
        let files = self.list()?;
        checkpoint
            .done
            .retain(|path, _| files.iter().any(|(_, rel)| rel == path));
        let mut jobs = Vec::new();
        for (path, rel) in files {
            let meta = match std::fs::metadata(&path) {
                Ok(m) => Meta::of(&m),
                Err(e) => return Err(io_error(&format!("cannot read {rel}"), &e)),
            };
            if checkpoint.done.get(&rel) == Some(&meta) {
                continue;
            }
            // Resume the file in progress, unless it shrank below the position (replaced).
            let line_based = self.codec.format.is_line_based();
            let start = match &checkpoint.current {
                Some((cur, pos)) if *cur == rel && (!line_based || *pos <= meta.size) => *pos,
                _ => 0,
            };
            jobs.push(Job {
                path,
                rel,
                meta,
                start,
            });
        }
        checkpoint.current = None;

        let committer = Committer::start(self.state.clone(), self.key.clone());
        let (tx, mut rx) = mpsc::channel::<Item>(256);
        let codec = self.codec.clone();
        std::thread::Builder::new()
            .name("aqueduct-file-read".to_string())
            .spawn(move || read_files(jobs, codec, tx))
            .map_err(|e| io_error("cannot start the file reader", &e))?;

        let mut count = 0usize;
        let mut failure = None;
        loop {
            let item = tokio::select! {
                item = rx.recv() => item,
                _ = stopped(&mut self.shutdown) => None,
            };
            let Some(item) = item else { break };
            match item {
                Item::Record { record, file, pos } => {
                    let (ack, ack_rx) = Ack::new();
                    if out
                        .send(Envelope {
                            record,
                            ack,
                            reply: None,
                        })
                        .await
                        .is_err()
                    {
                        break;
                    }
                    count += 1;
                    let position = count.is_multiple_of(self.chunk).then(|| {
                        checkpoint.current = Some((file, pos));
                        checkpoint.to_json()
                    });
                    committer.push(ack_rx, position);
                }
                Item::FileDone { file, meta } => {
                    checkpoint.done.insert(file, meta);
                    checkpoint.current = None;
                    let (ack, ack_rx) = Ack::new();
                    ack.done();
                    committer.push(ack_rx, Some(checkpoint.to_json()));
                }
                Item::Failed(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(rx);
        drop(out);
        committer.finish().await?;
        failure.map_or(Ok(()), Err)
    }
}

impl Source for ReadSource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(self.run_inner(out))
    }
}

/// The reader thread: decodes each file and hands records over in order.
fn read_files(jobs: Vec<Job>, codec: Codec, tx: mpsc::Sender<Item>) {
    for job in jobs {
        let result = if codec.format.is_line_based() {
            read_lines(&job, &codec, &tx)
        } else {
            read_document(&job, &codec, &tx)
        };
        match result {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let _ = tx.blocking_send(Item::Failed(e));
                return;
            }
        }
        if tx
            .blocking_send(Item::FileDone {
                file: job.rel.clone(),
                meta: job.meta,
            })
            .is_err()
        {
            return;
        }
    }
}

/// Reads a line-based file from `job.start`; false when the receiver is gone.
fn read_lines(job: &Job, codec: &Codec, tx: &mpsc::Sender<Item>) -> Result<bool, ConnectorError> {
    let what = format!("cannot read {}", job.rel);
    let mut file = std::fs::File::open(&job.path).map_err(|e| io_error(&what, &e))?;
    let mut decoder = codec.stream();
    if job.start > 0
        && codec.format == Format::Csv
        && codec.header
        && let Some(header) =
            first_logical_line(&job.path, codec.format).map_err(|e| io_error(&what, &e))?
    {
        decoder
            .set_header_line(&header)
            .map_err(ConnectorError::Permanent)?;
    }
    file.seek(SeekFrom::Start(job.start))
        .map_err(|e| io_error(&what, &e))?;
    let mut reader = BufReader::new(file);
    let mut offset = job.start;
    let mut acc = String::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| io_error(&what, &e))?;
        if n == 0 {
            break;
        }
        offset += n as u64;
        let mut lines = Vec::new();
        formats::push_line(codec.format, &mut acc, &buf, &mut lines);
        for line in lines {
            if let Some(record) = decoder.line(&line)
                && tx
                    .blocking_send(Item::Record {
                        record,
                        file: job.rel.clone(),
                        pos: offset,
                    })
                    .is_err()
            {
                return Ok(false);
            }
        }
    }
    if !acc.is_empty()
        && let Some(record) = decoder.line(&acc)
        && tx
            .blocking_send(Item::Record {
                record,
                file: job.rel.clone(),
                pos: offset,
            })
            .is_err()
    {
        return Ok(false);
    }
    Ok(true)
}

/// The first logical line of a file (a csv header).
fn first_logical_line(path: &Path, format: Format) -> std::io::Result<Option<String>> {
    let mut reader = BufReader::new(std::fs::File::open(path)?);
    let mut acc = String::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok((!acc.is_empty()).then_some(acc));
        }
        let mut lines = Vec::new();
        formats::push_line(format, &mut acc, &buf, &mut lines);
        if let Some(line) = lines.into_iter().find(|l| !l.trim().is_empty()) {
            return Ok(Some(line));
        }
    }
}

/// Reads a whole document, skipping the first `job.start` records.
fn read_document(
    job: &Job,
    codec: &Codec,
    tx: &mpsc::Sender<Item>,
) -> Result<bool, ConnectorError> {
    let what = format!("cannot read {}", job.rel);
    let mut input = Vec::new();
    std::fs::File::open(&job.path)
        .and_then(|mut f| f.read_to_end(&mut input))
        .map_err(|e| io_error(&what, &e))?;
    for (index, record) in codec
        .decode_all(&input)
        .into_iter()
        .enumerate()
        .skip(job.start as usize)
    {
        if tx
            .blocking_send(Item::Record {
                record,
                file: job.rel.clone(),
                pos: index as u64 + 1,
            })
            .is_err()
        {
            return Ok(false);
        }
    }
    Ok(true)
}
