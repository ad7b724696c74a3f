//! `file.tail(path, format)`: follows one file as it grows, like `tail -F`.
//!
//! Line formats only (jsonl, csv, text). The first run starts at the file's
//! current end (or at its start, when it does not exist yet); the position
//! (`{"ino", "offset"}`) is stored under `file:{flow}:{path}` once the records
//! before it are acked, and a restart resumes there when the file is still
//! the same (same inode, not shorter). Rotation is noticed when the path
//! names a new file (another inode): the old file is read to its end, then
//! the new one from its start. A file cut shorter than the position
//! (truncation) is read again from its start. The file is polled every
//! [`POLL`].

use super::inode;
use crate::formats::{Codec, Format, LineSplitter, StreamDecoder};
use crate::support::args::{label, req_str};
use crate::support::commit::Committer;
use crate::support::{io_error, stopped};
use aqueduct_runtime::connector::{
    Ack, ConnectorError, DecodeError, Envelope, OpContext, Source, StateStore,
};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often the file is checked for new data and rotation.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// Follows one file.
pub(crate) struct TailSource {
    path: PathBuf,
    codec: Codec,
    key: String,
    state: Arc<dyn StateStore>,
    shutdown: watch::Receiver<bool>,
}

/// Where to start, from the stored position.
#[derive(Debug, Clone, Copy)]
struct Saved {
    ino: u64,
    offset: u64,
}

enum Item {
    Record {
        record: Result<Value, DecodeError>,
        ino: u64,
        offset: u64,
    },
    Failed(ConnectorError),
}

impl TailSource {
    pub(crate) fn build(cx: &OpContext, root: PathBuf) -> Result<TailSource, ConnectorError> {
        let path = req_str(cx, "path")?;
        let codec = Codec::from_args(cx, Some(&path), Format::Jsonl)?;
        if !codec.format.is_line_based() {
            return Err(ConnectorError::Config(format!(
                "`{}`: tail follows line formats only (jsonl, csv, text), not {}",
                label(cx),
                codec.format.name()
            )));
        }
        Ok(TailSource {
            path: root.join(&path),
            key: format!("file:{}:{}", cx.flow, path),
            codec,
            state: cx.state.clone(),
            shutdown: cx.shutdown.clone(),
        })
    }

    async fn run_inner(mut self, out: mpsc::Sender<Envelope>) -> Result<(), ConnectorError> {
        let saved = self.state.get(&self.key).await?.and_then(|text| {
            let json: serde_json::Value = serde_json::from_str(&text).ok()?;
            Some(Saved {
                ino: json.get("ino")?.as_u64()?,
                offset: json.get("offset")?.as_u64()?,
            })
        });
        let committer = Committer::start(self.state.clone(), self.key.clone());
        let (tx, mut rx) = mpsc::channel::<Item>(256);
        let follower = Follower {
            path: self.path.clone(),
            codec: self.codec.clone(),
            tx,
        };
        std::thread::Builder::new()
            .name("aqueduct-file-tail".to_string())
            .spawn(move || follower.run(saved))
            .map_err(|e| io_error("cannot start the file follower", &e))?;
        let mut failure = None;
        loop {
            let item = tokio::select! {
                item = rx.recv() => item,
                _ = stopped(&mut self.shutdown) => None,
            };
            match item {
                None => break,
                Some(Item::Failed(e)) => {
                    failure = Some(e);
                    break;
                }
                Some(Item::Record {
                    record,
                    ino,
                    offset,
                }) => {
                    let (ack, ack_rx) = Ack::new();
                    if out.send(Envelope::new(record, ack)).await.is_err() {
                        break;
                    }
                    committer.push(
                        ack_rx,
                        Some(serde_json::json!({"ino": ino, "offset": offset}).to_string()),
                    );
                }
            }
        }
        drop(rx);
        drop(out);
        committer.finish().await?;
        failure.map_or(Ok(()), Err)
    }
}

impl Source for TailSource {
    fn run(
        self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(self.run_inner(out))
    }
}

/// The follower thread.
struct Follower {
    path: PathBuf,
    codec: Codec,
    tx: mpsc::Sender<Item>,
}

