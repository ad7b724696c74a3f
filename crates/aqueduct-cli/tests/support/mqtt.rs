//! The independent MQTT client (rumqttc) of the `mqtt` tests: connection
//! options, a publisher paced by what landed ([`paced_publisher`]) and a
//! look into a persistent session ([`unacknowledged`]).

use super::drain;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use std::time::Duration;

/// rumqttc options for `url` as `client_id`.
pub fn options(url: &str, client_id: &str) -> MqttOptions {
    let sep = if url.contains('?') { '&' } else { '?' };
    MqttOptions::parse_url(format!("{url}{sep}client_id={client_id}")).expect("an mqtt url")
}

/// Items `0..n` published to `topic` at `qos` by an independent rumqttc
/// client on a thread of its own, never more than `window` ahead of what
/// landed in `dbs` (their rows together), so the kill or cut strikes a
/// live stream rather than a backlog queued in full. Ends when the broker acknowledged every message
/// (PUBACK, or PUBCOMP at QoS 2), or fails after a minute without any
/// progress.
pub fn paced_publisher(
    url: &str,
    topic: &str,
    qos: QoS,
    n: i64,
    dbs: Vec<std::path::PathBuf>,
    window: i64,
) -> std::thread::JoinHandle<Result<(), String>> {
    const IN_FLIGHT: i64 = 16;
    const STALLED: Duration = Duration::from_secs(60);
    let (url, topic) = (url.to_string(), topic.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let id = aqueduct_test_support::unique_name("pub");
            let (client, mut eventloop) = AsyncClient::new(options(&url, &id), 100);
            let acked = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
            let counter = acked.clone();
            let poller = tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Incoming::PubAck(_) | Incoming::PubComp(_))) => {
                            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Ok(_) => {}
                        Err(e) => return format!("the publisher's connection failed: {e}"),
                    }
                }
            });
            let mut next = 0;
            // rows landed, read again when the window is used up or every second
            let mut landed = 0;
            let mut read_at = std::time::Instant::now();
            let mut progress = (0, std::time::Instant::now());
            loop {
                let done = acked.load(std::sync::atomic::Ordering::SeqCst);
                if done >= n {
                    break;
                }
                if poller.is_finished() {
                    return Err(poller.await.unwrap_or_else(|e| e.to_string()));
                }
                if next - landed >= window || read_at.elapsed() >= Duration::from_secs(1) {
                    landed = dbs.iter().map(|db| drain::items(db)).sum();
                    read_at = std::time::Instant::now();
                    if landed + done > progress.0 {
                        progress = (landed + done, read_at);
                    } else if progress.1.elapsed() > STALLED {
                        return Err(format!("stalled: {done} acknowledged, {landed} landed"));
                    }
                }
                // Mosquitto takes at most `max_inflight_messages` (20)
                // incoming QoS 2 messages of an MQTT 3.1.1 client at once
                // and drops the ones over it, completing them all the same
                let room = (IN_FLIGHT - (next - done)).min(n - next);
                if next - landed >= window {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                } else if room > 0 {
                    for i in next..next + room {
                        client
                            .publish(topic.clone(), qos, false, drain::item_json(i).into_bytes())
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    next += room;
                } else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            let _ = client.disconnect().await;
            poller.abort();
            Ok(())
        })
    })
}

/// Resumes the persistent session `client_id` for two seconds without
/// acknowledging: how many messages the broker sends again.
pub fn unacknowledged(url: &str, client_id: &str) -> usize {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(async {
        let mut options = options(url, client_id);
        options.set_clean_session(false).set_manual_acks(true);
        let (_client, mut eventloop) = AsyncClient::new(options, 100);
        let mut again = 0;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::Publish(_))) => again += 1,
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        })
        .await;
        again
    })
}
