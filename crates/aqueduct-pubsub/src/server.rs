//! A `PubSub` service skeleton: an implementation of [`PubSub`] becomes an
//! HTTP service (e.g. an axum route) with [`PubSubServer`]. Methods it does
//! not implement answer `UNIMPLEMENTED`, as gRPC servers do.

use crate::proto::{
    FetchRequest, FetchResponse, PublishRequest, PublishResponse, SchemaInfo, SchemaRequest,
    TopicInfo, TopicRequest,
};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::server::Grpc;
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;
use tower_service::Service;

/// The stream `Subscribe` answers with.
pub type FetchStream = BoxStream<'static, Result<FetchResponse, Status>>;

/// What a Pub/Sub server does.
pub trait PubSub: Send + Sync + 'static {
    /// `Subscribe`.
    fn subscribe(
        &self,
        request: Request<Streaming<FetchRequest>>,
    ) -> BoxFuture<'static, Result<Response<FetchStream>, Status>>;
    /// `GetSchema`.
    fn get_schema(
        &self,
        request: Request<SchemaRequest>,
    ) -> BoxFuture<'static, Result<Response<SchemaInfo>, Status>>;
    /// `GetTopic`.
    fn get_topic(
        &self,
        request: Request<TopicRequest>,
    ) -> BoxFuture<'static, Result<Response<TopicInfo>, Status>>;
    /// `Publish`.
    fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> BoxFuture<'static, Result<Response<PublishResponse>, Status>>;
}

/// A [`PubSub`] as an HTTP service answering `/eventbus.v1.PubSub/*`.
pub struct PubSubServer<T> {
    inner: Arc<T>,
}

impl<T> PubSubServer<T> {
    /// Serves `inner`.
    pub fn new(inner: Arc<T>) -> PubSubServer<T> {
        PubSubServer { inner }
    }
}

impl<T> Clone for PubSubServer<T> {
    fn clone(&self) -> Self {
        PubSubServer {
            inner: self.inner.clone(),
        }
    }
}

struct Subscribe<T>(Arc<T>);
struct GetSchema<T>(Arc<T>);
struct GetTopic<T>(Arc<T>);
struct Publish<T>(Arc<T>);

impl<T: PubSub> Service<Request<Streaming<FetchRequest>>> for Subscribe<T> {
    type Response = Response<FetchStream>;
    type Error = Status;
    type Future = BoxFuture<'static, Result<Self::Response, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Streaming<FetchRequest>>) -> Self::Future {
        self.0.subscribe(request)
    }
}

impl<T: PubSub> Service<Request<SchemaRequest>> for GetSchema<T> {
    type Response = Response<SchemaInfo>;
    type Error = Status;
    type Future = BoxFuture<'static, Result<Self::Response, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<SchemaRequest>) -> Self::Future {
        self.0.get_schema(request)
    }
}

impl<T: PubSub> Service<Request<TopicRequest>> for GetTopic<T> {
    type Response = Response<TopicInfo>;
    type Error = Status;
    type Future = BoxFuture<'static, Result<Self::Response, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<TopicRequest>) -> Self::Future {
        self.0.get_topic(request)
    }
}

impl<T: PubSub> Service<Request<PublishRequest>> for Publish<T> {
    type Response = Response<PublishResponse>;
    type Error = Status;
    type Future = BoxFuture<'static, Result<Self::Response, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<PublishRequest>) -> Self::Future {
        self.0.publish(request)
    }
}

impl<T, B> Service<http::Request<B>> for PubSubServer<T>
where
    T: PubSub,
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            // One codec per method: each decodes its own request type.
            Ok(match request.uri().path() {
                "/eventbus.v1.PubSub/Subscribe" => {
                    Grpc::new(ProstCodec::default())
                        .streaming(Subscribe(inner), request)
                        .await
                }
                "/eventbus.v1.PubSub/GetSchema" => {
                    Grpc::new(ProstCodec::default())
                        .unary(GetSchema(inner), request)
                        .await
                }
                "/eventbus.v1.PubSub/GetTopic" => {
                    Grpc::new(ProstCodec::default())
                        .unary(GetTopic(inner), request)
                        .await
                }
                "/eventbus.v1.PubSub/Publish" => {
                    Grpc::new(ProstCodec::default())
                        .unary(Publish(inner), request)
                        .await
                }
                other => Status::unimplemented(format!("{other} is not served here")).into_http(),
            })
        })
    }
}
