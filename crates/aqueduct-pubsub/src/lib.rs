//! Salesforce's Pub/Sub API (`eventbus.v1.PubSub`, gRPC over HTTP/2):
//! its messages, a client (feature `client`) and a server skeleton
//! (feature `server`).
//!
//! The messages are written by hand from Salesforce's public
//! `pubsub_api.proto` (field numbers and types as there) with
//! `#[derive(prost::Message)]`, because the machines that build aqueduct
//! have no `protoc` and a pure-Rust proto compiler in build.rs would cost
//! more compile time than these few structs. Only the calls a subscriber
//! and a publisher need are here: `Subscribe`, `GetSchema`, `GetTopic` and
//! `Publish`.
#![warn(missing_docs)]

#[cfg(feature = "client")]
pub mod client;
pub mod proto;
#[cfg(feature = "server")]
pub mod server;

/// The gRPC service name.
pub const SERVICE: &str = "eventbus.v1.PubSub";

/// Salesforce's public endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://api.pubsub.salesforce.com:7443";

/// Most events one `FetchRequest` may ask for.
pub const MAX_REQUESTED: i32 = 100;

/// Most events aqueduct sends in one `PublishRequest`. The protocol notes
/// aqueduct is built from give no per-request event limit for `Publish`;
/// 200 is the batch size of Salesforce's other per-call write APIs (sObject
/// Collections, SOAP `create`).
pub const MAX_PUBLISHED: usize = 200;

/// The metadata headers every call carries: access token, instance URL
/// and org id.
pub const ACCESS_TOKEN: &str = "accesstoken";
/// See [`ACCESS_TOKEN`].
pub const INSTANCE_URL: &str = "instanceurl";
/// See [`ACCESS_TOKEN`].
pub const TENANT_ID: &str = "tenantid";

/// A replay id as the bytes the API carries: Salesforce's replay ids are
/// 8-byte big-endian longs (its Java and Python examples read them so),
/// though clients must treat them as opaque.
pub fn replay_bytes(id: i64) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

/// The number inside replay id bytes, when they are 8 bytes long.
pub fn replay_number(bytes: &[u8]) -> Option<i64> {
    <[u8; 8]>::try_from(bytes).ok().map(i64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_ids_round_trip_as_big_endian_longs() {
        assert_eq!(replay_bytes(258), vec![0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(replay_number(&replay_bytes(18_098_167)), Some(18_098_167));
        assert_eq!(replay_number(&[1, 2, 3]), None);
    }
}
