//! Kafka (tansu here): a one-partition topic holding the backlog
//! (produced with acks=all), drained in consumer group `drain` by
//! `kafka.consume` and by rdkafka with the connector's consumer settings
//! (auto-commit off, offsets committed after the records are synced).

use crate::sink::{Item, Sink};
use futures::FutureExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::time::Duration;
use tokio::sync::watch;

const TIMEOUT: Duration = Duration::from_secs(30);
const GROUP: &str = "drain";
/// Most records taken at once (the flow takes at most 256 queued records).
const BATCH: usize = 256;

fn bootstrap(url: &str) -> String {
    url.trim_start_matches("kafka://").to_string()
}

/// Creates topic `name` and produces `n` records into it.
pub async fn prepare(url: &str, name: &str, n: u64) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap(url))
        .create()
        .map_err(|e| e.to_string())?;
    let results = admin
        .create_topics(
            &[NewTopic::new(name, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .map_err(|e| e.to_string())?;
    for r in results {
        r.map_err(|(t, e)| format!("topic {t}: {e}"))?;
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap(url))
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .map_err(|e| e.to_string())?;
    for start in (0..n as i64).step_by(2000) {
        let payloads: Vec<Vec<u8>> = (start..(start + 2000).min(n as i64))
            .map(|id| Item::new(id).json())
            .collect();
        let pending = payloads.iter().map(|payload| {
            producer.send(
                FutureRecord::<(), [u8]>::to(name).payload(payload.as_slice()),
                TIMEOUT,
            )
        });
        for d in futures::future::join_all(pending).await {
            d.map_err(|(e, _)| e.to_string())?;
        }
    }
    Ok(())
}

/// The flow `aqueduct run` drains the topic with.
pub fn flow(name: &str) -> String {
    format!(
        "system broker: kafka {{\n  url = env(\"KAFKA_URL\")\n}}\n\n{}\nflow drain {{\n  mode async\n  from broker.consume(\"{name}\", \"{GROUP}\") as Item\n  to file(\"out\").append(\"items.jsonl\")\n}}\n",
        crate::ITEM_TYPE
    )
}

/// Records after the group's committed offset.
pub async fn left(url: &str, name: &str) -> Result<u64, String> {
    let url = url.to_string();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap(&url))
            .set("group.id", GROUP)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| e.to_string())?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&name, 0);
        let committed = consumer
            .committed_offsets(tpl, TIMEOUT)
            .map_err(|e| e.to_string())?;
        let at = match committed.elements().first().map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => 0,
        };
        let (_, high) = consumer
            .fetch_watermarks(&name, 0, TIMEOUT)
            .map_err(|e| e.to_string())?;
        Ok((high - at).max(0) as u64)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Deletes the topic.
pub async fn cleanup(url: &str, name: &str) {
    let admin: Result<AdminClient<DefaultClientContext>, _> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap(url))
        .create();
    if let Ok(admin) = admin {
        let _ = admin.delete_topics(&[name], &AdminOptions::new()).await;
    }
}

/// The hand-written consumer: the records at hand (at most `BATCH`) are
/// written and synced, then their offset is committed (asynchronously).
pub async fn consume(
    url: &str,
    name: &str,
    sink: &mut Sink,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap(url))
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("queued.max.messages.kbytes", "8192")
        .create()
        .map_err(|e| e.to_string())?;
    consumer.subscribe(&[name]).map_err(|e| e.to_string())?;
    let mut next: Option<i64> = None;
    loop {
        let first = tokio::select! {
            m = consumer.recv() => m,
            _ = stop.changed() => break,
        };
        let first = first.map_err(|e| e.to_string())?;
        sink.add_json(first.payload().unwrap_or_default())?;
        let mut last = first.offset();
        drop(first);
        let mut taken = 1u64;
        while (taken as usize) < BATCH {
            let Some(m) = consumer.recv().now_or_never() else {
                break;
            };
            let m = m.map_err(|e| e.to_string())?;
            sink.add_json(m.payload().unwrap_or_default())?;
            last = m.offset();
            taken += 1;
        }
        sink.commit(taken)?;
        next = Some(last + 1);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(name, 0, Offset::Offset(last + 1))
            .map_err(|e| e.to_string())?;
        consumer
            .commit(&tpl, CommitMode::Async)
            .map_err(|e| e.to_string())?;
    }
    if let Some(next) = next {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(name, 0, Offset::Offset(next))
            .map_err(|e| e.to_string())?;
        consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
