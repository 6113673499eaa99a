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
/// (its first bytes), or `None` when `code` is the program's result. `pid_kept` says whether the
/// daemon reports the pid after the exit (dockerd does); if not, only the words can tell.
pub(crate) fn start_failure(code: i64, pid: Option<u32>, pid_kept: bool, output: &str, argv0: &str) -> Option<Error> {
    let never_ran = matches!(code, 126 | 127) && (pid.is_none() || !pid_kept);
    let kind = match start_failure_kind(code, output) {
        Some(kind) if never_ran || code == 1 => kind,
        // dockerd gave 126/127 and no pid, but no words: the program could not be started.
        None if never_ran && pid_kept && output.trim().is_empty() => ErrorKind::CommandNotFound,
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
        assert_eq!(start_failure(126, None, true, user, "true").unwrap().kind(), ErrorKind::NotFound);
        let cwd = "OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd (\"/nonexist\") set in config.json failed: no such file or directory: unknown";
        assert_eq!(start_failure(126, None, true, cwd, "true").unwrap().kind(), ErrorKind::NotFound);
        let big = "message length 10487208 exceed maximum message size of 4194304: unknown";
        assert_eq!(start_failure(126, None, true, big, "sh").unwrap().kind(), ErrorKind::InvalidArgument);
        let e2big = "exec /bin/true: argument list too long\n";
        assert_eq!(start_failure(1, Some(42), true, e2big, "true").unwrap().kind(), ErrorKind::InvalidArgument);
        assert_eq!(start_failure(126, None, true, "", "x").unwrap().kind(), ErrorKind::CommandNotFound);
        // A program's own exit codes stay results.
        assert!(start_failure(126, Some(42), true, "", "sh").is_none());
        assert!(start_failure(126, None, true, "sh: can't execute", "sh").is_none());
        assert!(start_failure(1, Some(42), true, "", "false").is_none());
        assert!(start_failure(3, None, true, user, "x").is_none());
        // A daemon that reports no pid after the exit: a silent 127 is the program's own.
        assert!(start_failure(127, None, false, "", "sh").is_none());
        let missing = "runc: exec failed: unable to start container process: exec: \"/no/such\": stat /no/such: no such file or directory";
        assert_eq!(start_failure(127, None, false, missing, "/no/such").unwrap().kind(), ErrorKind::CommandNotFound);
    }
}
