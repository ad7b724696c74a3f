//! RabbitMQ's parts of the format checks (`support::formats`), with lapin:
//! durable queues, `amqp.consume` and `amqp.publish` to the default
//! exchange; the queue's ready count says what is unacknowledged (after the
//! consumer closed, unacknowledged messages are ready again).

use crate::support::formats::{Broker, Received};
use crate::support::rabbit::Rabbit;
use lapin::BasicProperties;
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeleteOptions};

pub struct Amqp {
    url: String,
    rabbit: Rabbit,
}

impl Amqp {
    pub fn connect(url: &str) -> Amqp {
        Amqp {
            url: url.to_string(),
            rabbit: Rabbit::connect(url),
        }
    }
}

impl Broker for Amqp {
    fn secret(&self) -> (&'static str, String) {
        ("AMQP_URL", self.url.clone())
    }

    fn system(&self, _input: &str) -> String {
        "system broker: amqp {\n  url = secret(\"AMQP_URL\")\n}\n".to_string()
    }

    fn places(&self, prefix: &str) -> (String, String) {
        let input = aqueduct_test_support::unique_name(&format!("{prefix}_in"));
        let output = aqueduct_test_support::unique_name(&format!("{prefix}_out"));
        self.rabbit.declare(&input);
        self.rabbit.declare(&output);
        (input, output)
    }

    fn source(&self, input: &str, format: &str) -> String {
        format!(r#"broker.consume("{input}", format: {format})"#)
    }

    fn target(&self, output: &str, format: &str) -> String {
        format!(r#"broker.publish("", "{output}", format: {format})"#)
    }

    fn send(&self, input: &str, payloads: &[&[u8]]) {
        self.rabbit.rt.block_on(async {
            for payload in payloads {
                self.rabbit
                    .channel
                    .basic_publish(
                        "".into(),
                        input.into(),
                        BasicPublishOptions::default(),
                        payload,
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await
                    .expect("publishes")
                    .await
                    .expect("confirmed");
            }
        });
    }

    /// Takes every message of the queue: its bytes and content type (the
    /// flow ended, so all it published is there).
    fn received(&self, output: &str, _n: usize) -> Vec<Received> {
        self.rabbit.rt.block_on(async {
            let mut out = Vec::new();
            while let Some(m) = self
                .rabbit
                .channel
                .basic_get(output.into(), BasicGetOptions { no_ack: true })
                .await
                .expect("basic.get")
            {
                let content_type = m
                    .delivery
                    .properties
                    .content_type()
                    .as_ref()
                    .map(|c| c.to_string());
                out.push((m.delivery.data.clone(), content_type));
            }
            out
        })
    }

    fn settled(&self, input: &str) -> bool {
        self.rabbit.ready(input) == 0
    }

    fn unacknowledged(&self, input: &str) -> usize {
        self.rabbit.ready(input) as usize
    }

    fn content_type(&self, format: &str) -> Option<String> {
        Some(
            match format {
                "text" => "text/plain; charset=utf-8",
                _ => "application/octet-stream",
            }
            .to_string(),
        )
    }

    fn delete(&self, queues: &[&str]) {
        self.rabbit.rt.block_on(async {
            for queue in queues {
                let _ = self
                    .rabbit
                    .channel
                    .queue_delete((*queue).into(), QueueDeleteOptions::default())
                    .await;
            }
        });
    }
}
