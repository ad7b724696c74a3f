//! Redis streams: a stream holding the backlog (one entry field per record
//! field, as `redis.xadd` writes them), drained in consumer group
//! `workers` by `redis.stream` and by the redis crate with XREADGROUP and
//! XACK.

use crate::sink::{Item, Sink};
use redis::aio::MultiplexedConnection;
use redis::streams::StreamReadReply;
use tokio::sync::watch;

/// Entries per XREADGROUP, as the connector reads.
pub const COUNT: usize = 100;
const GROUP: &str = "workers";

async fn connect(url: &str) -> Result<MultiplexedConnection, String> {
    let client = redis::Client::open(url).map_err(|e| format!("Redis: {e}"))?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("Redis: {e}"))
}

/// Adds `n` entries to stream `name` (pipelined).
pub async fn prepare(url: &str, name: &str, n: u64) -> Result<(), String> {
    let mut conn = connect(url).await?;
    let mut pipe = redis::pipe();
    for id in 0..n as i64 {
        let item = Item::new(id);
        pipe.cmd("XADD")
            .arg(name)
            .arg("*")
            .arg("id")
            .arg(item.id)
            .arg("name")
            .arg(&item.name)
            .arg("device")
            .arg(&item.device)
            .arg("reading")
            .arg(item.reading)
            .arg("ok")
            .arg(if item.ok { "true" } else { "false" })
            .ignore();
        if id % 1000 == 999 {
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            pipe = redis::pipe();
        }
    }
    if !n.is_multiple_of(1000) {
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The flow `aqueduct run` drains the stream with.
pub fn flow(name: &str) -> String {
    format!(
        "system cache: redis {{\n  url = env(\"REDIS_URL\")\n}}\n\n{}\nflow drain {{\n  mode async\n  from cache.stream(\"{name}\", \"{GROUP}\") as Item\n  to file(\"out\").append(\"items.jsonl\")\n}}\n",
        crate::ITEM_TYPE
    )
}

/// Entries of the group not acknowledged: pending ones plus those never read.
pub async fn left(url: &str, name: &str) -> Result<u64, String> {
    let mut conn = connect(url).await?;
    let pending: (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(name)
        .arg(GROUP)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(name)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let lag = groups
        .iter()
        .find_map(|g| match g.get("lag") {
            Some(redis::Value::Int(n)) => Some(*n as u64),
            _ => None,
        })
        .unwrap_or(0);
    Ok(pending.0 + lag)
}

/// Deletes the stream.
pub async fn cleanup(url: &str, name: &str) {
    if let Ok(mut conn) = connect(url).await {
        let _ = redis::cmd("DEL")
            .arg(name)
            .query_async::<()>(&mut conn)
            .await;
    }
}

fn field(
    map: &std::collections::HashMap<String, redis::Value>,
    name: &str,
) -> Result<String, String> {
    match map.get(name) {
        Some(redis::Value::BulkString(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
        other => Err(format!("entry field `{name}`: {other:?}")),
    }
}

fn parse<T: std::str::FromStr>(text: &str, name: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("entry field `{name}`: `{text}`"))
}

/// The hand-written consumer: XREADGROUP `COUNT` entries, write and sync
/// them, then one XACK naming them all.
pub async fn consume(
    url: &str,
    name: &str,
    sink: &mut Sink,
    stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let mut conn = connect(url).await?;
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(name)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await;
    match created {
        Ok(()) => {}
        Err(e) if e.code() == Some("BUSYGROUP") => {}
        Err(e) => return Err(e.to_string()),
    }
    while !*stop.borrow() {
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg("bench")
            .arg("COUNT")
            .arg(COUNT)
            .arg("BLOCK")
            .arg(200)
            .arg("STREAMS")
            .arg(name)
            .arg(">")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let entries: Vec<_> = reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default();
        if entries.is_empty() {
            continue;
        }
        for e in &entries {
            let item = Item {
                id: parse(&field(&e.map, "id")?, "id")?,
                name: field(&e.map, "name")?,
                device: field(&e.map, "device")?,
                reading: parse(&field(&e.map, "reading")?, "reading")?,
                ok: parse(&field(&e.map, "ok")?, "ok")?,
            };
            sink.add(&item)?;
        }
        sink.commit(entries.len() as u64)?;
        let mut ack = redis::cmd("XACK");
        ack.arg(name).arg(GROUP);
        for e in &entries {
            ack.arg(&e.id);
        }
        ack.query_async::<i64>(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
