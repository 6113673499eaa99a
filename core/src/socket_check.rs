//! Engine-independent checks of a unix socket before any protocol is spoken: does the path exist,
//! is it a socket, may we connect, does anybody accept. Detection reports these per candidate so a
//! user can see why an engine was not picked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// What connecting to the socket gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectOutcome {
    /// Not tried: the path is missing or not a socket.
    NotTried,
    /// Something accepted the connection.
    Connected,
    /// The socket exists but this process may not connect (mode/owner).
    PermissionDenied,
    /// The socket exists but nobody accepts on it (a stale socket of a dead daemon).
    Refused,
    /// Connecting did not finish in time.
    TimedOut,
    /// Any other failure, with the OS message.
    Failed(String),
}

/// The result of [`check_socket`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SocketCheck {
    /// The path as this process opened it (host-root prefix applied).
    pub path: PathBuf,
    /// The path exists.
    pub exists: bool,
    /// It is a socket.
    pub is_socket: bool,
    /// What connecting to it did.
    pub connect: ConnectOutcome,
}

impl SocketCheck {
    /// Whether a daemon accepted a connection.
    pub fn connected(&self) -> bool {
        self.connect == ConnectOutcome::Connected
    }

    /// Why the socket cannot be used, in words; `None` when it can.
    pub fn problem(&self) -> Option<String> {
        let p = self.path.display();
        if !self.exists {
            return Some(format!("{p} does not exist"));
        }
        if !self.is_socket {
            return Some(format!("{p} exists but is not a unix socket"));
        }
        match &self.connect {
            ConnectOutcome::Connected => None,
            ConnectOutcome::NotTried => Some(format!("{p} was not tried")),
            ConnectOutcome::PermissionDenied => Some(format!("permission denied connecting to {p}")),
            ConnectOutcome::Refused => Some(format!("nobody accepts connections on {p} (stale socket?)")),
            ConnectOutcome::TimedOut => Some(format!("connecting to {p} timed out")),
            ConnectOutcome::Failed(m) => Some(format!("connecting to {p} failed: {m}")),
        }
    }
}

impl SocketCheck {
    /// The problem as an error of the kind an agent acts on, `None` when the socket can be used:
    /// a path that is not a socket names no daemon whatever runs (`InvalidArgument`), a socket
    /// we may not open is `PermissionDenied`, anything else is `EngineUnavailable` (nobody serves it).
    pub fn error(&self) -> Option<Error> {
        let problem = self.problem()?;
        let kind = if self.exists && !self.is_socket {
            ErrorKind::InvalidArgument
        } else if self.connect == ConnectOutcome::PermissionDenied {
            ErrorKind::PermissionDenied
        } else {
            ErrorKind::EngineUnavailable
        };
        Some(Error::new(kind, problem))
    }
}

/// Why connecting to `path` failed with `err`, in the words [`check_socket`] would use: a refused
/// connection to a path that is no socket (a plain file says "connection refused") is reported as
/// what it is. For engines connecting on their own, without a check first.
pub fn connect_error(path: &Path, err: std::io::Error) -> Error {
    use std::os::unix::fs::FileTypeExt;
    let not_a_socket = std::fs::metadata(path).is_ok_and(|m| !m.file_type().is_socket());
    let check = SocketCheck {
        path: path.to_path_buf(),
        exists: err.kind() != std::io::ErrorKind::NotFound,
        is_socket: !not_a_socket,
        connect: match err.kind() {
            std::io::ErrorKind::PermissionDenied => ConnectOutcome::PermissionDenied,
            std::io::ErrorKind::ConnectionRefused => ConnectOutcome::Refused,
            std::io::ErrorKind::TimedOut => ConnectOutcome::TimedOut,
            _ => ConnectOutcome::Failed(err.to_string()),
        },
    };
    let error = check.error().unwrap_or_else(|| Error::new(ErrorKind::EngineUnavailable, err.to_string()));
    error.with_source(err)
}

/// Checks `path` (already host-root prefixed) and tries one connection, bounded by `timeout`.
pub async fn check_socket(path: &Path, timeout: Duration) -> SocketCheck {
    use std::os::unix::fs::FileTypeExt;
    let meta = tokio::fs::metadata(path).await;
    let (exists, is_socket) = match &meta {
        Ok(m) => (true, m.file_type().is_socket()),
        // A path we may not even stat exists as far as the user is concerned; connecting says more.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => (true, true),
        Err(_) => (false, false),
    };
    let connect = if !is_socket {
        ConnectOutcome::NotTried
    } else {
        match tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path)).await {
            Err(_) => ConnectOutcome::TimedOut,
            Ok(Ok(_)) => ConnectOutcome::Connected,
            Ok(Err(e)) => match e.kind() {
                std::io::ErrorKind::PermissionDenied => ConnectOutcome::PermissionDenied,
                std::io::ErrorKind::ConnectionRefused => ConnectOutcome::Refused,
                _ => ConnectOutcome::Failed(e.to_string()),
            },
        }
    };
    SocketCheck { path: path.to_path_buf(), exists, is_socket, connect }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn missing_path() {
        let dir = tempfile::tempdir().unwrap();
        let c = check_socket(&dir.path().join("nope.sock"), T).await;
        assert!(!c.exists && !c.is_socket);
        assert_eq!(c.connect, ConnectOutcome::NotTried);
        assert!(c.problem().unwrap().contains("does not exist"));
    }

    #[tokio::test]
    async fn plain_file_is_not_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("file.sock");
        std::fs::write(&p, b"x").unwrap();
        let c = check_socket(&p, T).await;
        assert!(c.exists && !c.is_socket);
        assert!(c.problem().unwrap().contains("not a unix socket"));
        assert_eq!(c.error().unwrap().kind(), ErrorKind::InvalidArgument);
        // Connecting to it says "connection refused"; the error says what the path is.
        let refused = std::os::unix::net::UnixStream::connect(&p).unwrap_err();
        let e = connect_error(&p, refused);
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains("not a unix socket"), "{e}");
    }

    #[tokio::test]
    async fn socket_nobody_serves_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&p).unwrap()); // the file stays, nobody listens
        let c = check_socket(&p, T).await;
        assert!(c.exists && c.is_socket);
        assert_eq!(c.connect, ConnectOutcome::Refused);
        assert_eq!(c.error().unwrap().kind(), ErrorKind::EngineUnavailable);
        let refused = std::os::unix::net::UnixStream::connect(&p).unwrap_err();
        let e = connect_error(&p, refused);
        assert_eq!(e.kind(), ErrorKind::EngineUnavailable);
        assert!(e.message().contains("stale socket"), "{e}");
        let missing = dir.path().join("missing.sock");
        let e = connect_error(&missing, std::os::unix::net::UnixStream::connect(&missing).unwrap_err());
        assert!(e.message().contains("does not exist"), "{e}");
    }

    #[tokio::test]
    async fn served_socket_connects() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("live.sock");
        let _l = std::os::unix::net::UnixListener::bind(&p).unwrap();
        let c = check_socket(&p, T).await;
        assert!(c.connected(), "{c:?}");
        assert_eq!(c.problem(), None);
    }
}
