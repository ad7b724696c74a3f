//! `file`: files under a root directory (option `root`, default `"."`).
//!
//! Sources: `read(glob, format)` reads every matching file once, in path
//! order, checkpointing its position every `chunk` records
//! ([`read`]); `tail(path, format)` follows one file across appends and
//! rotation ([`tail`]). Targets: `write(path, format)` replaces a file
//! atomically and `append(path, format)` appends to one ([`write`]).

pub(crate) mod appended;
pub(crate) mod checkpoint;
mod read;
mod read_fused;
mod tail;
mod write;
mod write_run;

use crate::support::args::Options;
use aqueduct_runtime::connector::{ConnectorError, ConnectorFactory, OpContext, Source, Target};
use std::path::PathBuf;
use std::sync::Arc;

/// The `file` connector kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileConnector;

impl ConnectorFactory for FileConnector {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn source(&self, cx: &OpContext) -> Result<Box<dyn Source>, ConnectorError> {
        match cx.op.operation.as_str() {
            "read" => Ok(Box::new(read::ReadSource::build(cx, root(cx)?)?)),
            "tail" => Ok(Box::new(tail::TailSource::build(cx, root(cx)?)?)),

            other => Err(ConnectorError::Config(format!(
                "`file.{other}` cannot be used as a source"
            ))),
        }
    }

    fn target(&self, cx: &OpContext) -> Result<Arc<dyn Target>, ConnectorError> {
        let mode = match cx.op.operation.as_str() {
            "write" => write::WriteMode::Replace,
            "append" => write::WriteMode::Append,
            other => {
                return Err(ConnectorError::Config(format!(
                    "`file.{other}` cannot be used as a target"
                )));
            }
        };
        Ok(Arc::new(write::FileTarget::build(cx, root(cx)?, mode)?))
    }
}

/// The `root` option (default: the working directory).
fn root(cx: &OpContext) -> Result<PathBuf, ConnectorError> {
    Ok(PathBuf::from(
        Options::of(cx)
            .string("root")?
            .unwrap_or_else(|| ".".to_string()),
    ))
}

/// The inode of a file (0 where the platform has none).
fn inode(meta: &std::fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        std::os::unix::fs::MetadataExt::ino(meta)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}
