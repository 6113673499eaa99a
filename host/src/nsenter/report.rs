//! Turning a fast-path child's 8-byte failure report into the error a caller can act on.

use nix::libc;

use super::sys::{self, Stage};
use anyctr_core::error::{Error, ErrorKind};

/// What a failure report is explained with.
pub(super) struct Described {
    pub namespace_kinds: Vec<&'static str>,
    pub cgroup_paths: Vec<std::path::PathBuf>,
    pub transient_path: std::path::PathBuf,
    pub unified_path: Option<std::path::PathBuf>,
    pub program: String,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

pub(super) fn report_error(bytes: &[u8], prepared: &Described) -> Error {
    let Some((stage, index, errno)) = sys::decode_report(bytes) else {
        return Error::unexpected(format!("the fast-path child sent a garbled report {bytes:?}"));
    };
    let os = std::io::Error::from_raw_os_error(errno);
    let program = &prepared.program;
    let (kind, what) = match stage {
        Stage::Exec if matches!(errno, libc::ENOENT | libc::EACCES | libc::ENOTDIR) => {
            (ErrorKind::CommandNotFound, format!("cannot execute {program:?} in the container"))
        }
        Stage::Exec if errno == libc::E2BIG => {
            let what =
                format!("argument list too long: {program:?}'s arguments and environment exceed the kernel's limit");
            return Error::new(ErrorKind::InvalidArgument, what).with_source(os);
        }
        Stage::Exec => (ErrorKind::Unexpected, format!("executing {program:?}")),
        Stage::Cwd => {
            let dir = prepared.working_dir.as_deref().unwrap_or("the init's working directory");
            if matches!(errno, libc::ENOENT | libc::ENOTDIR) {
                let what = format!("working directory `{dir}` does not exist in the container");
                return Error::new(ErrorKind::NotFound, what).with_source(os);
            }
            let kind = if errno == libc::EACCES { ErrorKind::PermissionDenied } else { ErrorKind::Unexpected };
            (kind, format!("entering the working directory `{dir}`"))
        }
        Stage::TransientCgroup if index == 0 => {
            let path = prepared.transient_path.display();
            (ErrorKind::Unexpected, format!("joining the command's own cgroup {path}"))
        }
        Stage::TransientCgroup => {
            let path = prepared.unified_path.as_ref().map_or("?".into(), |p| p.display().to_string());
            (ErrorKind::Unexpected, format!("joining the container's cgroup {path}"))
        }
        Stage::Setns => {
            let ns = prepared.namespace_kinds.get(usize::from(index)).copied().unwrap_or("?");
            let kind = if errno == libc::EPERM { ErrorKind::PermissionDenied } else { ErrorKind::Unexpected };
            (kind, format!("entering the container's {ns} namespace"))
        }
        Stage::Cgroup => {
            let path = prepared.cgroup_paths.get(usize::from(index)).map_or("?".into(), |p| p.display().to_string());
            let kind =
                if matches!(errno, libc::ENOENT | libc::ENODEV) { ErrorKind::Conflict } else { ErrorKind::Unexpected };
            (kind, format!("joining the container's cgroup {path}"))
        }
        Stage::Fork if errno == libc::ENOMEM => {
            (ErrorKind::Conflict, "forking into the container's pid namespace (its init is gone)".to_owned())
        }
        Stage::Groups | Stage::Setgid | Stage::Setuid => {
            let kind = if errno == libc::EINVAL { ErrorKind::InvalidArgument } else { ErrorKind::PermissionDenied };
            (kind, format!("switching to user {:?}", prepared.user.as_deref().unwrap_or("of the init")))
        }
        Stage::SupervisorGone => (ErrorKind::Unexpected, "starting: the supervisor was killed".to_owned()),
        other => (ErrorKind::Unexpected, format!("{other:?} step of the fast path (index {index})")),
    };
    Error::new(kind, format!("{what}: {os}")).with_source(os)
}
