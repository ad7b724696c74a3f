//! `redis.xadd(key, maxlen:)`: one stream entry per record.
//!
//! A group of records goes in one pipeline (MULTI/EXEC, so all or none);
//! the write returns once Redis answered with each new entry id. With
//! `maxlen` the stream is trimmed to about that many entries (`MAXLEN ~`).

use super::{Endpoint, Lazy, entry};
use aqueduct_connectors::support::args::label;
use aqueduct_connectors::support::template::Template;
use aqueduct_graph::Value as GValue;
use aqueduct_runtime::connector::{ConnectorError, OpContext, Target};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;

pub(crate) struct Xadd {
    redis: Lazy,
    key: Template,
    maxlen: Option<i64>,
}

impl Xadd {
    pub(crate) fn build(cx: &OpContext) -> Result<Xadd, ConnectorError> {
        let expr = cx.op.arg("key").ok_or_else(|| {
            ConnectorError::Config(format!("`{}`: argument `key` is required", label(cx)))
        })?;
        let maxlen = match cx
            .op
            .arg("maxlen")
            .map(aqueduct_connectors::support::args::constant)
        {
            None | Some(Some(GValue::Null)) => None,
            Some(Some(GValue::Int(n))) if *n > 0 => Some(*n),
            Some(_) => {
                return Err(ConnectorError::Config(format!(
                    "`{}`: maxlen must be a whole number above 0",
                    label(cx)
                )));
            }
        };
        Ok(Xadd {
            redis: Lazy::new(Endpoint::of(cx)?),
            key: Template::new(expr, &cx.schemas)
                .map_err(|e| ConnectorError::Config(format!("`{}`: key: {e}", label(cx))))?,
            maxlen,
        })
    }
}

impl Target for Xadd {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let ep = self.redis.endpoint();
            let mut conn = self.redis.conn().await?;
            let mut pipe = redis::pipe();
            pipe.atomic();
            for record in records {
                let key = self
                    .key
                    .render(record, str::to_string)
                    .map_err(|e| ConnectorError::Permanent(format!("`{}`: key: {e}", ep.label)))?;
                let fields = entry::fields(record);
                if fields.is_empty() {
                    return Err(ConnectorError::Permanent(format!(
                        "`{}`: a record with every field null makes no stream entry",
                        ep.label
                    )));
                }
                let cmd = pipe.cmd("XADD").arg(key);
                if let Some(n) = self.maxlen {
                    cmd.arg("MAXLEN").arg("~").arg(n);
                }
                cmd.arg("*");
                for (name, value) in fields {
                    cmd.arg(name).arg(value);
                }
            }
            let ids: Vec<String> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| ep.error("cannot add to the stream", &e))?;
            tracing::trace!(ids = ?ids, "{}: entries added", ep.label);
            Ok(())
        })
    }
}
