//! The records loop of a native batch flow (see [`super`]): files in path
//! order from the stored position, each line typed, run through the
//! generated steps and written to the targets' buffers; every `chunk`
//! records and at each file's end the buffers go to the files and a commit
//! is handed to the background ([`super::commit`]).

use super::commit::{Committer, Job};
use super::{DecodeFn, Failed, Out, Plan, RecordFn};
use crate::file::appended;
use crate::file::checkpoint::{Checkpoint, ListError, Meta, matching_files};
use crate::formats::{Format, Line};
use crate::support::decode_error;
use aqueduct_runtime::connector::DecodeError;
use aqueduct_runtime::dead_letter::{self, Failure};
use aqueduct_runtime::executor::FlowReport;
use aqueduct_runtime::expr::Bindings;
use aqueduct_runtime::metrics::StepMetrics;
use aqueduct_runtime::native::NativeValue;
use aqueduct_runtime::secrets::redact;
use aqueduct_runtime::value::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Encoded bytes a file buffers before they are written out (as `file.append`).
const SPILL: usize = 256 * 1024;

/// Counters of the run report.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Stats {
    received: u64,
    delivered: u64,
    filtered: u64,
    failed: u64,
    dead_lettered: u64,
}

pub(super) fn report(flow: &str, s: Stats, error: Option<String>) -> FlowReport {
    FlowReport {
        name: flow.to_string(),
        received: s.received,
        delivered: s.delivered,
        filtered: s.filtered,
        failed: s.failed,
        dead_lettered: s.dead_lettered,
        error,
    }
}

/// One output file: opened on its first record (as `file.append` does, so
/// a target that gets nothing is not created).
struct Sink {
    path: PathBuf,
    file: Option<File>,
    /// Bytes written since the last commit.
    dirty: bool,
}

impl Sink {
    fn new(path: PathBuf) -> Sink {
        Sink {
            path,
            file: None,
            dirty: false,
        }
    }

    /// Writes `buf` out (and empties it).
    fn write(&mut self, buf: &mut Vec<u8>) -> Result<(), String> {
        if buf.is_empty() {
            return Ok(());
        }
        let what = |e: std::io::Error| format!("cannot write {}: {e}", self.path.display());
        if self.file.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(what)?;
            }
            let (file, _) = appended::open(&self.path, Format::Jsonl, b"").map_err(what)?;
            self.file = Some(file);
        }
        if let Some(file) = &self.file {
            appended::append(file, buf).map_err(what)?;
        }
        buf.clear();
        self.dirty = true;
        Ok(())
    }

    /// A handle to sync, when bytes were written since the last commit.
    fn take_dirty(&mut self) -> Result<Option<File>, String> {
        if !self.dirty {
            return Ok(None);
        }
        self.dirty = false;
        match &self.file {
            Some(f) => f
                .try_clone()
                .map(Some)
                .map_err(|e| format!("cannot write {}: {e}", self.path.display())),
            None => Ok(None),
        }
    }
}

/// The state of one run.
struct Run<'a, I> {
    plan: &'a Plan,
    decode: DecodeFn<I>,
    record: RecordFn<I>,
    bindings: Bindings,
    out: Out,
    sinks: Vec<Sink>,
    dead: Option<(Sink, Vec<u8>)>,
    committer: Committer,
    checkpoint: Checkpoint,
    stats: Stats,
    source: Arc<StepMetrics>,
    dead_metrics: Arc<StepMetrics>,
    /// Records since the run started (the source's count: positions are
    /// stored when it is a multiple of `chunk`).
    count: usize,
}

/// Runs `plan` to the end of its input (or a stop or failure).
pub(super) fn run<I: NativeValue>(
    plan: Plan,
    decode: DecodeFn<I>,
    record: RecordFn<I>,
) -> FlowReport {
    let Some(handle) = plan.handle.clone() else {
        return report(
            &plan.flow,
            Stats::default(),
            Some("no async runtime".into()),
        );
    };
    let stored = match handle.block_on(plan.state.get(&plan.key)) {
        Ok(stored) => stored,
        Err(e) => return report(&plan.flow, Stats::default(), Some(e.to_string())),
    };
    let committer = match Committer::start(plan.state.clone(), plan.key.clone(), handle) {
        Ok(c) => c,
        Err(e) => return report(&plan.flow, Stats::default(), Some(e)),
    };
    tracing::info!(flow = %plan.flow, "Running natively: typed records from file to file.");
    let mut run = Run {
        plan: &plan,
        decode,
        record,
        bindings: Bindings::new(),
        out: Out::new(plan.targets.len()),
        sinks: plan.targets.iter().cloned().map(Sink::new).collect(),
        dead: plan
            .dead_letter
            .clone()
            .map(|p| (Sink::new(p), Vec::with_capacity(1 << 12))),
        committer,
        checkpoint: stored.as_deref().map(Checkpoint::parse).unwrap_or_default(),
        stats: Stats::default(),
        source: plan.metrics.step(&plan.flow, "source"),
        dead_metrics: plan.metrics.step(&plan.flow, "dead_letter"),
        count: 0,
    };
    let result = run.files();
    // deliver what was accepted, even when the run failed or stopped; the
    // position only moves with whole chunks (done in `files`)
    let flushed = run.commit(None);
    let Run {
        committer, stats, ..
    } = run;
    let finished = committer.finish();
    let error = result.and(flushed).and(finished).err();
    report(&plan.flow, stats, error)
}

