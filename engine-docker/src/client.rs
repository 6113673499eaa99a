//! The connection to dockerd: a bollard client whose request paths carry the API version, a small
//! raw JSON GET (over the shared unix-socket transport of `anyctr-docker-api`) for the calls whose
//! engine JSON we keep verbatim (list, inspect, version), the per-call time bound, and docker's one
//! table from status and message to anyctr's kinds ([`status_error`]).
//!
//! Why a request modifier: bollard 0.21.1 builds its URLs with `Url::join` on an absolute path,
//! which drops the `/vX.Y` prefix, so every request is unversioned and the daemon answers with its
//! own default API version whatever was negotiated. We pin bollard and prefix the version we chose
//! (the daemon's, capped at what bollard's models know) ourselves; the guard keeps a future bollard
//! that prefixes by itself from getting `/v1.41/v1.41/...`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyctr_core::{Error, ErrorKind, Result};
use anyctr_docker_api::http::UnixHttp;
use bollard::{ClientVersion, Docker};
use serde_json::Value;

/// The engine name, as registered.
pub(crate) const ENGINE: &str = "docker";

/// The newest API version bollard 0.21.1's models describe.
const BOLLARD_MAX_API: (usize, usize) = (1, 53);

/// bollard's own per-request timeout only covers the wait for response headers. We bound every call
/// ourselves (call_timeout, or the exec's timeout), so bollard's is set out of the way.
const BOLLARD_TIMEOUT_SECS: u64 = 24 * 3600;

/// A connected docker client. Cheap to clone (bollard's client is reference-counted).
#[derive(Clone)]
pub(crate) struct Client {
    pub docker: Docker,
    pub socket: PathBuf,
    /// `1.41`: the API version every request path carries.
    pub api_version: String,
    pub call_timeout: Duration,
    /// `pause_image` address parameter, for pod sandboxes.
    pub pause_image: Option<String>,
    /// How the daemon differs from dockerd (dockerd's defaults for dockerd itself).
    pub compat: std::sync::Arc<crate::compat::Compatibility>,
}

impl Client {
    /// Connects: asks the daemon its API version (unversioned `/version`) and builds a bollard
    /// client pinned to that version. Whether the daemon is Docker is the caller's check.
    pub async fn connect(socket: PathBuf, call_timeout: Duration) -> Result<(Client, Value)> {
        let version = bounded(call_timeout, "connect", raw_get(&socket, "/version")).await?;
        let api = version.get("ApiVersion").and_then(Value::as_str).unwrap_or_default();
        let (major, minor) = choose_api_version(api)?;
        let api_version = format!("{major}.{minor}");
        let socket_str = socket
            .to_str()
            .ok_or_else(|| Error::invalid_argument(format!("docker socket path {} is not UTF-8", socket.display())))?;
        let prefix = format!("/v{api_version}");
        let docker = Docker::connect_with_unix(
            socket_str,
            BOLLARD_TIMEOUT_SECS,
            &ClientVersion { major_version: major, minor_version: minor },
        )
        .map_err(|e| map_bollard(e, "connect"))?
        .with_request_modifier(move |mut req| {
            let pq = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            if let Some(versioned) = versioned_path(pq, &prefix) {
                let mut parts = req.uri().clone().into_parts();
                if let Ok(p) = versioned.parse() {
                    parts.path_and_query = Some(p);
                    if let Ok(uri) = http::Uri::from_parts(parts) {
                        *req.uri_mut() = uri;
                    }
                }
            }
            req
        });
        Ok((
            Client { docker, socket, api_version, call_timeout, pause_image: None, compat: Default::default() },
            version,
        ))
    }

    /// GET `path_and_query` (without version) as JSON, with the version prefix, bounded.
    pub async fn get_json(&self, operation: &'static str, path_and_query: &str) -> Result<Value> {
        let path = format!("/v{}{}", self.api_version, path_and_query);
        bounded(self.call_timeout, operation, raw_get(&self.socket, &path)).await
    }

    /// Runs a bollard call bounded by the call timeout, mapping its error.
    pub async fn call<T>(
        &self,
        operation: &'static str,
        fut: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T> {
        self.call_within(self.call_timeout, operation, fut).await
    }

    /// Runs a bollard call bounded by `limit`, mapping its error.
    pub async fn call_within<T>(
        &self,
        limit: Duration,
        operation: &'static str,
        fut: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r.map_err(|e| map_bollard(e, operation)),
            Err(_) => Err(Error::timeout(operation, limit).with_engine(ENGINE)),
        }
    }
}

