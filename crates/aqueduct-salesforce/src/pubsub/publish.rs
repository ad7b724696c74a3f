//! `publish` over the Pub/Sub API (`transport: "pubsub"`): each record is
//! a platform event, Avro-encoded with the topic's schema and sent with
//! the `Publish` RPC to `/event/<Name>__e`.
//!
//! The topic's schema id (`GetTopic`) and schema (`GetSchema`) are fetched
//! on the first write and kept. `CreatedDate` (now, epoch milliseconds) and
//! `CreatedById` (the token's user, from its identity URL) are filled when
//! the record does not set them: Salesforce's schemas require both. A record
//! that does not fit the schema, or whose payload is over 1 MB (Salesforce's
//! per-event limit), is rejected without being sent. The others go in
//! requests of at most 200 events and 3 MB of payload (Salesforce
//! recommends no more than 200 events and 3 MB a request; 4 MB fails the
//! call).
//!
//! Each `PublishResult` is matched to its event by `correlation_key` (the
//! event id this target generates; by position when the server leaves it
//! empty): an error rejects that record with its code and message (the
//! executor dead-letters it), the others are published. `UNAUTHENTICATED`
//! replaces the token and tries the request once more; `UNAVAILABLE` is
//! tried again up to 3 times after a growing wait. A request that still
//! fails fails the write when nothing of the group was published yet (the
//! flow's retry policy takes it from there); after an earlier request of
//! the group was published, it and the later records are rejected instead,
//! so the published ones are not sent twice.

use super::Decoder;
use super::conn::Conn;
use crate::client::Client;
use crate::convert::to_object;
use crate::describe::{Use, preflight};
use aqueduct_connectors::support::args::{label, req_str};
use aqueduct_pubsub::MAX_PUBLISHED;
use aqueduct_pubsub::client::PubSubClient;
use aqueduct_pubsub::proto::{
    ErrorCode, ProducerEvent, PublishRequest, PublishResult, SchemaRequest, TopicRequest,
};
use aqueduct_runtime::connector::{ConnectorError, OpContext, Rejected, Target};
use aqueduct_runtime::value::Value;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tonic::{Code, Request, Status};

/// Salesforce's largest event payload.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Most payload bytes aqueduct sends in one request (Salesforce's
/// recommendation; the gRPC limit is 4 MB).
const MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;

/// Tries of a request answered `UNAVAILABLE`.
const UNAVAILABLE_TRIES: u32 = 4;

/// The topic's schema, once fetched.
struct TopicSchema {
    id: String,
    schema: Arc<Decoder>,
}

/// A `publish` target over the Pub/Sub API.
pub(crate) struct PubSubPublish {
    conn: Conn,
    event: String,
    topic: String,
    label: String,
    rpc: PubSubClient,
    schema: Mutex<Option<Arc<TopicSchema>>>,
}

/// One event ready to send: the record's index and its event.
struct Prepared {
    index: usize,
    event: ProducerEvent,
}

impl PubSubPublish {
    pub(crate) fn build(
        cx: &OpContext,
        client: Arc<Client>,
    ) -> Result<PubSubPublish, ConnectorError> {
        let event = req_str(cx, "event")?;
        preflight(cx, &client, &event, Use::Insert)?;
        let conn = Conn::build(cx, client)?;
        let rpc = PubSubClient::new(conn.channel()?);
        Ok(PubSubPublish {
            topic: format!("/event/{event}"),
            event,
            label: label(cx),
            rpc,
            conn,
            schema: Mutex::new(None),
        })
    }

    fn system(&self) -> &str {
        &self.conn.client.system
    }

