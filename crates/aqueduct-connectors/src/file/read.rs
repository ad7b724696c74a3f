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

use super::checkpoint::{Checkpoint, ListError, Meta, matching_files};
use crate::formats::{Codec, Format, Line};
use crate::support::args::{label, req_str};
use crate::support::commit::Committer;
use crate::support::{io_error, stopped};
use aqueduct_runtime::connector::{
    Ack, ConnectorError, DecodeError, Envelope, OpContext, Source, StateStore,
};
use aqueduct_runtime::fused::FusedPlan;
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot, watch};

/// Reads every file matching a glob.
pub(crate) struct ReadSource {
    root: PathBuf,
    glob: String,
    codec: Codec,
    key: String,
    chunk: usize,
    state: Arc<dyn StateStore>,
    shutdown: watch::Receiver<bool>,
    /// The fused batch path's plan, when the flow offered it and the format is jsonl or csv.
    fused: Option<Arc<FusedPlan>>,
}

/// Records the reader thread hands over at once (one channel hop per group, not per record).
const GROUP: usize = 256;

/// What the reader thread hands the async side. The records themselves go
/// straight from the reader thread into the flow; the async side gets their
/// acks, in order, to commit positions.
enum Item {
    /// Acks of records of one file, in order, each with the position after
    /// it and the number of records it covers (a fused group covers many).
    Acks {
        acks: Vec<(oneshot::Receiver<()>, u64, u64)>,
        file: Arc<str>,
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
            fused: None,
        })
    }

    fn list(&self) -> Result<Vec<(PathBuf, String)>, ConnectorError> {
        matching_files(&self.root, &self.glob).map_err(|e| match e {
            ListError::Pattern(e) => {
                ConnectorError::Config(format!("bad glob `{}`: {e}", self.glob))
            }
            ListError::Entry(e) => io_error("cannot list files", e.error()),
        })
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
        // a few groups in flight: the reader stays ahead without holding much
        let (tx, mut rx) = mpsc::channel::<Item>(4);
        let codec = self.codec.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let sink = Sink {
            meta: tx,
            out: out.clone(),
            stop: stop.clone(),
            chunk: self.chunk as u64,
            sent: Cell::new(0),
            fused: self.fused.clone(),
        };
        std::thread::Builder::new()
            .name("aqueduct-file-read".to_string())
            .spawn(move || read_files(jobs, codec, sink))
            .map_err(|e| io_error("cannot start the file reader", &e))?;

        let mut count = 0usize;
        let mut failure = None;
        let mut stopping: Option<tokio::time::Instant> = None;
        loop {
            let item = if let Some(deadline) = stopping {
                // The acks of records already handed to the flow still count:
                // wait for the reader thread to hand them over as it stops
                // (it sends them when it ends), but not past the deadline.
                tokio::time::timeout_at(deadline, rx.recv())
                    .await
                    .ok()
                    .flatten()
            } else {
                tokio::select! {
                    item = rx.recv() => item,
                    _ = stopped(&mut self.shutdown) => {
                        stop.store(true, Ordering::Relaxed);
                        stopping = Some(tokio::time::Instant::now() + STOP_GRACE);
                        continue;
                    }
                }
            };
            let Some(item) = item else { break };
            match item {
                Item::Acks { acks, file } => {
                    for (ack_rx, pos, weight) in acks {
                        let before = count;
                        count += weight as usize;
                        // a position per chunk of records (a fused group never crosses one)
                        let position = (before / self.chunk != count / self.chunk).then(|| {
                            checkpoint.current = Some((file.to_string(), pos));
                            checkpoint.to_json()
                        });
                        committer.push(ack_rx, position);
                    }
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
        stop.store(true, Ordering::Relaxed);
        drop(rx);
        drop(out);
        committer.finish().await?;
        failure.map_or(Ok(()), Err)
    }
}

/// How long a stopping read waits for the reader thread to hand over the
/// acks of records it already sent into the flow.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl Source for ReadSource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(self.run_inner(out))
    }

    fn fuse(&mut self, plan: Arc<FusedPlan>) -> bool {
        // its groups end at chunk ends: a batch flow's plan only
        if plan.streaming() || !matches!(self.codec.format, Format::Jsonl | Format::Csv) {
            return false;
        }
        self.fused = Some(plan);
        true
    }
}