/// Bounds a future that already yields an anyctr result.
pub(crate) async fn bounded<T>(
    limit: Duration,
    operation: &'static str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| e.in_context(ENGINE, operation)),
        Err(_) => Err(Error::timeout(operation, limit).with_engine(ENGINE)),
    }
}

/// The version to speak: the daemon's, capped at bollard's newest.
pub(crate) fn choose_api_version(daemon: &str) -> Result<(usize, usize)> {
    let parsed = daemon.trim().split_once('.').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
    let Some(v) = parsed else {
        return Err(Error::new(ErrorKind::Unexpected, format!("daemon reports no usable API version ({daemon:?})"))
            .with_engine(ENGINE));
    };
    Ok(std::cmp::min(v, BOLLARD_MAX_API))
}

/// `prefix + path`, or `None` when the path already carries a `/vX.Y` prefix.
pub(crate) fn versioned_path(path_and_query: &str, prefix: &str) -> Option<String> {
    if has_version_prefix(path_and_query) { None } else { Some(format!("{prefix}{path_and_query}")) }
}

fn has_version_prefix(pq: &str) -> bool {
    let Some(rest) = pq.strip_prefix("/v") else { return false };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    matches!(rest[..end].split_once('.'), Some((a, b)) if digits(a) && digits(b))
}

/// One GET over a fresh unix-socket connection (the shared transport of
/// [`anyctr_docker_api::http`]), answered as JSON; a non-2xx status becomes the mapped error
/// carrying docker's message. Unbounded: callers wrap it in [`bounded`].
pub(crate) async fn raw_get(socket: &Path, path: &str) -> Result<Value> {
    let body = raw_call(socket, http::Method::GET, path, None).await?;
    serde_json::from_slice(&body).map_err(|e| {
        Error::unexpected(format!("dockerd answered GET {path} with something that is not JSON")).with_source(e)
    })
}

/// One request with an optional JSON body over a fresh connection; the whole answer's body, or
/// the mapped error for a non-2xx status. Unbounded: callers wrap it in [`bounded`].
pub(crate) async fn raw_call(
    socket: &Path,
    method: http::Method,
    path: &str,
    json: Option<&Value>,
) -> Result<bytes::Bytes> {
    let daemon = UnixHttp::new(socket.to_path_buf(), "dockerd", ENGINE);
    let response = match json {
        Some(v) => {
            let headers = [("content-type", "application/json")];
            daemon.send(method, path, &headers, anyctr_docker_api::http::json_body(v)).await?
        }
        None => daemon.send(method, path, &[], anyctr_docker_api::http::empty()).await?,
    };
    let status = response.status();
    let body = anyctr_docker_api::http::read_body(response.into_body(), UNBOUNDED_READ, ENGINE).await?;
    if !status.is_success() {
        return Err(status_error(status.as_u16(), &anyctr_docker_api::http::error_message(&body)));
    }
    Ok(body)
}

/// The body read of [`raw_get`] is bounded by its caller's [`bounded`], not on its own.
const UNBOUNDED_READ: Duration = Duration::from_secs(24 * 3600);

/// Maps an HTTP status and docker's message to an error kind: docker's one table (bollard's
/// errors reach it through [`map_bollard`]; an exec's start failure through `exec_errors`).
pub(crate) fn status_error(status: u16, message: &str) -> Error {
    let lower = message.to_ascii_lowercase();
    let kind = match status {
        400 => ErrorKind::InvalidArgument,
        401 | 403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        503 => ErrorKind::EngineUnavailable,
        _ if lower.contains("is not running") || lower.contains("is paused") || lower.contains("already in use") => {
            ErrorKind::Conflict
        }
        _ if lower.contains("no such container") || lower.contains("no such image") => ErrorKind::NotFound,
        _ if lower.contains("multiple ids found") => ErrorKind::InvalidArgument,
        _ => ErrorKind::Unexpected,
    };
    Error::new(kind, format!("dockerd answered {status}: {message}")).with_engine(ENGINE)
}

