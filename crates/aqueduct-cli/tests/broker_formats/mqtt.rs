//! Mosquitto's parts of the format checks (`support::formats`), with
//! rumqttc: `mqtt.subscribe` at QoS 1 on `aq/<name>/in` under a client id
//! of its own (`aq-<name>`, a persistent session) and `mqtt.publish` at
//! QoS 1 on `aq/<name>/out`. A new session gets nothing published before
//! it subscribed, so the input is published once the flow logged
//! `subscribed` (after the broker's SUBACK), and the output is subscribed
//! before the flow starts. After the stop, resuming the session says what
//! it left unacknowledged.

use crate::support::formats::{Broker, Received};
use crate::support::mqtt::{Listener, publish_all, unacknowledged};
use crate::support::{Running, wait_until};
use rumqttc::QoS;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub struct Mqtt {
    url: String,
    /// The subscribers of [`Broker::listen`], by topic.
    listening: Mutex<HashMap<String, Listener>>,
}

impl Mqtt {
    pub fn new(url: &str) -> Mqtt {
        Mqtt {
            url: url.to_string(),
            listening: Mutex::new(HashMap::new()),
        }
    }
}

/// The client id of the flow reading `aq/<name>/in`.
fn client_id(input: &str) -> String {
    format!("aq-{}", input.split('/').nth(1).unwrap_or(input))
}

impl Broker for Mqtt {
    fn secret(&self) -> (&'static str, String) {
        ("MQTT_URL", self.url.clone())
    }

    fn system(&self, input: &str) -> String {
        format!(
            "system broker: mqtt {{\n  url = secret(\"MQTT_URL\")\n  client_id = \"{}\"\n}}\n",
            client_id(input)
        )
    }

    fn places(&self, prefix: &str) -> (String, String) {
        let name = aqueduct_test_support::unique_name(prefix);
        (format!("aq/{name}/in"), format!("aq/{name}/out"))
    }

    fn source(&self, input: &str, format: &str) -> String {
        format!(r#"broker.subscribe("{input}", 1, format: {format})"#)
    }

    fn target(&self, output: &str, format: &str) -> String {
        format!(r#"broker.publish("{output}", 1, format: {format})"#)
    }

    fn listen(&self, output: &str) {
        let listener = Listener::start(&self.url, output, QoS::AtLeastOnce);
        if let Ok(mut listening) = self.listening.lock() {
            listening.insert(output.to_string(), listener);
        }
    }

    fn started(&self, running: &mut Running, _input: &str) {
        let subscribed = wait_until(Duration::from_secs(20), || {
            running.stderr().contains("subscribed")
        });
        assert!(subscribed, "not subscribed; stderr:\n{}", running.stderr());
    }

    fn send(&self, input: &str, payloads: &[&[u8]]) {
        publish_all(
            &self.url,
            input,
            QoS::AtLeastOnce,
            payloads.iter().map(|p| p.to_vec()).collect(),
        );
    }

    fn received(&self, output: &str, n: usize) -> Vec<Received> {
        let listening = self.listening.lock().expect("the listeners");
        let listener = listening.get(output).expect("listening on the output");
        listener
            .received(n)
            .into_iter()
            .map(|(payload, _qos)| (payload, None))
            .collect()
    }

    fn unacknowledged(&self, input: &str) -> usize {
        unacknowledged(&self.url, &client_id(input))
    }
}
