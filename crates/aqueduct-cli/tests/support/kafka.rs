//! The independent Kafka client (rdkafka) of the `kafka` tests: topics,
//! a confirmed producer, and the broker's view of a consumer group (its
//! committed offsets, the ends of the partitions). Each test file adds
//! the reads it needs in its own `impl Kafka` block.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::time::Duration;

/// Longest wait for one request to the broker.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A message the independent client sends: key, headers, payload.
pub type Outgoing = (Option<String>, Vec<(&'static str, &'static str)>, String);

/// An rdkafka producer on `bootstrap`, and the runtime it runs on.
pub struct Kafka {
    /// The runtime the client's futures are blocked on.
    pub rt: tokio::runtime::Runtime,
    /// `host:port` of the broker.
    pub bootstrap: String,
    producer: FutureProducer,
}

impl Kafka {
    /// A client of the broker at `url` (`kafka://host:port`).
    pub fn connect(url: &str) -> Kafka {
        let bootstrap = url.trim_start_matches("kafka://").to_string();
        let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let producer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("acks", "all")
            .create()
            .expect("a producer");
        Kafka {
            rt,
            bootstrap,
            producer,
        }
    }

    /// A new topic named after `prefix` with `partitions`, and a new
    /// group name: (topic, group).
    pub fn new_topic(&self, prefix: &str, partitions: i32) -> (String, String) {
        let topic = aqueduct_test_support::unique_name(prefix);
        self.create_topic(&topic, partitions);
        (topic, aqueduct_test_support::unique_name("aq_group"))
    }

    /// Creates `topic` with `partitions`.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("an admin client");
        let results = self
            .rt
            .block_on(admin.create_topics(
                &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
            ))
            .expect("creates the topic");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("topic {t}: {e}"));
        }
    }

    /// Produces `(key, headers, payload)` messages and waits for each
    /// delivery, 500 in flight at most.
    pub fn produce(&self, topic: &str, messages: impl IntoIterator<Item = Outgoing>) {
        self.rt.block_on(async {
            let mut pending = Vec::new();
            for (key, headers, payload) in messages {
                let mut owned = OwnedHeaders::new();
                for (name, value) in headers {
                    owned = owned.insert(Header {
                        key: name,
                        value: Some(value),
                    });
                }
                let producer = &self.producer;
                pending.push(async move {
                    let mut record = FutureRecord::<String, String>::to(topic)
                        .payload(&payload)
                        .headers(owned);
                    if let Some(key) = &key {
                        record = record.key(key);
                    }
                    producer.send(record, TIMEOUT).await
                });
                if pending.len() >= 500 {
                    for d in futures::future::join_all(pending.drain(..)).await {
                        d.unwrap_or_else(|(e, _)| panic!("delivered: {e}"));
                    }
                }
            }
            for d in futures::future::join_all(pending).await {
                d.unwrap_or_else(|(e, _)| panic!("delivered: {e}"));
            }
        });
    }

    /// The offsets `group` committed on each partition (-1: none).
    pub fn committed(&self, topic: &str, group: &str, partitions: i32) -> Vec<i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .create()
            .expect("a consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let committed = consumer
            .committed_offsets(tpl, TIMEOUT)
            .expect("committed offsets");
        (0..partitions)
            .map(
                |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => -1,
                },
            )
            .collect()
    }

    /// One past the last offset of each partition.
    pub fn ends(&self, topic: &str, partitions: i32) -> Vec<i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("a consumer");
        (0..partitions)
            .map(|p| {
                consumer
                    .fetch_watermarks(topic, p, TIMEOUT)
                    .expect("watermarks")
                    .1
            })
            .collect()
    }
}
