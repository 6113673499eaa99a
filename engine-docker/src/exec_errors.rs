//! When docker's answer about an ended exec is not the program's exit code but the runtime's report
//! that the process never ran. dockerd passes runc's words on as the exec's output, with exit code
//! 126 and no pid (or, for an `execve` that failed in runc's init, exit 1 with a pid); what the
//! words mean is read in one place, [`anyctr_core::exec_failure`].

use anyctr_core::exec_failure::{start_failure_kind, start_failure_message};
use anyctr_core::{Error, ErrorKind};

/// Whether an exec that ended with `code` may be a start failure whose report is in its output, so
/// the output must be read to its end before deciding.
pub(crate) fn may_be_start_failure(code: i64) -> bool {
    matches!(code, 1 | 126 | 127)
}

/// The error for an exec that ended with `code`, `pid` (as exec inspect reports it) and `output`
/// (its first bytes), or `None` when `code` is the program's result.
pub(crate) fn start_failure(code: i64, pid: Option<u32>, output: &str, argv0: &str) -> Option<Error> {
    let never_ran = matches!(code, 126 | 127) && pid.is_none();
    let kind = match start_failure_kind(code, output) {
        Some(kind) if never_ran || code == 1 => kind,
        // dockerd gave 126/127 and no pid, but no words: the program could not be started.
        None if never_ran && output.trim().is_empty() => ErrorKind::CommandNotFound,
        _ => return None,
    };
    Some(Error::new(kind, start_failure_message(argv0, code, output)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_reports_map_to_kinds() {
        let user = "unable to find user nosuch: no matching entries in passwd file";
        assert_eq!(start_failure(126, None, user, "true").unwrap().kind(), ErrorKind::NotFound);
        let cwd = "OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd (\"/nonexist\") set in config.json failed: no such file or directory: unknown";
        assert_eq!(start_failure(126, None, cwd, "true").unwrap().kind(), ErrorKind::NotFound);
        let big = "message length 10487208 exceed maximum message size of 4194304: unknown";
        assert_eq!(start_failure(126, None, big, "sh").unwrap().kind(), ErrorKind::InvalidArgument);
        let e2big = "exec /bin/true: argument list too long\n";
        assert_eq!(start_failure(1, Some(42), e2big, "true").unwrap().kind(), ErrorKind::InvalidArgument);
        assert_eq!(start_failure(126, None, "", "x").unwrap().kind(), ErrorKind::CommandNotFound);
        // A program's own exit codes stay results.
        assert!(start_failure(126, Some(42), "", "sh").is_none());
        assert!(start_failure(126, None, "sh: can't execute", "sh").is_none());
        assert!(start_failure(1, Some(42), "", "false").is_none());
        assert!(start_failure(3, None, user, "x").is_none());
    }
}
