//! The `eventbus.v1` messages a subscriber and a publisher exchange, with
//! the field numbers and types of `pubsub_api.proto` (PublishStream and
//! ManagedSubscribe are left out: aqueduct does not call them).

/// What `GetTopic` answers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TopicInfo {
    /// The topic, e.g. `/data/AccountChangeEvent`.
    #[prost(string, tag = "1")]
    pub topic_name: String,
    /// The org's id.
    #[prost(string, tag = "2")]
    pub tenant_guid: String,
    /// Whether publishing is allowed.
    #[prost(bool, tag = "3")]
    pub can_publish: bool,
    /// Whether subscribing is allowed.
    #[prost(bool, tag = "4")]
    pub can_subscribe: bool,
    /// The topic's current schema.
    #[prost(string, tag = "5")]
    pub schema_id: String,
    /// Traces the call in Salesforce's logs.
    #[prost(string, tag = "6")]
    pub rpc_id: String,
}

/// `GetTopic`'s request; the org comes from the call's metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TopicRequest {
    /// The topic.
    #[prost(string, tag = "1")]
    pub topic_name: String,
}

/// A key/value header of an event (reserved by Salesforce).
#[derive(Clone, PartialEq, prost::Message)]
pub struct EventHeader {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// An event: its id, the id of the schema its payload was written with,
/// and the Avro binary payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProducerEvent {
    /// The event's id (`EventUuid` for platform events).
    #[prost(string, tag = "1")]
    pub id: String,
    /// The writer schema (fetch it with `GetSchema`).
    #[prost(string, tag = "2")]
    pub schema_id: String,
    /// Avro binary, no container header.
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
    /// Reserved.
    #[prost(message, repeated, tag = "4")]
    pub headers: Vec<EventHeader>,
}

/// An event as a subscriber receives it, with its replay id.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConsumerEvent {
    /// The event.
    #[prost(message, optional, tag = "1")]
    pub event: Option<ProducerEvent>,
    /// Where a new subscription resumes after this event (opaque bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub replay_id: Vec<u8>,
}

/// Where a subscription starts; honoured on the first `FetchRequest` only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ReplayPreset {
    /// After the newest event (the default).
    Latest = 0,
    /// The oldest retained event.
    Earliest = 1,
    /// After `replay_id`.
    Custom = 2,
}

/// A request on the `Subscribe` stream: the first names the topic and the
/// start; each asks for up to 100 more events (flow control).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FetchRequest {
    /// The topic (first request; later ones may leave it empty).
    #[prost(string, tag = "1")]
    pub topic_name: String,
    /// Where to start.
    #[prost(enumeration = "ReplayPreset", tag = "2")]
    pub replay_preset: i32,
    /// With `CUSTOM`: start after this replay id.
    #[prost(bytes = "vec", tag = "3")]
    pub replay_id: Vec<u8>,
    /// How many more events the client can take.
    #[prost(int32, tag = "4")]
    pub num_requested: i32,
    /// For Salesforce's internal use.
    #[prost(string, tag = "5")]
    pub auth_refresh: String,
}

/// A batch of events on the `Subscribe` stream (empty as a keepalive).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FetchResponse {
    /// The events.
    #[prost(message, repeated, tag = "1")]
    pub events: Vec<ConsumerEvent>,
    /// The newest replay id of the subscription.
    #[prost(bytes = "vec", tag = "2")]
    pub latest_replay_id: Vec<u8>,
    /// Traces the call.
    #[prost(string, tag = "3")]
    pub rpc_id: String,
    /// Events still owed to the client from its requests.
    #[prost(int32, tag = "4")]
    pub pending_num_requested: i32,
}

/// `GetSchema`'s request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SchemaRequest {
    /// The schema id an event carries.
    #[prost(string, tag = "1")]
    pub schema_id: String,
}

/// An Avro schema.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SchemaInfo {
    /// The Avro schema as JSON.
    #[prost(string, tag = "1")]
    pub schema_json: String,
    /// Its id (a fingerprint).
    #[prost(string, tag = "2")]
    pub schema_id: String,
    /// Traces the call.
    #[prost(string, tag = "3")]
    pub rpc_id: String,
}

/// `Publish`'s request: a batch of events for one topic.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PublishRequest {
    /// The topic, e.g. `/event/Order_Placed__e`.
    #[prost(string, tag = "1")]
    pub topic_name: String,
    /// The events, each Avro-encoded with the topic's schema.
    #[prost(message, repeated, tag = "2")]
    pub events: Vec<ProducerEvent>,
    /// For Salesforce's internal use.
    #[prost(string, tag = "3")]
    pub auth_refresh: String,
}

/// Why one event of a `Publish` was not published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ErrorCode {
    /// Not said.
    Unknown = 0,
    /// The event could not be published.
    Publish = 1,
    /// An unrecoverable commit error.
    Commit = 2,
}

/// An error of one event.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Error {
    /// What kind of error.
    #[prost(enumeration = "ErrorCode", tag = "1")]
    pub code: i32,
    /// What happened.
    #[prost(string, tag = "2")]
    pub msg: String,
}

/// The outcome of one event of a `Publish`: a replay id, or an error.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PublishResult {
    /// The published event's replay id.
    #[prost(bytes = "vec", tag = "1")]
    pub replay_id: Vec<u8>,
    /// Set when the event was not published.
    #[prost(message, optional, tag = "2")]
    pub error: Option<Error>,
    /// The `id` of the `ProducerEvent` this result is for.
    #[prost(string, tag = "3")]
    pub correlation_key: String,
}

/// What `Publish` answers: a result per event.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PublishResponse {
    /// The results.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<PublishResult>,
    /// The schema the events were written with.
    #[prost(string, tag = "2")]
    pub schema_id: String,
    /// Traces the call.
    #[prost(string, tag = "3")]
    pub rpc_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_fetch_request_has_the_field_numbers_of_the_proto() {
        // topic_name (1, length-delimited), replay_preset (2, varint),
        // replay_id (3, length-delimited), num_requested (4, varint):
        // the bytes protoc-generated code writes for these values.
        let request = FetchRequest {
            topic_name: "/event/A__e".into(),
            replay_preset: ReplayPreset::Custom as i32,
            replay_id: vec![0, 7],
            num_requested: 100,
            auth_refresh: String::new(),
        };
        let mut expected = vec![0x0a, 11];
        expected.extend_from_slice(b"/event/A__e");
        expected.extend_from_slice(&[0x10, 2, 0x1a, 2, 0, 7, 0x20, 100]);
        assert_eq!(request.encode_to_vec(), expected);
    }

    #[test]
    fn a_publish_result_has_the_field_numbers_of_the_proto() {
        // replay_id (1, bytes), error (2, message: code 1 varint, msg 2
        // string), correlation_key (3, string)
        let result = PublishResult {
            replay_id: vec![9],
            error: Some(Error {
                code: ErrorCode::Publish as i32,
                msg: "no".into(),
            }),
            correlation_key: "k".into(),
        };
        let expected = vec![
            0x0a, 1, 9, 0x12, 6, 0x08, 1, 0x12, 2, b'n', b'o', 0x1a, 1, b'k',
        ];
        assert_eq!(result.encode_to_vec(), expected);
    }
}