/// Where the reader thread sends: records into the flow, their acks (and
/// file ends, failures) to the async side.
struct Sink {
    meta: mpsc::Sender<Item>,
    out: mpsc::Sender<Envelope>,
    /// Set when the async side stopped (shutdown): take no more input.
    stop: Arc<AtomicBool>,
    /// Records per chunk: a fused group ends at a chunk's end.
    chunk: u64,
    /// Records sent into the flow so far (a fused group counts its lines).
    sent: Cell<u64>,
    /// The fused path's plan.
    fused: Option<Arc<FusedPlan>>,
}

/// The reader thread: decodes each file and hands records over in order.
fn read_files(jobs: Vec<Job>, codec: Codec, sink: Sink) {
    let tx = &sink;
    // (`tx` is the sink: records to the flow, acks and file ends to the async side)
    for job in jobs {
        let result = if codec.format.is_line_based() {
            read_lines(&job, &codec, tx)
        } else {
            read_document(&job, &codec, tx)
        };
        match result {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let _ = tx.meta.blocking_send(Item::Failed(e));
                return;
            }
        }
        if tx
            .meta
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

/// Sends decoded records into the flow, and their acks to the async side in groups.
pub(super) struct Batch<'a> {
    tx: &'a Sink,
    file: Arc<str>,
    /// Decoded records not sent yet: they go in bursts, so the flow wakes
    /// once per burst rather than once per record.
    held: Vec<(Envelope, oneshot::Receiver<()>, u64, u64)>,
    acks: Vec<(oneshot::Receiver<()>, u64, u64)>,
}

/// Records sent to the flow back to back.
const BURST: usize = 32;

