//! NATS JetStream: a stream capturing `NAME.>` holding the backlog
//! (published with stream acks), drained through a durable pull consumer
//! with explicit acks by `nats.subscribe(…, durable:)` and by async-nats
//! with the consumer settings the connector uses.

use crate::sink::{Item, Sink};
use async_nats::jetstream::{self, consumer::AckPolicy, consumer::pull, stream};
use futures::{FutureExt, StreamExt};
use std::time::Duration;
use tokio::sync::watch;

/// The connector's settings: most unacknowledged messages and messages
/// per pull request.
pub const MAX_ACK_PENDING: i64 = 1000;
/// Messages per pull request.
pub const BATCH: usize = 100;
/// How long a pull request waits on the server: with async-nats' default
/// (30 s) either contender sometimes stalled for 34 s (see the connector).
pub const PULL_EXPIRES: Duration = Duration::from_secs(2);
/// The durable consumer both contenders use.
const DURABLE: &str = "drain";

async fn js(url: &str) -> Result<(async_nats::Client, jetstream::Context), String> {
    let client = async_nats::connect(url)
        .await
        .map_err(|e| format!("NATS: {e}"))?;
    let js = jetstream::new(client.clone());
    Ok((client, js))
}

/// Creates stream `name` (subjects `name.>`) and publishes `n` messages.
pub async fn prepare(url: &str, name: &str, n: u64) -> Result<(), String> {
    let (client, js) = js(url).await?;
    js.create_stream(stream::Config {
        name: name.to_string(),
        subjects: vec![format!("{name}.>")],
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let subject = format!("{name}.items");
    let mut acks = Vec::new();
    for id in 0..n as i64 {
        acks.push(
            js.publish(subject.clone(), Item::new(id).json().into())
                .await
                .map_err(|e| e.to_string())?,
        );
        if acks.len() >= 1000 {
            for ack in acks.drain(..) {
                ack.await.map_err(|e| e.to_string())?;
            }
        }
    }
    for ack in acks {
        ack.await.map_err(|e| e.to_string())?;
    }
    client.flush().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// The flow `aqueduct run` drains the stream with.
pub fn flow(name: &str) -> String {
    format!(
        "system bus: nats {{\n  url = env(\"NATS_URL\")\n}}\n\n{}\nflow drain {{\n  mode async\n  from bus.subscribe(\"{name}.>\", durable: \"{DURABLE}\") as Item\n  to file(\"out\").append(\"items.jsonl\")\n}}\n",
        crate::ITEM_TYPE
    )
}

/// Messages the durable consumer has not had acknowledged (pending or
/// delivered and unacknowledged).
pub async fn left(url: &str, name: &str) -> Result<u64, String> {
    let (_client, js) = js(url).await?;
    let stream = js.get_stream(name).await.map_err(|e| e.to_string())?;
    let mut consumer: jetstream::consumer::PullConsumer = stream
        .get_consumer(DURABLE)
        .await
        .map_err(|e| e.to_string())?;
    let info = consumer.info().await.map_err(|e| e.to_string())?;
    Ok(info.num_pending + info.num_ack_pending as u64)
}

/// Deletes the stream.
pub async fn cleanup(url: &str, name: &str) {
    if let Ok((_client, js)) = js(url).await {
        let _ = js.delete_stream(name).await;
    }
}

/// The hand-written consumer: the messages at hand (at most
/// `MAX_ACK_PENDING`) are written and synced, then each is acked.
pub async fn consume(
    url: &str,
    name: &str,
    sink: &mut Sink,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let (client, js) = js(url).await?;
    let stream = js.get_stream(name).await.map_err(|e| e.to_string())?;
    let consumer = stream
        .get_or_create_consumer(
            DURABLE,
            pull::Config {
                durable_name: Some(DURABLE.to_string()),
                filter_subject: format!("{name}.>"),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: MAX_ACK_PENDING,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(BATCH)
        .expires(PULL_EXPIRES)
        .messages()
        .await
        .map_err(|e| e.to_string())?;
    let mut batch = Vec::new();
    loop {
        let first = tokio::select! {
            m = messages.next() => m,
            _ = stop.changed() => break,
        };
        let Some(first) = first else { break };
        batch.push(first.map_err(|e| e.to_string())?);
        while batch.len() < MAX_ACK_PENDING as usize {
            let Some(Some(next)) = messages.next().now_or_never() else {
                break;
            };
            batch.push(next.map_err(|e| e.to_string())?);
        }
        for m in &batch {
            sink.add_json(&m.payload)?;
        }
        sink.commit(batch.len() as u64)?;
        for m in batch.drain(..) {
            m.ack().await.map_err(|e| e.to_string())?;
        }
    }
    client.flush().await.map_err(|e| e.to_string())?;
    Ok(())
}
