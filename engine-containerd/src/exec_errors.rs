//! What a failed `Tasks.Exec` or `Tasks.Start` of an exec means. containerd passes the runtime's
//! words on as the gRPC status message (runc's `chdir to cwd … failed`, the shim transport's
//! `message length … exceed maximum message size`, a missing program); what those words mean is
//! read in one place, [`anyctr_core::exec_failure`]. Anything else keeps containerd's status mapping.

use anyctr_core::exec_failure::runtime_message_kind;
use anyctr_core::{Error, ErrorKind};
use tonic::Status;

use crate::client::status_error;

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
}
