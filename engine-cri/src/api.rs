//! CRI's RuntimeService in either API version: `runtime.v1`, or `runtime.v1alpha2` for runtimes
//! that predate v1 (containerd before 1.5's v1, CRI-O before 1.20, iSulad, …). The engine speaks
//! v1 types throughout; under v1alpha2 each request and answer is carried across by its protobuf
//! encoding, which v1 kept from v1alpha2 (same messages, same field numbers; fields v1 added are
//! unknown to v1alpha2 and left at their defaults). One macro lists the calls used.

use anyctr_engine_containerd::Client;
use k8s_cri::{v1, v1alpha2};
use prost::Message;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// The largest answer decoded (a ListContainers of a busy node is large).
const MAX_MESSAGE: usize = 64 << 20;

/// Which RuntimeService the runtime answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `runtime.v1.RuntimeService`.
    V1,
    /// `runtime.v1alpha2.RuntimeService`.
    V1alpha2,
}

impl ApiVersion {
    /// The name runtimes report (`VersionResponse.runtime_api_version`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1",
            ApiVersion::V1alpha2 => "v1alpha2",
        }
    }
}

/// A RuntimeService client in the version the runtime speaks.
#[derive(Debug, Clone)]
pub struct Cri {
    client: Client,
    version: ApiVersion,
}

/// A message re-read as its twin of the other API version.
fn wire<A: Message, B: Message + Default>(message: &A) -> Result<B, Status> {
    B::decode(message.encode_to_vec().as_slice())
        .map_err(|e| Status::internal(format!("CRI v1 <-> v1alpha2 message conversion: {e}")))
}

fn wire_request<A: Message, B: Message + Default>(request: Request<A>) -> Result<Request<B>, Status> {
    let (metadata, extensions, message) = request.into_parts();
    Ok(Request::from_parts(metadata, extensions, wire(&message)?))
}

impl Cri {
    pub fn new(client: Client, version: ApiVersion) -> Self {
        Cri { client, version }
    }

    /// The API version in use.
    pub fn api(&self) -> ApiVersion {
        self.version
    }

    fn v1(&self) -> v1::runtime_service_client::RuntimeServiceClient<Channel> {
        self.client.cri()
    }

    fn v1alpha2(&self) -> v1alpha2::runtime_service_client::RuntimeServiceClient<Channel> {
        v1alpha2::runtime_service_client::RuntimeServiceClient::new(self.client.channel())
            .max_decoding_message_size(MAX_MESSAGE)
    }
}

macro_rules! runtime_service {
    ($($method:ident: $request:ident => $response:ident),* $(,)?) => {
        impl Cri {
            $(
                pub async fn $method(&self, request: Request<v1::$request>) -> Result<Response<v1::$response>, Status> {
                    match self.version {
                        ApiVersion::V1 => self.v1().$method(request).await,
                        ApiVersion::V1alpha2 => {
                            let request: Request<v1alpha2::$request> = wire_request(request)?;
                            let response = self.v1alpha2().$method(request).await?;
                            let (metadata, message, extensions) = response.into_parts();
                            Ok(Response::from_parts(metadata, wire(&message)?, extensions))
                        }
                    }
                }
            )*
        }
    };
}

runtime_service! {
    version: VersionRequest => VersionResponse,
    status: StatusRequest => StatusResponse,
    list_containers: ListContainersRequest => ListContainersResponse,
    list_pod_sandbox: ListPodSandboxRequest => ListPodSandboxResponse,
    container_status: ContainerStatusRequest => ContainerStatusResponse,
    pod_sandbox_status: PodSandboxStatusRequest => PodSandboxStatusResponse,
    exec_sync: ExecSyncRequest => ExecSyncResponse,
    exec: ExecRequest => ExecResponse,
    run_pod_sandbox: RunPodSandboxRequest => RunPodSandboxResponse,
    stop_pod_sandbox: StopPodSandboxRequest => StopPodSandboxResponse,
    remove_pod_sandbox: RemovePodSandboxRequest => RemovePodSandboxResponse,
    create_container: CreateContainerRequest => CreateContainerResponse,
    start_container: StartContainerRequest => StartContainerResponse,
    stop_container: StopContainerRequest => StopContainerResponse,
    remove_container: RemoveContainerRequest => RemoveContainerResponse,
    container_stats: ContainerStatsRequest => ContainerStatsResponse,
    list_container_stats: ListContainerStatsRequest => ListContainerStatsResponse,
    reopen_container_log: ReopenContainerLogRequest => ReopenContainerLogResponse,
}

impl Cri {
    /// `GetContainerEvents`, the runtime's container event stream (CRI v1 only: runtime.v1alpha2
    /// never had it, so under v1alpha2 this is `Unimplemented` without asking).
    pub async fn get_container_events(
        &self,
        request: Request<v1::GetEventsRequest>,
    ) -> Result<Response<tonic::Streaming<v1::ContainerEventResponse>>, Status> {
        match self.version {
            ApiVersion::V1 => self.v1().get_container_events(request).await,
            ApiVersion::V1alpha2 => Err(Status::unimplemented("runtime.v1alpha2 has no GetContainerEvents")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_versions_by_their_encoding() {
        let v1_status = v1::ContainerStatus {
            id: "abc".into(),
            state: 2,
            exit_code: 7,
            log_path: "app/0.log".into(),
            labels: [("k".to_owned(), "v".to_owned())].into(),
            metadata: Some(v1::ContainerMetadata { name: "app".into(), attempt: 1 }),
            ..Default::default()
        };
        let alpha: v1alpha2::ContainerStatus = wire(&v1_status).unwrap();
        assert_eq!((alpha.id.as_str(), alpha.state, alpha.exit_code), ("abc", 2, 7));
        assert_eq!(alpha.metadata.as_ref().map(|m| m.name.as_str()), Some("app"));
        let back: v1::ContainerStatus = wire(&alpha).unwrap();
        assert_eq!(back, v1_status);
        let req =
            v1::ExecRequest { container_id: "c".into(), cmd: vec!["cat".into()], stdin: true, ..Default::default() };
        let alpha: v1alpha2::ExecRequest = wire(&req).unwrap();
        assert!(alpha.stdin && alpha.stdout == req.stdout && alpha.cmd == req.cmd);
    }
}
