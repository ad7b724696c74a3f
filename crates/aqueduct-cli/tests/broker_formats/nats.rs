//! NATS's parts of the format checks (`support::formats`), with
//! async-nats: a JetStream stream per check capturing `<name>.>`, read by
//! `nats.subscribe` with the durable `relay` on `<name>.in` and written by
//! `nats.publish` on `<name>.out`; the durable's pending and
//! unacknowledged counts say what is unacknowledged.

use crate::support::formats::{Broker, Received};
use async_nats::jetstream::{self, stream};

pub struct Nats {
    url: String,
    rt: tokio::runtime::Runtime,
    js: jetstream::Context,
}

/// The durable consumer the flows read through.
const DURABLE: &str = "relay";

/// The stream of a subject `<name>.in` or `<name>.out`.
fn stream_of(subject: &str) -> &str {
    subject
        .rsplit_once('.')
        .map(|(name, _)| name)
        .unwrap_or(subject)
}

impl Nats {
    pub fn connect(url: &str) -> Nats {
        let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let client = rt
            .block_on(async_nats::connect(url))
            .expect("connects to NATS");
        let js = {
            let _inside = rt.enter();
            jetstream::new(client)
        };
        Nats {
            url: url.to_string(),
            rt,
            js,
        }
    }

    /// (messages the durable has not delivered, delivered and not acked).
    fn consumer_state(&self, input: &str) -> (u64, usize) {
        self.rt.block_on(async {
            let stream = self.js.get_stream(stream_of(input)).await.expect("stream");
            let mut consumer: jetstream::consumer::PullConsumer =
                stream.get_consumer(DURABLE).await.expect("consumer");
            let info = consumer.info().await.expect("consumer info");
            (info.num_pending, info.num_ack_pending)
        })
    }
}

impl Broker for Nats {
    fn secret(&self) -> (&'static str, String) {
        ("NATS_URL", self.url.clone())
    }

    fn system(&self, _input: &str) -> String {
        "system broker: nats {\n  url = secret(\"NATS_URL\")\n}\n".to_string()
    }

    fn places(&self, prefix: &str) -> (String, String) {
        let name = aqueduct_test_support::unique_name(prefix);
        self.rt.block_on(async {
            self.js
                .create_stream(stream::Config {
                    name: name.clone(),
                    subjects: vec![format!("{name}.>")],
                    ..Default::default()
                })
                .await
                .expect("creates the stream");
        });
        (format!("{name}.in"), format!("{name}.out"))
    }

    fn source(&self, input: &str, format: &str) -> String {
        format!(r#"broker.subscribe("{input}", durable: "{DURABLE}", format: {format})"#)
    }

    fn target(&self, output: &str, format: &str) -> String {
        format!(r#"broker.publish("{output}", format: {format})"#)
    }

    fn send(&self, input: &str, payloads: &[&[u8]]) {
        self.rt.block_on(async {
            for payload in payloads {
                self.js
                    .publish(input.to_string(), payload.to_vec().into())
                    .await
                    .expect("publishes")
                    .await
                    .expect("stored");
            }
        });
    }

    /// The messages the stream holds on `output`, in order (`publish`
    /// returned only once they were stored).
    fn received(&self, output: &str, _n: usize) -> Vec<Received> {
        self.rt.block_on(async {
            let mut stream = self.js.get_stream(stream_of(output)).await.expect("stream");
            let info = stream.info().await.expect("info");
            let (first, last) = (info.state.first_sequence, info.state.last_sequence);
            let mut out = Vec::new();
            for seq in first..=last {
                let m = stream.get_raw_message(seq).await.expect("message");
                if m.subject.as_str() == output {
                    out.push((m.payload.to_vec(), None));
                }
            }
            out
        })
    }

    fn settled(&self, input: &str) -> bool {
        self.consumer_state(input) == (0, 0)
    }

    fn unacknowledged(&self, input: &str) -> usize {
        let (pending, unacked) = self.consumer_state(input);
        pending as usize + unacked
    }

    fn delete(&self, places: &[&str]) {
        if let Some(subject) = places.first() {
            self.rt.block_on(async {
                let _ = self.js.delete_stream(stream_of(subject)).await;
            });
        }
    }
}
