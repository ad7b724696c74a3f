//! MQTT at QoS 1: a persistent session (clean session off) subscribed to
//! `NAME/#` before the backlog is published, drained by `mqtt.subscribe`
//! and by rumqttc with manual acks (PUBACK after the batch is synced, in
//! arrival order).
//!
//! Mosquitto keeps at most `max_queued_messages` (1000 by default) for a
//! session and drops the rest, so the benchmark starts a broker of its own
//! (`aqueduct_test_support::Mosquitto`: the same binary, on a free port)
//! that queues the whole backlog. Its `max_inflight_messages` (20) does
//! not pace a resumed session: Mosquitto 2.0.11 here sent thousands of
//! messages to a consumer that had acknowledged none, so TCP flow control
//! and the contenders' own channels are the bounds.

use crate::sink::{Item, Sink};
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, QoS};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

fn options(url: &str, client_id: &str, clean: bool) -> Result<MqttOptions, String> {
    let mut options = MqttOptions::parse_url(format!("{url}?client_id={client_id}"))
        .map_err(|e| e.to_string())?;
    options
        .set_clean_session(clean)
        .set_keep_alive(Duration::from_secs(30));
    Ok(options)
}

/// Polls `eventloop` until `done` says so for an incoming packet.
async fn until(
    eventloop: &mut EventLoop,
    mut done: impl FnMut(&Incoming) -> bool,
) -> Result<(), String> {
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(i)) if done(&i) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Creates the persistent session `name` subscribed to `name/#`, then
/// publishes `n` messages at QoS 1 and waits for every PUBACK.
pub async fn prepare(url: &str, name: &str, n: u64) -> Result<(), String> {
    let (client, mut eventloop) = AsyncClient::new(options(url, name, false)?, 64);
    client
        .subscribe(format!("{name}/#"), QoS::AtLeastOnce)
        .await
        .map_err(|e| e.to_string())?;
    until(&mut eventloop, |i| matches!(i, Incoming::SubAck(_))).await?;
    client.disconnect().await.map_err(|e| e.to_string())?;
    let _ = until(&mut eventloop, |_| false).await;

    let (publisher, mut eventloop) =
        AsyncClient::new(options(url, &format!("{name}-pub"), true)?, 1024);
    let topic = format!("{name}/items");
    let sender = tokio::spawn(async move {
        for id in 0..n as i64 {
            if publisher
                .publish(&topic, QoS::AtLeastOnce, false, Item::new(id).json())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut acked = 0;
    until(&mut eventloop, |i| {
        if matches!(i, Incoming::PubAck(_)) {
            acked += 1;
        }
        acked >= n
    })
    .await?;
    let _ = sender.await;
    Ok(())
}

/// The flow `aqueduct run` drains the session with.
pub fn flow(name: &str) -> String {
    format!(
        "system devices: mqtt {{\n  url = env(\"MQTT_URL\")\n  client_id = \"{name}\"\n}}\n\n{}\nflow drain {{\n  mode async\n  from devices.subscribe(\"{name}/#\", 1) as Item\n  to file(\"out\").append(\"items.jsonl\")\n}}\n",
        crate::ITEM_TYPE
    )
}

/// Messages the session still holds: resumes it for a second and counts
/// what the broker sends again (without acknowledging).
pub async fn left(url: &str, name: &str) -> Result<u64, String> {
    let mut options = options(url, name, false)?;
    options.set_manual_acks(true);
    let (_client, mut eventloop) = AsyncClient::new(options, 64);
    let mut got = 0;
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        until(&mut eventloop, |i| {
            if matches!(i, Incoming::Publish(_)) {
                got += 1;
            }
            false
        }),
    )
    .await;
    Ok(got)
}

/// The hand-written consumer: the messages at hand are written and
/// synced, then acknowledged in arrival order.
pub async fn consume(
    url: &str,
    name: &str,
    sink: &mut Sink,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let mut options = options(url, name, false)?;
    options.set_manual_acks(true);
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    let (tx, mut rx) = mpsc::channel::<rumqttc::Publish>(1024);
    let subscriber = client.clone();
    let filter = format!("{name}/#");
    let poller = tokio::spawn(async move {
        // DISCONNECT sent: read until the broker closes the connection, as
        // `mqtt.subscribe` does (closing a socket with unread data resets
        // it, and the broker drops the acks it had not read yet)
        let mut leaving = false;
        loop {
            let polled = eventloop.poll().await;
            if leaving {
                if polled.is_err() {
                    return;
                }
                continue;
            }
            match polled {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    let _ = subscriber.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    // stopped: acks and the DISCONNECT still to send
                    let _ = tx.send(p).await;
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => leaving = true,
                Ok(_) => {}
                Err(e) => {
                    eprintln!("mqtt: {e}");
                    return;
                }
            }
        }
    });
    // Acks go out from a task of their own, as in `mqtt.subscribe`: an
    // ack waits for room in the client's request channel, which only the
    // event loop empties, and the event loop may itself wait for room in
    // `tx` while Mosquitto sends a resumed session's backlog far past
    // `max_inflight_messages`. Awaited here, the two waits met and
    // the consumer stalled for good after a few thousand messages.
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<Vec<rumqttc::Publish>>();
    let acker_client = client.clone();
    let acker = tokio::spawn(async move {
        while let Some(batch) = ack_rx.recv().await {
            for p in batch {
                acker_client.ack(&p).await.map_err(|e| e.to_string())?;
            }
        }
        Ok::<(), String>(())
    });
    let mut batch = Vec::new();
    loop {
        let first = tokio::select! {
            p = rx.recv() => p,
            _ = stop.changed() => break,
        };
        let Some(first) = first else { break };
        batch.push(first);
        while let Ok(next) = rx.try_recv() {
            batch.push(next);
        }
        for p in &batch {
            sink.add_json(&p.payload)?;
        }
        sink.commit(batch.len() as u64)?;
        if ack_tx.send(std::mem::take(&mut batch)).is_err() {
            break;
        }
    }
    drop(rx);
    drop(ack_tx);
    match acker.await {
        Ok(r) => r?,
        Err(e) => return Err(e.to_string()),
    }
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), poller).await;
    Ok(())
}