/// Maps a bollard error to an anyctr error for `operation`.
pub(crate) fn map_bollard(err: bollard::errors::Error, operation: &'static str) -> Error {
    use bollard::errors::Error as B;
    // Whether the message already quotes the daemon's (or the I/O layer's) words.
    let quoted = !matches!(&err, B::HyperLegacyError { .. } | B::HyperResponseError { .. });
    let mapped = match &err {
        B::DockerResponseServerError { status_code, message } => status_error(*status_code, message),
        B::RequestTimeoutError => Error::new(ErrorKind::Timeout, "dockerd did not answer in time"),
        B::SocketNotFoundError(path) => Error::new(ErrorKind::EngineUnavailable, format!("no docker socket at {path}")),
        B::HyperLegacyError { .. } | B::HyperResponseError { .. } => {
            let denied = io_kind_in_chain(&err) == Some(std::io::ErrorKind::PermissionDenied);
            let kind = if denied { ErrorKind::PermissionDenied } else { ErrorKind::EngineUnavailable };
            Error::new(kind, "the connection to dockerd failed")
        }
        B::IOError { err: io } => {
            let kind = Error::from(std::io::Error::from(io.kind())).kind();
            Error::new(kind, format!("I/O error talking to dockerd: {io}"))
        }
        B::DockerStreamError { error } => Error::unexpected(format!("dockerd reported: {error}")),
        B::JsonDataError { message, .. } => Error::unexpected(format!("unexpected JSON from dockerd: {message}")),
        _ => Error::unexpected("docker request failed"),
    };
    let mapped = mapped.with_engine(ENGINE).with_operation(operation);
    if quoted { mapped.with_quoted_source(err) } else { mapped.with_source(err) }
}

fn io_kind_in_chain(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = e.source();
    }
    None
}

/// Checks a container id or name before it goes into a URL path: docker ids and names use
/// `[A-Za-z0-9_.-]` only, so anything else can name no container.
pub(crate) fn container_ref(query: &str) -> Result<&str> {
    let q = query.trim().trim_start_matches('/');
    if q.is_empty() {
        return Err(Error::invalid_argument("empty container id or name").with_engine(ENGINE));
    }
    if !q.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return Err(Error::invalid_argument(format!("{q:?} is not a docker container id or name"))
            .with_engine(ENGINE)
            .with_container(query));
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefix_is_added_once() {
        assert_eq!(versioned_path("/containers/json?all=1", "/v1.41").unwrap(), "/v1.41/containers/json?all=1");
        assert_eq!(versioned_path("/version", "/v1.41").unwrap(), "/v1.41/version");
        assert_eq!(versioned_path("/v1.41/containers/json", "/v1.41"), None);
        assert_eq!(versioned_path("/v1.53/version", "/v1.41"), None);
        // A container named like a version is part of a longer path, never a prefix.
        assert_eq!(versioned_path("/containers/v1.2/json", "/v1.41").unwrap(), "/v1.41/containers/v1.2/json");
        assert_eq!(versioned_path("/volumes", "/v1.41").unwrap(), "/v1.41/volumes");
    }

    #[test]
    fn api_version_is_capped_at_bollards() {
        assert_eq!(choose_api_version("1.41").unwrap(), (1, 41));
        assert_eq!(choose_api_version("1.54").unwrap(), (1, 53));
        assert_eq!(choose_api_version("2.0").unwrap(), (1, 53));
        assert!(choose_api_version("").is_err());
        assert!(choose_api_version("x.y").is_err());
    }

    #[test]
    fn statuses_map_to_kinds() {
        let cases = [
            (404, "No such container: x", ErrorKind::NotFound),
            (409, "Container abc is not running", ErrorKind::Conflict),
            (400, "multiple IDs found with provided prefix: a", ErrorKind::InvalidArgument),
            (500, "Container abc is not running", ErrorKind::Conflict),
            (500, "boom", ErrorKind::Unexpected),
            (403, "nope", ErrorKind::PermissionDenied),
        ];
        for (status, msg, kind) in cases {
            assert_eq!(status_error(status, msg).kind(), kind, "{status} {msg}");
        }
    }

    #[test]
    fn container_refs_are_checked() {
        assert_eq!(container_ref("/web").unwrap(), "web");
        assert_eq!(container_ref("k8s_POD_a-b_c.d_0").unwrap(), "k8s_POD_a-b_c.d_0");
        assert_eq!(container_ref("").unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert_eq!(container_ref("a/b").unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert_eq!(container_ref("a?b").unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
}