    /// A unary call (`what`, for messages) with the auth metadata, the
    /// token replaced and the call made once more on `UNAUTHENTICATED`,
    /// `UNAVAILABLE` tried again.
    async fn call<Q: Clone, A, F, Fut>(
        &self,
        what: &str,
        body: Q,
        send: F,
    ) -> Result<A, ConnectorError>
    where
        F: Fn(PubSubClient, Request<Q>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<A>, Status>>,
    {
        let mut refreshed = false;
        let mut tries = 0;
        loop {
            tries += 1;
            let mut request = Request::new(body.clone());
            let generation = self.conn.authorize(&mut request).await?;
            match send(self.rpc.clone(), request).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(s) if s.code() == Code::Unauthenticated && !refreshed => {
                    refreshed = true;
                    self.conn.client.invalidate(generation).await;
                }
                Err(s) if s.code() == Code::Unavailable && tries < UNAVAILABLE_TRIES => {
                    tracing::warn!(target = %self.label, call = what, error = %aqueduct_runtime::secrets::redact(s.message()), "Pub/Sub call unavailable; trying again");
                    tokio::time::sleep(Duration::from_millis(250 << tries)).await;
                }
                Err(s) => return Err(self.conn.status_error(what, &s)),
            }
        }
    }

    /// The topic's schema id and schema, fetched on first use.
    async fn schema(&self) -> Result<Arc<TopicSchema>, ConnectorError> {
        let mut cached = self.schema.lock().await;
        if let Some(s) = cached.as_ref() {
            return Ok(s.clone());
        }
        let topic = TopicRequest {
            topic_name: self.topic.clone(),
        };
        let what = format!("GetTopic {}", self.topic);
        let info = self
            .call(
                &what,
                topic,
                |mut rpc, r| async move { rpc.get_topic(r).await },
            )
            .await?;
        if !info.can_publish {
            return Err(ConnectorError::Permanent(format!(
                "`{}`: Pub/Sub: this user may not publish to {}",
                self.system(),
                self.topic
            )));
        }
        let request = SchemaRequest {
            schema_id: info.schema_id.clone(),
        };
        let what = format!("GetSchema {}", info.schema_id);
        let json = self
            .call(&what, request, |mut rpc, r| async move {
                rpc.get_schema(r).await
            })
            .await?
            .schema_json;
        let schema = Decoder::parse(&json).map_err(|e| {
            ConnectorError::Permanent(format!(
                "`{}`: Pub/Sub schema {} of {}: {e}",
                self.system(),
                info.schema_id,
                self.topic
            ))
        })?;
        let topic = Arc::new(TopicSchema {
            id: info.schema_id,
            schema: Arc::new(schema),
        });
        *cached = Some(topic.clone());
        Ok(topic)
    }

    /// The record as an event of `schema`, or why it cannot be one.
    fn prepare(
        &self,
        schema: &TopicSchema,
        record: &Value,
        user: &str,
        now_ms: i64,
    ) -> Result<ProducerEvent, String> {
        let mut map = to_object(record);
        let names = schema.schema.field_names();
        if names.contains(&"CreatedDate") && !map.contains_key("CreatedDate") {
            map.insert("CreatedDate".into(), serde_json::json!(now_ms));
        }
        if names.contains(&"CreatedById") && !map.contains_key("CreatedById") {
            map.insert("CreatedById".into(), serde_json::json!(user));
        }
        let payload = schema
            .schema
            .encode(&serde_json::Value::Object(map))
            .map_err(|e| format!("the record does not fit schema {}: {e}", schema.id))?;
        if payload.len() > MAX_EVENT_BYTES {
            return Err(format!(
                "the event is {} bytes of Avro; Salesforce takes at most {MAX_EVENT_BYTES}",
                payload.len()
            ));
        }
        Ok(ProducerEvent {
            id: event_id(),
            schema_id: schema.id.clone(),
            payload,
            headers: Vec::new(),
        })
    }

    /// One `Publish` of `group`; the rejected records.
    async fn publish(&self, group: &[Prepared]) -> Result<Vec<Rejected>, ConnectorError> {
        let request = PublishRequest {
            topic_name: self.topic.clone(),
            events: group.iter().map(|p| p.event.clone()).collect(),
            auth_refresh: String::new(),
        };
        let what = format!("Publish {}", self.topic);
        let answer = self
            .call(
                &what,
                request,
                |mut rpc, r| async move { rpc.publish(r).await },
            )
            .await?;
        if answer.results.len() != group.len() {
            return Err(ConnectorError::Permanent(format!(
                "`{}`: Pub/Sub Publish {}: {} results for {} events",
                self.system(),
                self.topic,
                answer.results.len(),
                group.len()
            )));
        }
        let by_key = answer.results.iter().all(|r| !r.correlation_key.is_empty());
        let mut rejected = Vec::new();
        for (n, sent) in group.iter().enumerate() {
            let result = if by_key {
                answer
                    .results
                    .iter()
                    .find(|r| r.correlation_key == sent.event.id)
            } else {
                answer.results.get(n)
            };
            if let Some(error) = refusal(result) {
                rejected.push(Rejected {
                    index: sent.index,
                    error: ConnectorError::Permanent(aqueduct_runtime::secrets::redact(&format!(
                        "`{}`: publish {} refused the record: {error}",
                        self.system(),
                        self.event
                    ))),
                });
            }
        }
        Ok(rejected)
    }

