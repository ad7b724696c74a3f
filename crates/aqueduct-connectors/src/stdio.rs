//! `stdio`: standard input as a bounded source (`stdin(format)`, ends at end
//! of input) and standard output as a target (`stdout(format)`).
//!
//! The format defaults to jsonl. On standard output, `json` writes one
//! compact JSON document per line (a stream has no end to close an array
//! at) and `xml` writes one record element per line without a root
//! element; `csv` writes its header before the first row. Standard input
//! has no position to keep: records are not checkpointed.

use crate::formats::{Codec, Encoder, Format};
use crate::support::{io_error, stopped};
use aqueduct_runtime::connector::{
    Ack, ConnectorError, ConnectorFactory, DecodeError, Envelope, OpContext, Source, Target,
};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use std::io::{BufRead, Read, Write};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// The `stdio` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdioConnector;

impl ConnectorFactory for StdioConnector {
    fn kind(&self) -> &'static str {
        "stdio"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        match cx.op.operation.as_str() {
            "stdin" => Ok(Box::new(StdinSource {
                codec: Codec::from_args(cx, None, Format::Jsonl)?,
                shutdown: cx.shutdown.clone(),
            })),
            other => Err(ConnectorError::Config(format!(
                "`stdio.{other}` cannot be used as a source"
            ))),
        }
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        match cx.op.operation.as_str() {
            "stdout" => {
                let mut codec = Codec::from_args(cx, None, Format::Jsonl)?;
                if codec.format == Format::Json {
                    codec.format = Format::Jsonl;
                }
                Ok(Arc::new(StdoutTarget {
                    state: Mutex::new((codec.encoder(), false)),
                }))
            }
            other => Err(ConnectorError::Config(format!(
                "`stdio.{other}` cannot be used as a target"
            ))),
        }
    }
}

/// Reads standard input.
struct StdinSource {
    codec: Codec,
    shutdown: watch::Receiver<bool>,
}

fn read_stdin(codec: Codec, tx: mpsc::Sender<Result<Result<Value, DecodeError>, ConnectorError>>) {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    if !codec.format.is_line_based() {
        let mut all = Vec::new();
        if let Err(e) = input.read_to_end(&mut all) {
            let _ = tx.blocking_send(Err(io_error("cannot read standard input", &e)));
            return;
        }
        for record in codec.decode_all(&all) {
            if tx.blocking_send(Ok(record)).is_err() {
                return;
            }
        }
        return;
    }
    let mut decoder = codec.stream();
    let mut splitter = codec.splitter(0, 1);
    let mut out = Vec::new();
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.blocking_send(Err(io_error("cannot read standard input", &e)));
                return;
            }
        };
        let done = buf.is_empty();
        if done {
            splitter.finish(&mut out);
        } else {
            let n = buf.len();
            splitter.feed(buf, &mut out);
            input.consume(n);
        }
        for logical in out.drain(..) {
            if let Some(record) = decoder.logical(logical.text)
                && tx.blocking_send(Ok(record)).is_err()
            {
                return;
            }
        }
        if done {
            return;
        }
    }
}

impl Source for StdinSource {
    fn run(
        mut self: Box<Self>,
        out: mpsc::Sender<Envelope>,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let (tx, mut rx) = mpsc::channel(256);
            let codec = self.codec.clone();
            // A plain thread: a blocking read of stdin cannot be interrupted,
            // and must not hold up the runtime's shutdown.
            std::thread::Builder::new()
                .name("aqueduct-stdin".to_string())
                .spawn(move || read_stdin(codec, tx))
                .map_err(|e| io_error("cannot start the stdin reader", &e))?;
            loop {
                let item = tokio::select! {
                    item = rx.recv() => item,
                    _ = stopped(&mut self.shutdown) => None,
                };
                match item {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(record)) => {
                        if out.send(Envelope::new(record, Ack::none())).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        })
    }
}

/// Writes standard output.
struct StdoutTarget {
    /// The encoder, and whether the prefix (csv header) was written.
    state: Mutex<(Encoder, bool)>,
}

impl Target for StdoutTarget {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let mut buf = Vec::new();
            {
                let mut state = self
                    .state
                    .lock()
                    .map_err(|_| ConnectorError::Permanent("stdout lock poisoned".to_string()))?;
                let (encoder, started) = &mut *state;
                if !*started {
                    if encoder.prefix().starts_with(b"<?xml") {
                        // A stream of elements: no declaration or root.
                    } else {
                        buf.extend(encoder.prefix());
                    }
                    *started = true;
                }
                for record in records {
                    encoder.record(record, &mut buf)?;
                }
            }
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&buf)
                .and_then(|_| stdout.flush())
                .map_err(|e| io_error("cannot write standard output", &e))
        })
    }
}
