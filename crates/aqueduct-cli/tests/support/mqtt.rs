//! The independent MQTT client (rumqttc) of the `mqtt` tests: connection
//! options, a publisher of a few messages ([`publish_all`]) and one paced
//! by what landed ([`paced_publisher`]), a subscriber collecting what
//! arrives ([`Listener`]), a persistent session holding a backlog
//! ([`queued_backlog`]) and a look into one ([`unacknowledged`]).

use super::drain;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, Outgoing, QoS};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A Mosquitto of the test's own that keeps every message of a session
/// (the shared one drops what is over `max_queued_messages`, 1000: under
/// load, with the subscriber reconnecting, that lost messages in the
/// broker and stalled the fault tests), or `None` (a skip) when the MQTT
/// service is not configured.
pub fn private_broker(test: &str) -> Option<aqueduct_test_support::Mosquitto> {
    aqueduct_test_support::service_url("AQUEDUCT_TEST_MQTT_URL", test)?;
    Some(
        aqueduct_test_support::Mosquitto::start(aqueduct_test_support::KEEP_EVERYTHING)
            .expect("a private mosquitto starts"),
    )
}

/// Waits until a running `mqtt.subscribe` logged its SUBACK.
pub fn wait_subscribed(running: &super::Running) {
    assert!(
        super::wait_until(Duration::from_secs(20), || running
            .stderr()
            .contains("subscribed")),
        "not subscribed; stderr:\n{}",
        running.stderr()
    );
}

/// rumqttc options for `url` as `client_id`.
pub fn options(url: &str, client_id: &str) -> MqttOptions {
    let sep = if url.contains('?') { '&' } else { '?' };
    MqttOptions::parse_url(format!("{url}{sep}client_id={client_id}")).expect("an mqtt url")
}

/// Publishes every payload to `topic` at `qos` and waits until the broker
/// acknowledged each (PUBACK, PUBCOMP), or at QoS 0 until each was written
/// to the connection.
pub fn publish_all(url: &str, topic: &str, qos: QoS, payloads: Vec<Vec<u8>>) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(async {
        let id = aqueduct_test_support::unique_name("pub");
        let (client, mut eventloop) = AsyncClient::new(options(url, &id), 100);
        let n = payloads.len();
        let sender = client.clone();
        let topic = topic.to_string();
        tokio::spawn(async move {
            for p in payloads {
                sender
                    .publish(topic.clone(), qos, false, p)
                    .await
                    .expect("publishes");
            }
        });
        let mut done = 0;
        while done < n {
            match tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Incoming::PubAck(_) | Incoming::PubComp(_)))) => done += 1,
                Ok(Ok(Event::Outgoing(Outgoing::Publish(_)))) if qos == QoS::AtMostOnce => {
                    done += 1
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("publishing failed: {e}"),
                Err(_) => panic!("{} of {n} messages not acknowledged", n - done),
            }
        }
        let _ = client.disconnect().await;
        // the DISCONNECT goes out with the next poll; QoS 0 messages ahead of it too
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while eventloop.poll().await.is_ok() {}
        })
        .await;
    });
}

/// A message as a [`Listener`] got it: its payload and the QoS it came at.
pub type Arrived = (Vec<u8>, QoS);

/// A subscriber of its own (clean session) to a topic filter, collecting
/// every message that arrives, with the QoS it arrived at, on a runtime of
/// its own.
pub struct Listener {
    _rt: tokio::runtime::Runtime,
    _client: AsyncClient,
    got: Arc<Mutex<Vec<Arrived>>>,
}

impl Listener {
    /// Subscribes to `filter` at `qos` and returns once the broker's SUBACK came.
    pub fn start(url: &str, filter: &str, qos: QoS) -> Listener {
        let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let id = aqueduct_test_support::unique_name("listener");
        let (client, mut eventloop) = AsyncClient::new(options(url, &id), 100);
        rt.block_on(async {
            client
                .subscribe(filter.to_string(), qos)
                .await
                .expect("subscribes");
            let subscribed = tokio::time::timeout(Duration::from_secs(20), async {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Incoming::SubAck(_))) => return,
                        Ok(_) => {}
                        Err(e) => panic!("the listener's connection failed: {e}"),
                    }
                }
            })
            .await;
            assert!(subscribed.is_ok(), "no SUBACK for `{filter}`");
        });
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        rt.spawn(async move {
            while let Ok(event) = eventloop.poll().await {
                if let Event::Incoming(Incoming::Publish(m)) = event
                    && let Ok(mut got) = sink.lock()
                {
                    got.push((m.payload.to_vec(), m.qos));
                }
            }
        });
        Listener {
            _rt: rt,
            _client: client,
            got,
        }
    }

    /// What arrived so far, in order, once `n` messages did (or after 20 s).
    pub fn received(&self, n: usize) -> Vec<Arrived> {
        let count = || self.got.lock().map(|g| g.len()).unwrap_or(0);
        super::wait_until(Duration::from_secs(20), || count() >= n);
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }
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
    let landed = move || dbs.iter().map(|db| drain::items(db)).sum();
    paced_by(url, topic, qos, n, Box::new(landed), window)
}

/// [`paced_publisher`] paced by what `landed` counts (records of any target).
pub fn paced_by(
    url: &str,
    topic: &str,
    qos: QoS,
    n: i64,
    landed_now: Box<dyn Fn() -> i64 + Send>,
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
                    landed = landed_now();
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

/// Creates the persistent session `client_id` subscribed to `filter` at
/// QoS 1, so that it queues what is published before aqueduct starts.
pub fn create_session(url: &str, client_id: &str, filter: &str) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(async {
        let mut options = options(url, client_id);
        options.set_clean_session(false);
        let (c, mut eventloop) = AsyncClient::new(options, 10);
        c.subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribes");
        loop {
            if let Ok(Event::Incoming(Incoming::SubAck(_))) = eventloop.poll().await {
                break;
            }
        }
        let _ = c.disconnect().await;
        while eventloop.poll().await.is_ok() {}
    });
}

/// A new persistent session (`aq-PREFIX…`) subscribed to a new topic filter
/// (`aq/PREFIX…/#`) at QoS 1, holding `payloads` published to it while it
/// was away: the broker sends them all at once when it resumes. The topic
/// and the client id.
pub fn queued_backlog(url: &str, prefix: &str, payloads: Vec<Vec<u8>>) -> (String, String) {
    let topic = aqueduct_test_support::unique_name(&format!("aq/{prefix}"));
    let client = aqueduct_test_support::unique_name(&format!("aq-{prefix}"));
    create_session(url, &client, &format!("{topic}/#"));
    publish_all(url, &format!("{topic}/items"), QoS::AtLeastOnce, payloads);
    (topic, client)
}

/// The payloads of items `0..n` ([`drain::item_json`]).
pub fn items(n: i64) -> Vec<Vec<u8>> {
    (0..n).map(|i| drain::item_json(i).into_bytes()).collect()
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
