//! Redis's parts of the format checks (`support::formats`), with redis-rs:
//! pub/sub, the one place Redis carries a whole payload (`stream` and
//! `xadd` map entry fields onto record fields and take no `format`).
//! Pub/sub keeps nothing, so the output channel is subscribed before the
//! flow starts and the input published only once the flow's subscription
//! is counted (`PUBSUB NUMSUB`); it acknowledges nothing either.

use crate::support::Running;
use crate::support::formats::{Broker, Received};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub struct Redis {
    url: String,
    rt: tokio::runtime::Runtime,
    client: redis::Client,
    /// The subscriptions of [`Broker::listen`], by channel.
    listening: Mutex<HashMap<String, redis::aio::PubSub>>,
}

impl Redis {
    pub fn connect(url: &str) -> Redis {
        Redis {
            url: url.to_string(),
            rt: tokio::runtime::Runtime::new().expect("a tokio runtime"),
            client: redis::Client::open(url).expect("a redis url"),
            listening: Mutex::new(HashMap::new()),
        }
    }

    fn connection(&self) -> redis::aio::MultiplexedConnection {
        self.rt
            .block_on(self.client.get_multiplexed_async_connection())
            .expect("connects to Redis")
    }

    /// Subscribers of `channel`.
    fn subscribers(&self, channel: &str) -> i64 {
        let mut c = self.connection();
        let reply: Vec<redis::Value> = self
            .rt
            .block_on(
                redis::cmd("PUBSUB")
                    .arg("NUMSUB")
                    .arg(channel)
                    .query_async(&mut c),
            )
            .expect("PUBSUB NUMSUB");
        match reply.get(1) {
            Some(redis::Value::Int(n)) => *n,
            other => panic!("PUBSUB NUMSUB answered {other:?}"),
        }
    }
}

impl Broker for Redis {
    fn secret(&self) -> (&'static str, String) {
        ("REDIS_URL", self.url.clone())
    }

    fn system(&self, _input: &str) -> String {
        "system broker: redis {\n  url = secret(\"REDIS_URL\")\n}\n".to_string()
    }

    fn places(&self, prefix: &str) -> (String, String) {
        let name = aqueduct_test_support::unique_name(prefix);
        (format!("{name}.in"), format!("{name}.out"))
    }

    fn source(&self, input: &str, format: &str) -> String {
        format!(r#"broker.subscribe("{input}", format: {format})"#)
    }

    fn target(&self, output: &str, format: &str) -> String {
        format!(r#"broker.publish("{output}", format: {format})"#)
    }

    fn listen(&self, output: &str) {
        let mut pubsub = self
            .rt
            .block_on(self.client.get_async_pubsub())
            .expect("a pub/sub connection");
        self.rt
            .block_on(pubsub.subscribe(output))
            .expect("SUBSCRIBE");
        if let Ok(mut listening) = self.listening.lock() {
            listening.insert(output.to_string(), pubsub);
        }
    }

    fn started(&self, running: &mut Running, input: &str) {
        let subscribed =
            crate::support::wait_until(Duration::from_secs(20), || self.subscribers(input) > 0);
        assert!(
            subscribed,
            "the flow did not subscribe; stderr:\n{}",
            running.stderr()
        );
    }

    fn send(&self, input: &str, payloads: &[&[u8]]) {
        let mut c = self.connection();
        for payload in payloads {
            let receivers: i64 = self
                .rt
                .block_on(
                    redis::cmd("PUBLISH")
                        .arg(input)
                        .arg(*payload)
                        .query_async(&mut c),
                )
                .expect("PUBLISH");
            assert_eq!(receivers, 1, "the flow's subscription took the message");
        }
    }

    fn received(&self, output: &str, n: usize) -> Vec<Received> {
        let pubsub = self
            .listening
            .lock()
            .ok()
            .and_then(|mut l| l.remove(output))
            .expect("listening on the output");
        self.rt.block_on(async {
            let mut messages = pubsub.into_on_message();
            let mut out = Vec::new();
            while out.len() < n {
                match tokio::time::timeout(Duration::from_secs(10), messages.next()).await {
                    Ok(Some(m)) => out.push((m.get_payload_bytes().to_vec(), None)),
                    Ok(None) | Err(_) => break,
                }
            }
            out
        })
    }
}

/// Streams: entry fields, not payloads, so no `format`; a `bytes` field is
/// the place for bytes that are not UTF-8, and these calls read and write
/// entries as raw bytes to see that nothing changes them.
impl Redis {
    /// Adds one entry of `fields` to the stream `key`.
    pub fn xadd(&self, key: &str, fields: &[(&str, &[u8])]) {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(key).arg("*");
        for (name, value) in fields {
            cmd.arg(*name).arg(*value);
        }
        let mut c = self.connection();
        let _: String = self.rt.block_on(cmd.query_async(&mut c)).expect("XADD");
    }

    /// The entries of the stream `key`, each its fields in order, as bytes.
    pub fn entries(&self, key: &str) -> Vec<Vec<(String, Vec<u8>)>> {
        fn bytes(v: &redis::Value) -> Vec<u8> {
            match v {
                redis::Value::BulkString(b) => b.clone(),
                other => panic!("XRANGE answered {other:?} for a field"),
            }
        }
        let mut c = self.connection();
        let reply: redis::Value = self
            .rt
            .block_on(
                redis::cmd("XRANGE")
                    .arg(key)
                    .arg("-")
                    .arg("+")
                    .query_async(&mut c),
            )
            .expect("XRANGE");
        let redis::Value::Array(entries) = reply else {
            panic!("XRANGE answered {reply:?}");
        };
        entries
            .iter()
            .map(|entry| match entry {
                redis::Value::Array(parts) => match parts.get(1) {
                    Some(redis::Value::Array(fields)) => fields
                        .chunks(2)
                        .map(|kv| {
                            let name = String::from_utf8_lossy(&bytes(&kv[0])).into_owned();
                            (name, kv.get(1).map(bytes).unwrap_or_default())
                        })
                        .collect(),
                    other => panic!("XRANGE answered {other:?} for an entry's fields"),
                },
                other => panic!("XRANGE answered {other:?} for an entry"),
            })
            .collect()
    }

    /// Entries of `group` on `key` delivered and not acknowledged.
    pub fn pending(&self, key: &str, group: &str) -> i64 {
        let mut c = self.connection();
        let reply: redis::Value = self
            .rt
            .block_on(
                redis::cmd("XPENDING")
                    .arg(key)
                    .arg(group)
                    .query_async(&mut c),
            )
            .expect("XPENDING");
        match reply {
            redis::Value::Array(items) => match items.first() {
                Some(redis::Value::Int(n)) => *n,
                other => panic!("XPENDING answered {other:?}"),
            },
            other => panic!("XPENDING answered {other:?}"),
        }
    }

    /// Deletes `keys`.
    pub fn del(&self, keys: &[&str]) {
        let mut c = self.connection();
        let _: Result<i64, _> = self
            .rt
            .block_on(redis::cmd("DEL").arg(keys).query_async(&mut c));
    }
}
