//! RabbitMQ: a durable queue holding the backlog (persistent messages,
//! published with confirms), drained by `amqp.consume` and by lapin with
//! manual acknowledgement and the same prefetch.

use crate::sink::{Item, Sink};
use futures::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::watch;

/// `amqp.consume`'s default prefetch, which the flow leaves as it is.
pub const PREFETCH: u16 = 100;

async fn channel(url: &str) -> Result<(Connection, Channel), String> {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .map_err(|e| format!("RabbitMQ: {e}"))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| e.to_string())?;
    Ok((connection, channel))
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Declares queue `name` and publishes `n` messages into it.
pub async fn prepare(url: &str, name: &str, n: u64) -> Result<(), String> {
    let (connection, channel) = channel(url).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    channel
        .queue_declare(name.into(), durable(), FieldTable::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut confirms = Vec::new();
    for id in 0..n as i64 {
        let confirm = channel
            .basic_publish(
                "".into(),
                name.into(),
                BasicPublishOptions::default(),
                &Item::new(id).json(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .map_err(|e| e.to_string())?;
        confirms.push(confirm);
        if confirms.len() >= 1000 {
            for c in confirms.drain(..) {
                c.await.map_err(|e| e.to_string())?;
            }
        }
    }
    for c in confirms {
        c.await.map_err(|e| e.to_string())?;
    }
    let _ = connection.close(200, "published".into()).await;
    Ok(())
}

/// The flow `aqueduct run` drains the queue with.
pub fn flow(name: &str) -> String {
    format!(
        "system broker: amqp {{\n  url = env(\"AMQP_URL\")\n}}\n\n{}\nflow drain {{\n  mode async\n  from broker.consume(\"{name}\") as Item\n  to file(\"out\").append(\"items.jsonl\")\n}}\n",
        crate::ITEM_TYPE
    )
}

/// Messages left in the queue (ready ones: unacknowledged messages of a
/// consumer that left are ready again).
pub async fn left(url: &str, name: &str) -> Result<u64, String> {
    let (connection, channel) = channel(url).await?;
    let queue = channel
        .queue_declare(
            name.into(),
            QueueDeclareOptions {
                passive: true,
                ..durable()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let _ = connection.close(200, "checked".into()).await;
    Ok(u64::from(queue.message_count()))
}

/// Deletes the queue.
pub async fn cleanup(url: &str, name: &str) {
    if let Ok((connection, channel)) = channel(url).await {
        let _ = channel
            .queue_delete(name.into(), QueueDeleteOptions::default())
            .await;
        let _ = connection.close(200, "cleaned".into()).await;
    }
}

/// The hand-written consumer: takes the deliveries at hand (at most a
/// prefetch), writes and syncs them, then acks them with one `multiple` ack.
pub async fn consume(
    url: &str,
    name: &str,
    sink: &mut Sink,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let (connection, channel) = channel(url).await?;
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut consumer = channel
        .basic_consume(
            name.into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let first = tokio::select! {
            d = consumer.next() => d,
            _ = stop.changed() => break,
        };
        let Some(first) = first else { break };
        let mut last = first.map_err(|e| e.to_string())?;
        sink.add_json(&last.data)?;
        let mut taken = 1u64;
        while taken < u64::from(PREFETCH) {
            let Some(Some(next)) = consumer.next().now_or_never() else {
                break;
            };
            last = next.map_err(|e| e.to_string())?;
            sink.add_json(&last.data)?;
            taken += 1;
        }
        sink.commit(taken)?;
        last.acker
            .ack(BasicAckOptions { multiple: true })
            .await
            .map_err(|e| e.to_string())?;
    }
    let _ = connection.close(200, "stopping".into()).await;
    Ok(())
}