/// One file to read and where to start.
struct Input {
    path: PathBuf,
    rel: String,
    meta: Meta,
    start: u64,
}

impl<I: NativeValue> Run<'_, I> {
    /// The files of the glob, in path order, that are not done yet.
    fn jobs(&mut self) -> Result<Vec<Input>, String> {
        let plan = self.plan;
        let files = matching_files(&plan.root, &plan.glob).map_err(|e| match e {
            ListError::Pattern(e) => format!("bad glob `{}`: {e}", plan.glob),
            ListError::Entry(e) => format!("cannot list files: {}", e.error()),
        })?;
        let cp = &mut self.checkpoint;
        cp.done
            .retain(|path, _| files.iter().any(|(_, rel)| rel == path));
        let mut jobs = Vec::new();
        for (path, rel) in files {
            let meta = std::fs::metadata(&path)
                .map(|m| Meta::of(&m))
                .map_err(|e| format!("cannot read {rel}: {e}"))?;
            if cp.done.get(&rel) == Some(&meta) {
                continue;
            }
            // resume the file in progress, unless it shrank below the position (replaced)
            let start = match &cp.current {
                Some((cur, pos)) if *cur == rel && *pos <= meta.size => *pos,
                _ => 0,
            };
            jobs.push(Input {
                path,
                rel,
                meta,
                start,
            });
        }
        cp.current = None;
        Ok(jobs)
    }

    fn files(&mut self) -> Result<(), String> {
        for job in self.jobs()? {
            if !self.file(&job)? {
                return Ok(());
            }
            self.checkpoint.done.insert(job.rel.clone(), job.meta);
            self.checkpoint.current = None;
            let position = self.checkpoint.to_json();
            self.commit(Some(position))?;
        }
        Ok(())
    }

    /// Reads one file from its start position; false when asked to stop.
    fn file(&mut self, job: &Input) -> Result<bool, String> {
        let what = |e: std::io::Error| format!("cannot read {}: {e}", job.rel);
        let mut file = File::open(&job.path).map_err(what)?;
        // line numbers in errors count from the start of the file
        let line = if job.start > 0 {
            lines_before(&job.path, job.start).map_err(what)? + 1
        } else {
            1
        };
        file.seek(SeekFrom::Start(job.start)).map_err(what)?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut splitter = self.plan.splitter(job.start, line);
        let mut decoder = self.plan.codec.stream();
        // a stop (`None`) travels as an error through the splitter, to end the file at once
        loop {
            let buf = reader.fill_buf().map_err(what)?;
            let done = buf.is_empty();
            let mut each = |logical: Line<'_>| match self.line(job, logical, &mut decoder) {
                Ok(true) => Ok(()),
                Ok(false) => Err(None),
                Err(e) => Err(Some(e)),
            };
            let fed = if done {
                splitter.finish_with(&mut each)
            } else {
                let n = buf.len();
                let fed = splitter.feed_with(buf, &mut each);
                reader.consume(n);
                fed
            };
            match fed {
                Ok(()) => {}
                Err(Some(e)) => return Err(e),
                Err(None) => return Ok(false),
            }
            self.spill_large()?;
            if done {
                return Ok(true);
            }
        }
    }

    /// One line of `job`'s file; false when asked to stop.
    fn line(
        &mut self,
        job: &Input,
        logical: Line<'_>,
        decoder: &mut crate::formats::StreamDecoder,
    ) -> Result<bool, String> {
        let typed = match logical.text {
            Ok(text) => {
                if text.trim().is_empty() {
                    return Ok(true);
                }
                match self.typed(text, decoder) {
                    Some(typed) => typed,
                    None => return Ok(true),
                }
            }
            Err(e) => Err(e),
        };
        self.one(typed)?;
        self.count += 1;
        if self.count.is_multiple_of(self.plan.chunk) {
            self.checkpoint.current = Some((job.rel.clone(), logical.end));
            let position = self.checkpoint.to_json();
            self.commit(Some(position))?;
            if *self.plan.shutdown.borrow() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The line as the source's struct: typed straight from the text, else
    /// through the connector's decoder (`None`: no record on this line).
    fn typed(
        &self,
        text: &str,
        decoder: &mut crate::formats::StreamDecoder,
    ) -> Option<Result<I, DecodeError>> {
        // a record is a JSON object; serde would also read a struct from an array
        if text.trim_start().starts_with('{')
            && let Some(rec) = (self.decode)(text)
        {
            return Some(Ok(rec));
        }
        match decoder.line(text)? {
            Ok(value) => Some(I::from_value(&value).map_err(|e| decode_error(text, e.message))),
            Err(e) => Some(Err(e)),
        }
    }

    /// Runs one record through the steps; `Err` when it can be neither
    /// delivered nor dead-lettered (the run stops).
    fn one(&mut self, typed: Result<I, DecodeError>) -> Result<(), String> {
        self.stats.received += 1;
        StepMetrics::add(&self.source.records_in, 1);
        let rec = match typed {
            Ok(rec) => rec,
            Err(d) => {
                StepMetrics::add(&self.source.failed, 1);
                return self.fail_decode(&d);
            }
        };
        StepMetrics::add(&self.source.records_out, 1);
        self.out.filtered = false;
        let before = self.out.delivered;
        match (self.record)(rec, &self.bindings, &mut self.out) {
            Ok(()) => {
                self.stats.delivered += self.out.delivered - before;
                if self.out.filtered {
                    self.stats.filtered += 1;
                }
                Ok(())
            }
            Err(failed) => {
                self.stats.delivered += self.out.delivered - before;
                self.fail(failed)
            }
        }
    }

    fn fail(&mut self, failed: Failed) -> Result<(), String> {
        self.stats.failed += 1;
        let error = redact(&failed.error);
        let failure = Failure {
            flow: &self.plan.flow,
            step: failed.step,
            error: &error,
            attempts: 1,
            at: chrono::Utc::now(),
        };
        let entry = dead_letter::for_record(&failed.record, &failure);
        let step = self.plan.metrics.step(&self.plan.flow, failed.step);
        StepMetrics::add(&step.failed, 1);
        if !self.dead_letter(&entry) {
            return Err(format!(
                "step {}: {error}; the flow has no dead_letter",
                failed.step
            ));
        }
        StepMetrics::add(&step.dead_lettered, 1);
        Ok(())
    }

    fn fail_decode(&mut self, d: &DecodeError) -> Result<(), String> {
        self.stats.failed += 1;
        let reason = redact(&d.reason);
        let failure = Failure {
            flow: &self.plan.flow,
            step: "source",
            error: &reason,
            attempts: 1,
            at: chrono::Utc::now(),
        };
        let entry = if d.raw_base64 {
            dead_letter::for_raw_bytes(&d.raw, &failure)
        } else {
            dead_letter::for_raw(&d.raw, &failure)
        };
        if !self.dead_letter(&entry) {
            return Err(format!(
                "input could not be decoded ({reason}); the flow has no dead_letter"
            ));
        }
        Ok(())
    }

    /// Buffers a dead-letter entry; false without a dead letter.
    fn dead_letter(&mut self, entry: &Value) -> bool {
        let Some((_, buf)) = &mut self.dead else {
            return false;
        };
        aqueduct_runtime::value::json::write_json_bytes(entry, buf);
        buf.push(b'\n');
        self.stats.dead_lettered += 1;
        StepMetrics::add(&self.dead_metrics.records_in, 1);
        true
    }

    /// Writes out the buffers that grew large (no sync).
    fn spill_large(&mut self) -> Result<(), String> {
        for (sink, buf) in self.sinks.iter_mut().zip(&mut self.out.bufs) {
            if buf.len() >= SPILL {
                sink.write(buf)?;
            }
        }
        if let Some((sink, buf)) = &mut self.dead
            && buf.len() >= SPILL
        {
            sink.write(buf)?;
        }
        Ok(())
    }

    /// Writes every buffer out and hands a commit of those bytes (and of
    /// `position`, once they are synced) to the background.
    fn commit(&mut self, position: Option<String>) -> Result<(), String> {
        let mut files = Vec::new();
        for (n, (sink, buf)) in self.sinks.iter_mut().zip(&mut self.out.bufs).enumerate() {
            sink.write(buf)?;
            files.extend(sink.take_dirty()?.map(|f| (n, f)));
        }
        if let Some((sink, buf)) = &mut self.dead {
            sink.write(buf)?;
            files.extend(sink.take_dirty()?.map(|f| (self.sinks.len(), f)));
        }
        if files.is_empty() && position.is_none() {
            return Ok(());
        }
        self.committer.push(Job { files, position })
    }
}

/// How many lines end before byte `offset` of a file.
fn lines_before(path: &Path, offset: u64) -> std::io::Result<u64> {
    let mut reader = BufReader::with_capacity(1 << 16, File::open(path)?.take(offset));
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