impl<'a> Batch<'a> {
    fn new(tx: &'a Sink, rel: &str) -> Batch<'a> {
        Batch {
            tx,
            file: Arc::from(rel),
            held: Vec::with_capacity(BURST),
            acks: Vec::with_capacity(GROUP),
        }
    }

    /// Takes a decoded record; false when the flow or the async side is gone.
    fn push(&mut self, record: Result<Value, DecodeError>, pos: u64) -> bool {
        self.push_weighted(record, pos, 1)
    }

    /// Takes a record standing for `weight` records (a fused group).
    pub(super) fn push_weighted(
        &mut self,
        record: Result<Value, DecodeError>,
        pos: u64,
        weight: u64,
    ) -> bool {
        if self.tx.stop.load(Ordering::Relaxed) {
            return false;
        }
        let (ack, ack_rx) = Ack::new();
        let envelope = Envelope::new(record, ack);
        self.tx.sent.set(self.tx.sent.get() + weight);
        self.held.push((envelope, ack_rx, pos, weight));
        // a fused group is a burst by itself
        (self.held.len() < BURST && weight == 1) || self.release()
    }

    /// Waits until fewer than `limit` envelopes wait in the flow's queue;
    /// false when the flow or the async side is gone. The queue's own
    /// bound is in envelopes, so a source sending large ones bounds their
    /// number itself. It polls: only a flow slower than the reader makes
    /// it wait, and then the flow has `limit` envelopes of work queued.
    pub(super) fn wait_for_queue(&mut self, limit: usize) -> bool {
        let out = &self.tx.out;
        while out.max_capacity() - out.capacity() >= limit {
            if self.tx.stop.load(Ordering::Relaxed) || out.is_closed() {
                return false;
            }
            // positions keep being committed while the reader waits
            if !self.send() {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        true
    }

    /// Records that still fit in the current chunk.
    pub(super) fn room(&self) -> u64 {
        let chunk = self.tx.chunk.max(1);
        chunk - self.tx.sent.get() % chunk
    }

    /// Sends the held records into the flow.
    fn release(&mut self) -> bool {
        let held = std::mem::replace(&mut self.held, Vec::with_capacity(BURST));
        for (envelope, ack_rx, pos, weight) in held {
            match self.tx.out.try_send(envelope) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(envelope)) => {
                    // About to wait for the flow: hand over the acks so far first,
                    // so positions keep being committed while the reader waits.
                    if !self.send() || self.tx.out.blocking_send(envelope).is_err() {
                        return false;
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
            self.acks.push((ack_rx, pos, weight));
            if self.acks.len() >= GROUP && !self.send() {
                return false;
            }
        }
        true
    }

    /// Sends everything on; false when the flow or the async side is gone.
    fn finish(&mut self) -> bool {
        self.release() && self.send()
    }

    /// Hands over the acks collected; false when the async side is gone.
    fn send(&mut self) -> bool {
        if self.acks.is_empty() {
            return true;
        }
        let acks = std::mem::replace(&mut self.acks, Vec::with_capacity(GROUP));
        self.tx
            .meta
            .blocking_send(Item::Acks {
                acks,
                file: self.file.clone(),
            })
            .is_ok()
    }
}

impl Drop for Batch<'_> {
    /// Acks of records already sent must reach the committer, even when reading stops.
    fn drop(&mut self) {
        self.send();
    }
}

/// Reads a line-based file from `job.start`; false when the receiver is gone.
fn read_lines(job: &Job, codec: &Codec, tx: &Sink) -> Result<bool, ConnectorError> {
    let what = format!("cannot read {}", job.rel);
    let mut file = std::fs::File::open(&job.path).map_err(|e| io_error(&what, &e))?;
    let mut decoder = codec.stream();
    if job.start > 0
        && codec.format == Format::Csv
        && codec.header
        && let Some(header) =
            first_logical_line(&job.path, codec).map_err(|e| io_error(&what, &e))?
    {
        decoder
            .set_header_line(&header)
            .map_err(ConnectorError::Permanent)?;
    }
    // line numbers in errors count from the start of the file
    let line = if job.start > 0 {
        lines_before(&job.path, job.start).map_err(|e| io_error(&what, &e))? + 1
    } else {
        1
    };
    file.seek(SeekFrom::Start(job.start))
        .map_err(|e| io_error(&what, &e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut splitter = codec.splitter(job.start, line);
    let mut batch = Batch::new(tx, &job.rel);
    let mut fused = tx
        .fused
        .as_deref()
        .map(|plan| super::read_fused::Fusing::new(plan, codec, &job.rel));
    // each line is lent by the splitter straight from the read buffer;
    // `Stop` ends the file early (the flow or the async side is gone)
    struct Stop;
    let mut each = |logical: Line<'_>| -> Result<(), Stop> {
        if let Some(f) = fused.as_mut() {
            match f.line(&logical, &decoder, &mut batch) {
                Some(true) => return Ok(()),
                Some(false) => {}
                None => return Err(Stop),
            }
        }
        let record = match logical.text {
            Ok(text) => decoder.line(text),
            Err(e) => Some(Err(e)),
        };
        match record.map(|r| batch.push(r, logical.end)) {
            Some(false) => Err(Stop),
            _ => Ok(()),
        }
    };
    loop {
        let buf = reader.fill_buf().map_err(|e| io_error(&what, &e))?;
        if buf.is_empty() {
            if splitter.finish_with(&mut each).is_err() {
                return Ok(false);
            }
            break;
        }
        let n = buf.len();
        if splitter.feed_with(buf, &mut each).is_err() {
            return Ok(false);
        }
        reader.consume(n);
    }
    if let Some(f) = fused.as_mut()
        && !f.seal(&mut batch)
    {
        return Ok(false);
    }
    Ok(batch.finish())
}

/// How many lines end before byte `offset` of a file.
fn lines_before(path: &Path, offset: u64) -> std::io::Result<u64> {
    let mut reader = BufReader::with_capacity(1 << 16, std::fs::File::open(path)?.take(offset));
    let mut lines = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(lines);
        }
        lines += buf.iter().filter(|b| **b == b'\n').count() as u64;
        let n = buf.len();
        reader.consume(n);
    }
}

/// The first logical line of a file (a csv header).
fn first_logical_line(path: &Path, codec: &Codec) -> std::io::Result<Option<String>> {
    let mut reader = BufReader::new(std::fs::File::open(path)?);
    let mut splitter = codec.splitter(0, 1);
    let mut out = Vec::new();
    loop {
        let buf = reader.fill_buf()?;
        let done = buf.is_empty();
        if done {
            splitter.finish(&mut out);
        } else {
            let n = buf.len();
            splitter.feed(buf, &mut out);
            reader.consume(n);
        }
        if let Some(line) = out
            .drain(..)
            .find_map(|l| l.text.ok().filter(|t| !t.trim().is_empty()))
        {
            return Ok(Some(line));
        }
        if done {
            return Ok(None);
        }
    }
}

/// Reads a whole document, skipping the first `job.start` records.
fn read_document(job: &Job, codec: &Codec, tx: &Sink) -> Result<bool, ConnectorError> {
    let what = format!("cannot read {}", job.rel);
    let mut input = Vec::new();
    std::fs::File::open(&job.path)
        .and_then(|mut f| f.read_to_end(&mut input))
        .map_err(|e| io_error(&what, &e))?;
    let mut batch = Batch::new(tx, &job.rel);
    for (index, record) in codec
        .decode_all(&input)
        .into_iter()
        .enumerate()
        .skip(job.start as usize)
    {
        if !batch.push(record, index as u64 + 1) {
            return Ok(false);
        }
    }
    Ok(batch.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn sink(capacity: usize) -> (Sink, mpsc::Receiver<Envelope>, mpsc::Receiver<Item>) {
        let (out, out_rx) = mpsc::channel(capacity);
        let (meta, meta_rx) = mpsc::channel(16);
        let sink = Sink {
            meta,
            out,
            stop: Arc::new(AtomicBool::new(false)),
            chunk: 1000,
            sent: Cell::new(0),
            fused: None,
        };
        (sink, out_rx, meta_rx)
    }

    fn envelope() -> Envelope {
        Envelope::new(Ok(Value::Null), Ack::none())
    }

    #[test]
    fn a_group_waits_until_the_queue_is_below_its_limit() {
        let (sink, mut out_rx, _meta_rx) = sink(16);
        for _ in 0..10 {
            assert!(sink.out.try_send(envelope()).is_ok());
        }
        let mut batch = Batch::new(&sink, "f");
        // below the limit: no wait
        let started = Instant::now();
        assert!(batch.wait_for_queue(11));
        assert!(started.elapsed() < Duration::from_millis(500));
        // at the limit: it waits until the flow took some
        let flow = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            for _ in 0..5 {
                let _ = out_rx.blocking_recv();
            }
            out_rx
        });
        let started = Instant::now();
        assert!(batch.wait_for_queue(8));
        assert!(started.elapsed() >= Duration::from_millis(90));
        assert!(sink.out.max_capacity() - sink.out.capacity() < 8);
        drop(flow.join());
    }

    #[test]
    fn waiting_ends_when_the_flow_is_gone() {
        let (sink, out_rx, _meta_rx) = sink(4);
        for _ in 0..4 {
            assert!(sink.out.try_send(envelope()).is_ok());
        }
        let mut batch = Batch::new(&sink, "f");
        let flow = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(out_rx);
        });
        // it ends (the queue is empty once the flow dropped it), and the
        // group's send then finds the flow gone
        let started = Instant::now();
        let _ = batch.wait_for_queue(2);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!batch.push_weighted(Ok(Value::Null), 0, 5));
        let _ = flow.join();
    }
}
