//! The gRPC connection: one tonic channel serves containerd's native services and CRI's
//! RuntimeService. Every call goes through [`Client::call`], which bounds it and maps the gRPC
//! status to an anyctr error.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyctr_core::{Error, ErrorKind, Result};

pub use crate::errors::status_error;
use containerd_client::services::v1::{
    containers_client::ContainersClient, content_client::ContentClient, events_client::EventsClient,
    images_client::ImagesClient, leases_client::LeasesClient, namespaces_client::NamespacesClient,
    tasks_client::TasksClient, version_client::VersionClient,
};
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

/// Big enough for a `Containers.List` page of large specs; tonic's default is 4 MiB.
const MAX_MESSAGE: usize = 64 << 20;

/// The gRPC metadata key containerd reads the namespace from.
const NAMESPACE_HEADER: &str = "containerd-namespace";

/// A connected containerd, shared by every part of the engine.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    call_timeout: Duration,
    engine: Arc<str>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("engine", &self.engine).field("call_timeout", &self.call_timeout).finish()
    }
}

impl Client {
    /// Connects to the socket (a path this process can open), bounded by `call_timeout`.
    pub async fn connect(socket: &Path, call_timeout: Duration, engine: &str) -> Result<Self> {
        let path = socket.to_path_buf();
        let endpoint = Endpoint::try_from("http://[::]")
            .map_err(|e| Error::unexpected(format!("bad endpoint: {e}")).with_source(e))?
            .connect_timeout(call_timeout);
        let connect = endpoint.connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        }));
        let channel = match tokio::time::timeout(call_timeout, connect).await {
            Ok(Ok(channel)) => channel,
            Ok(Err(e)) => {
                return Err(Error::new(
                    ErrorKind::EngineUnavailable,
                    format!("cannot connect to containerd at {}: {e}", socket.display()),
                )
                .with_engine(engine)
                .with_operation("connect")
                .with_source(e));
            }
            Err(_) => return Err(Error::timeout("connect", call_timeout).with_engine(engine)),
        };
        Ok(Client { channel, call_timeout, engine: engine.into() })
    }

    /// The engine name used in errors.
    pub fn engine(&self) -> &str {
        &self.engine
    }

    /// The bound on ordinary calls.
    pub fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    /// The shared channel (for clients this crate does not wrap).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The Containers service.
    pub fn containers(&self) -> ContainersClient<Channel> {
        ContainersClient::new(self.channel()).max_decoding_message_size(MAX_MESSAGE)
    }

    /// The Tasks service.
    pub fn tasks(&self) -> TasksClient<Channel> {
        TasksClient::new(self.channel()).max_decoding_message_size(MAX_MESSAGE)
    }

    /// The Namespaces service.
    pub fn namespaces(&self) -> NamespacesClient<Channel> {
        NamespacesClient::new(self.channel())
    }

    /// The Version service.
    pub fn version(&self) -> VersionClient<Channel> {
        VersionClient::new(self.channel())
    }

    /// The Events service.
    pub fn events(&self) -> EventsClient<Channel> {
        EventsClient::new(self.channel()).max_decoding_message_size(MAX_MESSAGE)
    }

    /// The Images service.
    pub fn images(&self) -> ImagesClient<Channel> {
        ImagesClient::new(self.channel()).max_decoding_message_size(MAX_MESSAGE)
    }

    /// The Content service.
    pub fn content(&self) -> ContentClient<Channel> {
        ContentClient::new(self.channel()).max_decoding_message_size(MAX_MESSAGE)
    }

    /// The Leases service.
    pub fn leases(&self) -> LeasesClient<Channel> {
        LeasesClient::new(self.channel())
    }

    /// CRI's RuntimeService on the same channel.
    pub fn cri(&self) -> RuntimeServiceClient<Channel> {
        RuntimeServiceClient::new(self.channel()).max_decoding_message_size(MAX_MESSAGE)
    }

    /// CRI's ImageService on the same channel.
    pub fn cri_images(&self) -> ImageServiceClient<Channel> {
        ImageServiceClient::new(self.channel()).max_decoding_message_size(MAX_MESSAGE)
    }

    /// A request in `namespace` (none for namespace-less services), carrying the call deadline.
    pub fn request<T>(&self, namespace: Option<&str>, message: T) -> Request<T> {
        let mut req = Request::new(message);
        req.set_timeout(self.call_timeout);
        if let Some(ns) = namespace {
            insert_namespace(&mut req, ns);
        }
        req
    }

    /// A request without a deadline, for calls that wait for something (Tasks.Wait, event streams).
    pub fn unbounded_request<T>(&self, namespace: Option<&str>, message: T) -> Request<T> {
        let mut req = Request::new(message);
        if let Some(ns) = namespace {
            insert_namespace(&mut req, ns);
        }
        req
    }

    /// Runs one call bounded by the call timeout, mapping its status to an anyctr error.
    pub async fn call<T, F>(&self, operation: &'static str, call: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<Response<T>, Status>>,
    {
        self.call_within(operation, self.call_timeout, call).await
    }

    /// Like [`call`](Self::call) with another bound (a stop that waits out a grace period).
    pub async fn call_within<T, F>(&self, operation: &'static str, bound: Duration, call: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<Response<T>, Status>>,
    {
        match tokio::time::timeout(bound, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(status_error(status, &self.engine, operation)),
            Err(_) => Err(Error::timeout(operation, bound).with_engine(self.engine.as_ref())),
        }
    }
}

fn insert_namespace<T>(req: &mut Request<T>, namespace: &str) {
    // A namespace that is not a valid header value cannot name a containerd namespace either
    // (containerd allows `[a-zA-Z0-9._-]`); sending none makes containerd refuse the call.
    if let Ok(value) = namespace.parse() {
        req.metadata_mut().insert(NAMESPACE_HEADER, value);
    }
}

/// Whether an error is containerd's "not found" (a missing container, task or process).
pub fn is_not_found(err: &Error) -> bool {
    err.kind() == ErrorKind::NotFound
}