/// The file being followed.
struct Open {
    reader: BufReader<File>,
    ino: u64,
    offset: u64,
    decoder: StreamDecoder,
    splitter: LineSplitter,
}

impl Follower {
    fn run(self, saved: Option<Saved>) {
        if let Err(e) = self.follow(saved) {
            let _ = self.tx.blocking_send(Item::Failed(e));
        }
    }

    /// Sleeps one poll interval; false when the source is gone.
    fn wait(&self) -> bool {
        std::thread::sleep(POLL);
        !self.tx.is_closed()
    }

    fn open(&self, start: Option<Saved>, at_end: bool) -> Result<Option<Open>, ConnectorError> {
        let what = format!("cannot read {}", self.path.display());
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&what, &e)),
        };
        let meta = file.metadata().map_err(|e| io_error(&what, &e))?;
        let ino = inode(&meta);
        let offset = match start {
            Some(s) if s.ino == ino && s.offset <= meta.len() => s.offset,
            Some(_) => 0,
            None if at_end => meta.len(),
            None => 0,
        };
        let mut decoder = self.codec.stream();
        if offset > 0 && self.codec.format == Format::Csv && self.codec.header {
            let mut first =
                BufReader::new(File::open(&self.path).map_err(|e| io_error(&what, &e))?);
            let mut line = Vec::new();
            first
                .read_until(b'\n', &mut line)
                .map_err(|e| io_error(&what, &e))?;
            let line = String::from_utf8_lossy(&line);
            decoder
                .set_header_line(line.trim_end_matches(['\r', '\n']))
                .map_err(ConnectorError::Permanent)?;
        }
        let mut reader = BufReader::new(file);
        reader
            .seek(SeekFrom::Start(offset))
            .map_err(|e| io_error(&what, &e))?;
        // line numbers in errors count from where following started
        let splitter = self.codec.splitter(offset, 1);
        Ok(Some(Open {
            reader,
            ino,
            offset,
            decoder,
            splitter,
        }))
    }

    /// Reads every complete line available; false when the source is gone.
    /// A partial last line waits for the rest, unless `final_read` (the file
    /// was rotated away), when it is a record of its own.
    fn drain(&self, open: &mut Open, final_read: bool) -> Result<bool, ConnectorError> {
        let what = format!("cannot read {}", self.path.display());
        let mut out = Vec::new();
        loop {
            let buf = open.reader.fill_buf().map_err(|e| io_error(&what, &e))?;
            let done = buf.is_empty();
            if done {
                if final_read {
                    open.splitter.finish(&mut out);
                }
            } else {
                let n = buf.len();
                open.splitter.feed(buf, &mut out);
                open.reader.consume(n);
            }
            for logical in out.drain(..) {
                open.offset = logical.end;
                if let Some(record) = open.decoder.logical(logical.text) {
                    let item = Item::Record {
                        record,
                        ino: open.ino,
                        offset: open.offset,
                    };
                    if self.tx.blocking_send(item).is_err() {
                        return Ok(false);
                    }
                }
            }
            if done {
                return Ok(true);
            }
        }
    }

    fn follow(&self, saved: Option<Saved>) -> Result<(), ConnectorError> {
        // First open: the saved position, else the end of an existing file.
        let mut current = self.open(saved, true)?;
        while current.is_none() {
            if !self.wait() {
                return Ok(());
            }
            current = self.open(None, false)?;
        }
        let Some(mut open) = current else {
            return Ok(());
        };
        loop {
            if !self.drain(&mut open, false)? {
                return Ok(());
            }
            match std::fs::metadata(&self.path) {
                Ok(meta) if inode(&meta) != open.ino => {
                    // Rotated: finish the old file, then start the new one.
                    if !self.drain(&mut open, true)? {
                        return Ok(());
                    }
                    if let Some(next) = self.open(None, false)? {
                        open = next;
                        continue;
                    }
                }
                Ok(meta) if meta.len() < open.offset => {
                    // Truncated in place: read it again from the start.
                    open.reader
                        .seek(SeekFrom::Start(0))
                        .map_err(|e| io_error("cannot rewind", &e))?;
                    open.offset = 0;
                    open.splitter = self.codec.splitter(0, 1);
                }
                _ => {}
            }
            if !self.wait() {
                return Ok(());
            }
        }
    }
}
