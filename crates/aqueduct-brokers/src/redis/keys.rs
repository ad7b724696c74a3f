//! `redis.set(key_expr, ttl:)` and `redis.get(key_expr)`: records as JSON
//! under keys built from them.
//!
//! `set` writes a group in one pipeline (`SET key json [PX ttl]`); `get`
//! (an `enrich` call) answers the stored JSON decoded into the enrich's
//! type, or null when the key is missing or expired.

use super::{Endpoint, Lazy};
use aqueduct_connectors::support::args::{arg_duration, label};
use aqueduct_connectors::support::template::Template;
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{Call, ConnectorError, OpContext, Target};
use aqueduct_runtime::value::{Schemas, Value};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

fn key_template(cx: &OpContext) -> Result<Template, ConnectorError> {
    let expr = cx.op.arg("key_expr").ok_or_else(|| {
        ConnectorError::Config(format!("`{}`: argument `key_expr` is required", label(cx)))
    })?;
    Template::new(expr, &cx.schemas)
        .map_err(|e| ConnectorError::Config(format!("`{}`: key_expr: {e}", label(cx))))
}

/// Stores records.
pub(crate) struct Set {
    redis: Lazy,
    key: Template,
    ttl: Option<Duration>,
}

impl Set {
    pub(crate) fn build(cx: &OpContext) -> Result<Set, ConnectorError> {
        let ttl = arg_duration(cx, "ttl")?;
        if ttl.is_some_and(|t| t.as_millis() == 0) {
            return Err(ConnectorError::Config(format!(
                "`{}`: ttl must be above 0",
                label(cx)
            )));
        }
        Ok(Set {
            redis: Lazy::new(Endpoint::of(cx)?),
            key: key_template(cx)?,
            ttl,
        })
    }
}

impl Target for Set {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let ep = self.redis.endpoint();
            let mut conn = self.redis.conn().await?;
            let mut pipe = redis::pipe();
            for record in records {
                let key = self.key.render(record, str::to_string).map_err(|e| {
                    ConnectorError::Permanent(format!("`{}`: key_expr: {e}", ep.label))
                })?;
                let cmd = pipe.cmd("SET").arg(key).arg(record.to_json_string());
                if let Some(ttl) = self.ttl {
                    cmd.arg("PX").arg(ttl.as_millis() as u64);
                }
                cmd.ignore();
            }
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(|e| ep.error("cannot set", &e))
        })
    }
}

/// Reads records back.
pub(crate) struct Get {
    redis: Lazy,
    key: Template,
    ty: Type,
    schemas: Arc<Schemas>,
}

impl Get {
    pub(crate) fn build(cx: &OpContext) -> Result<Get, ConnectorError> {
        Ok(Get {
            redis: Lazy::new(Endpoint::of(cx)?),
            key: key_template(cx)?,
            ty: cx.record_type.clone(),
            schemas: cx.schemas.clone(),
        })
    }
}

impl Call for Get {
    fn call<'a>(&'a self, record: &'a Value) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let ep = self.redis.endpoint();
            let key = self
                .key
                .render(record, str::to_string)
                .map_err(|e| ConnectorError::Permanent(format!("`{}`: key_expr: {e}", ep.label)))?;
            let mut conn = self.redis.conn().await?;
            let text: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .map_err(|e| ep.error(&format!("cannot get `{key}`"), &e))?;
            let Some(text) = text else {
                return Ok(Value::Null);
            };
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                ConnectorError::Permanent(format!(
                    "`{}`: the value of `{key}` is not JSON: {e}",
                    ep.label
                ))
            })?;
            Value::from_json(&json, &self.ty, &self.schemas).map_err(|e| {
                ConnectorError::Permanent(format!(
                    "`{}`: the value of `{key}` does not fit {}: {e}",
                    ep.label, self.ty
                ))
            })
        })
    }
}