    async fn write_all(&self, records: &[Value]) -> Result<Vec<Rejected>, ConnectorError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let schema = self.schema().await?;
        let user = self.conn.client.token().await?.user_id.unwrap_or_default();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut rejected = Vec::new();
        let mut groups: Vec<Vec<Prepared>> = vec![Vec::new()];
        let mut bytes = 0;
        for (index, record) in records.iter().enumerate() {
            let event = match self.prepare(&schema, record, &user, now_ms) {
                Ok(e) => e,
                Err(reason) => {
                    rejected.push(Rejected {
                        index,
                        error: ConnectorError::Permanent(format!(
                            "`{}`: publish {}: {reason}",
                            self.system(),
                            self.event
                        )),
                    });
                    continue;
                }
            };
            let full = groups.last().is_some_and(|g| {
                g.len() >= MAX_PUBLISHED || bytes + event.payload.len() > MAX_REQUEST_BYTES
            });
            if full {
                groups.push(Vec::new());
                bytes = 0;
            }
            bytes += event.payload.len();
            if let Some(g) = groups.last_mut() {
                g.push(Prepared { index, event });
            }
        }
        let mut published = false;
        for (n, group) in groups.iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            match self.publish(group).await {
                Ok(r) => {
                    published = true;
                    rejected.extend(r);
                }
                Err(e) if !published => return Err(e),
                Err(e) => {
                    tracing::warn!(target = %self.label, error = %e, "A Pub/Sub Publish failed after earlier ones of the group were published; the rest of the group goes to the dead letter");
                    for rest in &groups[n..] {
                        rejected.extend(rest.iter().map(|p| Rejected {
                            index: p.index,
                            error: e.clone(),
                        }));
                    }
                    break;
                }
            }
        }
        rejected.sort_by_key(|r| r.index);
        Ok(rejected)
    }
}

/// A fresh event id (UUID-shaped), the key results are matched by.
fn event_id() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Why a result refuses its event (`CODE: message`); `None` when published.
fn refusal(result: Option<&PublishResult>) -> Option<String> {
    let Some(result) = result else {
        return Some("UNKNOWN: the answer has no result for this event".into());
    };
    let error = result.error.as_ref()?;
    let code = match ErrorCode::try_from(error.code) {
        Ok(ErrorCode::Publish) => "PUBLISH".to_string(),
        Ok(ErrorCode::Commit) => "COMMIT".to_string(),
        Ok(ErrorCode::Unknown) => "UNKNOWN".to_string(),
        Err(_) => format!("error code {}", error.code),
    };
    Some(format!("{code}: {}", error.msg))
}

impl Target for PubSubPublish {
    fn write<'a>(&'a self, records: &'a [Value]) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            match self.write_all(records).await?.into_iter().next() {
                None => Ok(()),
                Some(r) => Err(r.error),
            }
        })
    }

    fn write_partial<'a>(
        &'a self,
        records: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<Rejected>, ConnectorError>> {
        Box::pin(self.write_all(records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqueduct_pubsub::proto::Error;

    #[test]
    fn results_name_their_code_and_message() {
        let ok = PublishResult {
            replay_id: vec![1],
            error: None,
            correlation_key: "a".into(),
        };
        assert_eq!(refusal(Some(&ok)), None);
        let refused = PublishResult {
            error: Some(Error {
                code: ErrorCode::Publish as i32,
                msg: "no".into(),
            }),
            ..ok
        };
        assert_eq!(refusal(Some(&refused)).as_deref(), Some("PUBLISH: no"));
        assert!(refusal(None).is_some());
        let a = event_id();
        assert_eq!(a.len(), 36);
        assert_ne!(a, event_id());
    }
}
