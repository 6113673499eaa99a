//! containerd's one table from its answers to anyctr's [`ErrorKind`]s: the gRPC status code
//! ([`status_error`]), and the words of a message where the code alone says too little ([`Said`]:
//! containerd and CRI answer a process that already exited, a name that is taken, or "not yet"
//! with plain `Unknown`/`FailedPrecondition` statuses). The runtime's words about an exec that did
//! not start (runc's, relayed as the status message) are read by the table every engine shares,
//! [`anyctr_core::exec_failure`], here through [`start_error`] and [`exec_call_error`].

use anyctr_core::exec_failure::runtime_message_kind;
use anyctr_core::{Error, ErrorKind};
use tonic::{Code, Status};

/// What a containerd or CRI message says beyond its status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Said {
    /// The process or task has exited, or was deleted.
    ProcessGone,
    /// CRI: the container or sandbox name is taken.
    NameTaken,
    /// CRI: the shim of a container that just exited is gone; a stop retried finds it exited.
    ShimClosed,
    /// CRI has not yet handled a task's exit and refuses a removal.
    StillRunning,
    /// A program in the container (`tar`, `stat`) found no such path.
    NoSuchPath,
    /// A program in the container was denied access.
    Denied,
}

/// The words (lower case) of each meaning.
const WORDS: &[(&str, Said)] = &[
    ("process already finished", Said::ProcessGone),
    ("not running", Said::ProcessGone),
    ("is reserved", Said::NameTaken),
    ("already exists", Said::NameTaken),
    ("ttrpc: closed", Said::ShimClosed),
    ("still running", Said::StillRunning),
    ("no such file", Said::NoSuchPath),
    ("cannot stat", Said::NoSuchPath),
    ("permission denied", Said::Denied),
    ("read-only file system", Said::Denied),
];

impl Said {
    /// The kind an error saying this is.
    pub(crate) fn kind(self) -> ErrorKind {
        match self {
            Said::ProcessGone | Said::NameTaken | Said::ShimClosed | Said::StillRunning => ErrorKind::Conflict,
            Said::NoSuchPath => ErrorKind::NotFound,
            Said::Denied => ErrorKind::PermissionDenied,
        }
    }

    /// Whether `text` says this.
    pub(crate) fn in_text(self, text: &str) -> bool {
        let lower = text.to_ascii_lowercase();
        WORDS.iter().any(|(words, said)| *said == self && lower.contains(words))
    }

    /// Whether `err`'s message says this.
    pub(crate) fn in_error(self, err: &Error) -> bool {
        self.in_text(err.message())
    }
}

/// Maps a gRPC status to an anyctr error kind; the status stays the source.
pub fn status_error(status: Status, engine: &str, operation: &'static str) -> Error {
    let kind = match status.code() {
        Code::NotFound => ErrorKind::NotFound,
        Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => ErrorKind::Conflict,
        Code::InvalidArgument | Code::OutOfRange => ErrorKind::InvalidArgument,
        Code::PermissionDenied | Code::Unauthenticated => ErrorKind::PermissionDenied,
        Code::Unavailable => ErrorKind::EngineUnavailable,
        Code::DeadlineExceeded => ErrorKind::Timeout,
        Code::Unimplemented => ErrorKind::Unsupported,
        _ => ErrorKind::Unexpected,
    };
    let message =
        if status.message().is_empty() { status.code().description().to_owned() } else { status.message().to_owned() };
    Error::new(kind, message).with_engine(engine).with_operation(operation).with_quoted_source(status)
}

/// The error for a `Tasks.Start` of an exec that containerd refused.
pub(crate) fn start_error(status: Status, engine: &str) -> Error {
    match runtime_message_kind(status.message()) {
        Some(kind) => Error::new(kind, status.message().to_owned())
            .with_engine(engine)
            .with_operation("exec")
            .with_quoted_source(status),
        None => status_error(status, engine, "exec"),
    }
}

/// A `Tasks.Exec` error, already mapped from containerd's status: the runtime's words decide where
/// they say something; a task that went away between the state check and the exec is `Conflict`.
pub(crate) fn exec_call_error(err: Error, container_id: &str) -> Error {
    if let Some(kind) = runtime_message_kind(err.message()) {
        return Error::new(kind, err.message().to_owned()).with_source(err);
    }
    match err.kind() {
        ErrorKind::NotFound => {
            Error::new(ErrorKind::Conflict, format!("container {container_id} is not running")).with_source(err)
        }
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        let cases = [
            (Code::NotFound, ErrorKind::NotFound),
            (Code::AlreadyExists, ErrorKind::Conflict),
            (Code::FailedPrecondition, ErrorKind::Conflict),
            (Code::InvalidArgument, ErrorKind::InvalidArgument),
            (Code::Unavailable, ErrorKind::EngineUnavailable),
            (Code::DeadlineExceeded, ErrorKind::Timeout),
            (Code::Unimplemented, ErrorKind::Unsupported),
            (Code::PermissionDenied, ErrorKind::PermissionDenied),
            (Code::Unknown, ErrorKind::Unexpected),
        ];
        for (code, kind) in cases {
            let e = status_error(Status::new(code, "boom"), "containerd", "inspect");
            assert_eq!(e.kind(), kind, "{code:?}");
            assert_eq!(e.engine(), Some("containerd"));
            assert_eq!(e.operation(), Some("inspect"));
            assert!(e.source_as::<Status>().is_some());
        }
    }

    #[test]
    fn runtime_words_decide_the_kind() {
        let cwd = "OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd (\"/x\") set in config.json failed: no such file or directory: unknown";
        assert_eq!(start_error(Status::unknown(cwd), "containerd").kind(), ErrorKind::NotFound);
        let missing = "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown";
        assert_eq!(start_error(Status::unknown(missing), "containerd").kind(), ErrorKind::CommandNotFound);
        assert_eq!(start_error(Status::not_found("task x"), "containerd").kind(), ErrorKind::NotFound);
        let big = status_error(
            Status::unknown("message length 10487208 exceed maximum message size of 4194304"),
            "containerd",
            "exec",
        );
        assert_eq!(exec_call_error(big, "c").kind(), ErrorKind::InvalidArgument);
        let gone = status_error(Status::not_found("task c not found"), "containerd", "exec");
        assert_eq!(exec_call_error(gone, "c").kind(), ErrorKind::Conflict);
    }

    #[test]
    fn words_have_meanings() {
        assert!(Said::ProcessGone.in_text("cannot kill: process already finished: not found"));
        assert!(Said::NameTaken.in_text("name \"x\" is reserved for \"abc\""));
        assert!(Said::StillRunning.in_text("container is still running, to stop first"));
        assert!(!Said::ProcessGone.in_text("container is still running"));
        assert!(Said::NoSuchPath.in_text("tar: /x: Cannot stat: No such file or directory"));
        assert!(Said::Denied.in_text("sh: can't create /x: Read-only file system"));
        assert_eq!(Said::Denied.kind(), ErrorKind::PermissionDenied);
        assert!(!Said::ProcessGone.in_text("boom"));
        // The words are compared with the lower-cased message.
        assert!(WORDS.iter().all(|(words, _)| words.to_ascii_lowercase() == *words));
    }
}
