//! A `PubSub` client: the three calls a subscriber makes and `Publish`,
//! over any tonic channel (what protoc's tonic plugin would generate,
//! written out).

use crate::SERVICE;
use crate::proto::{
    FetchRequest, FetchResponse, PublishRequest, PublishResponse, SchemaInfo, SchemaRequest,
    TopicInfo, TopicRequest,
};
use futures::Stream;
use http::uri::PathAndQuery;
use tonic::client::Grpc;
use tonic::codec::Streaming;
use tonic::transport::Channel;
use tonic::{GrpcMethod, IntoStreamingRequest, Request, Response, Status};
use tonic_prost::ProstCodec;

/// A client of `eventbus.v1.PubSub`.
#[derive(Debug, Clone)]
pub struct PubSubClient {
    inner: Grpc<Channel>,
}

impl PubSubClient {
    /// A client over `channel`.
    pub fn new(channel: Channel) -> PubSubClient {
        PubSubClient {
            inner: Grpc::new(channel),
        }
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("the Pub/Sub endpoint is not reachable: {e}")))
    }

    /// `Subscribe`: a stream of `FetchRequest`s in, of `FetchResponse`s out.
    pub async fn subscribe(
        &mut self,
        requests: Request<impl Stream<Item = FetchRequest> + Send + 'static>,
    ) -> Result<Response<Streaming<FetchResponse>>, Status> {
        self.ready().await?;
        let mut request = requests.into_streaming_request();
        request
            .extensions_mut()
            .insert(GrpcMethod::new(SERVICE, "Subscribe"));
        let path = PathAndQuery::from_static("/eventbus.v1.PubSub/Subscribe");
        self.inner
            .streaming(request, path, ProstCodec::default())
            .await
    }

    /// `GetSchema`: the Avro schema of an id.
    pub async fn get_schema(
        &mut self,
        mut request: Request<SchemaRequest>,
    ) -> Result<Response<SchemaInfo>, Status> {
        self.ready().await?;
        request
            .extensions_mut()
            .insert(GrpcMethod::new(SERVICE, "GetSchema"));
        let path = PathAndQuery::from_static("/eventbus.v1.PubSub/GetSchema");
        self.inner.unary(request, path, ProstCodec::default()).await
    }

    /// `GetTopic`: whether a topic exists and may be subscribed to.
    pub async fn get_topic(
        &mut self,
        mut request: Request<TopicRequest>,
    ) -> Result<Response<TopicInfo>, Status> {
        self.ready().await?;
        request
            .extensions_mut()
            .insert(GrpcMethod::new(SERVICE, "GetTopic"));
        let path = PathAndQuery::from_static("/eventbus.v1.PubSub/GetTopic");
        self.inner.unary(request, path, ProstCodec::default()).await
    }

    /// `Publish`: a batch of events for one topic; a result per event.
    pub async fn publish(
        &mut self,
        mut request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        self.ready().await?;
        request
            .extensions_mut()
            .insert(GrpcMethod::new(SERVICE, "Publish"));
        let path = PathAndQuery::from_static("/eventbus.v1.PubSub/Publish");
        self.inner.unary(request, path, ProstCodec::default()).await
    }
}
