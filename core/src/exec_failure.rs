//! What the runtime stack says when an exec's process could not be started, and which
//! [`ErrorKind`] each saying is. The words are runc's, crun's and runsc's (and containerd's shim transport's), whichever
//! daemon relays them: docker and pouch pass them on as the exec's output with exit code 126
//! (runc's own exec failure after it started the process: exit 1), containerd as the error of
//! `Tasks.Start`/`Tasks.Exec`. This table is the only place these words are read; the engines
//! decide *when* a text is a runtime report (exit code, no pid) and ask here *what* it says.
//!
//! Why in core and not in each engine: the words belong to the OCI runtime stack, not to a daemon.
//! The same runc (or runsc) sits under docker, pouch and containerd, so one table serves all three
//! (and core's buffered exec, which reads pouch's reports); each engine's own table (docker's
//! `client::status_error`, pouch's `client::status_error`, containerd's `errors`) keeps what only
//! its daemon says.

use crate::error::ErrorKind;

/// One row: the words to find (lower case) and what they mean.
struct Row {
    /// Every one of these must occur in the text.
    all: &'static [&'static str],
    kind: ErrorKind,
    /// Whether the text must also carry the OCI runtime's own prefix (the words alone are too
    /// common: `cat: /x: No such file or directory`).
    needs_runtime_prefix: bool,
}

/// Checked in order: the working-directory row before the missing-program rows, whose words it
/// shares ("no such file or directory").
const TABLE: &[Row] = &[
    // runc: `chdir to cwd ("/x") set in config.json failed: no such file or directory`.
    Row { all: &["chdir to cwd"], kind: ErrorKind::NotFound, needs_runtime_prefix: false },
    // crun: ``chdir `/x`: No such file or directory`` (the backquote is crun's quoting).
    Row { all: &["chdir `"], kind: ErrorKind::NotFound, needs_runtime_prefix: true },
    // runsc (gVisor): `failed to find initial working directory "/x": no such file or directory`.
    Row { all: &["failed to find initial working directory"], kind: ErrorKind::NotFound, needs_runtime_prefix: false },
    // libcontainer's user lookup: `unable to find user x: no matching entries in passwd file`.
    Row { all: &["unable to find user"], kind: ErrorKind::NotFound, needs_runtime_prefix: false },
    Row { all: &["unable to find group"], kind: ErrorKind::NotFound, needs_runtime_prefix: false },
    // containerd's shim transport (ttrpc, 4 MiB): `message length N exceed maximum message size of M`.
    Row { all: &["exceed maximum message size"], kind: ErrorKind::InvalidArgument, needs_runtime_prefix: false },
    // execve's E2BIG (a single argument over 128 KiB, or all of them over the stack limit).
    Row { all: &["argument list too long"], kind: ErrorKind::InvalidArgument, needs_runtime_prefix: false },
    // A frozen container: runc `cannot exec in a paused container`, crun ``the container `x` is paused``.
    Row { all: &["cannot exec in a paused container"], kind: ErrorKind::Conflict, needs_runtime_prefix: false },
    Row { all: &["the container `", "` is paused"], kind: ErrorKind::Conflict, needs_runtime_prefix: true },
    Row { all: &["executable file not found"], kind: ErrorKind::CommandNotFound, needs_runtime_prefix: true },
    Row { all: &["no such file or directory"], kind: ErrorKind::CommandNotFound, needs_runtime_prefix: true },
    Row { all: &["permission denied"], kind: ErrorKind::CommandNotFound, needs_runtime_prefix: true },
    Row { all: &["is a directory"], kind: ErrorKind::CommandNotFound, needs_runtime_prefix: true },
];

fn has_runtime_prefix(lower: &str) -> bool {
    lower.contains("oci runtime exec failed")
        || lower.contains("exec failed:")
        || lower.contains("starting container process caused")
        || lower.contains("unable to start container process")
}

/// The kind of a message the runtime stack gave for an exec that did not start (containerd's
/// `Tasks.Start` error, or the text docker and pouch pass on); `None` when the text is not one.
pub fn runtime_message_kind(text: &str) -> Option<ErrorKind> {
    let lower = text.to_ascii_lowercase();
    let prefixed = has_runtime_prefix(&lower);
    TABLE
        .iter()
        .find(|row| (prefixed || !row.needs_runtime_prefix) && row.all.iter().all(|w| lower.contains(w)))
        .map(|row| row.kind)
}

/// The kind of an exec that ended with `exit_code` and `output` (its first few KiB, stdout and
/// stderr) when that is the runtime's report of a process that could not start, else `None` (the
/// exit code is the program's result).
/// - 126/127: the daemon's report of a start failure, the whole table applies.
/// - 1: runc started its init but `execve` failed; it prints `exec <path>: <reason>` and nothing
///   else. Only E2BIG is read there (a missing program is 126 already), and only when that line is
///   the whole output, so a program's own exit 1 stays a result.
pub fn start_failure_kind(exit_code: i64, output: &str) -> Option<ErrorKind> {
    let text = output.trim();
    match exit_code {
        126 | 127 => runtime_message_kind(text),
        1 => {
            let single_line = !text.contains('\n');
            let e2big = text.starts_with("exec ") && text.ends_with(": argument list too long");
            (single_line && e2big).then_some(ErrorKind::InvalidArgument)
        }
        _ => None,
    }
}

/// The words of an exec start failure as the message of its error: the runtime's text, or, when
/// there is none, what could not be started.
pub fn start_failure_message(argv0: &str, exit_code: i64, output: &str) -> String {
    let text = output.trim();
    if text.is_empty() {
        format!("`{argv0}` could not be started in the container (exit {exit_code})")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_reports_as_docker_20_10_and_containerd_1_6_give_them_with_runc_crun_and_runsc() {
        let cases = [
            (
                "OCI runtime exec failed: exec failed: container_linux.go:380: starting container process caused: exec: \"nope\": executable file not found in $PATH: unknown",
                ErrorKind::CommandNotFound,
            ),
            (
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"/nonexistent\": stat /nonexistent: no such file or directory: unknown",
                ErrorKind::CommandNotFound,
            ),
            (
                "OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd (\"/nonexist\") set in config.json failed: no such file or directory: unknown",
                ErrorKind::NotFound,
            ),
            (
                "OCI runtime exec failed: executing processes for container: executing command \"true\" in sandbox: failed to find initial working directory \"/no/such/dir\": no such file or directory: unknown",
                ErrorKind::NotFound,
            ),
            (
                "OCI runtime exec failed: chdir `/anyctr/no/such/dir`: No such file or directory: unknown",
                ErrorKind::NotFound,
            ),
            ("unable to find user nosuch: no matching entries in passwd file", ErrorKind::NotFound),
            ("message length 10487208 exceed maximum message size of 4194304: unknown", ErrorKind::InvalidArgument),
            // runc 1.1 and crun 1.8 exec into a frozen container (anyctr's OCI engine, seen live).
            ("exec failed: cannot exec in a paused container (use --ignore-paused to override)", ErrorKind::Conflict),
            ("exec failed: the container `4d65917db605` is paused", ErrorKind::Conflict),
        ];
        for (text, kind) in cases {
            assert_eq!(runtime_message_kind(text), Some(kind), "{text}");
            assert_eq!(start_failure_kind(126, text), Some(kind), "{text}");
        }
    }

    #[test]
    fn a_programs_own_words_are_a_result() {
        assert_eq!(runtime_message_kind("sh: nope: not found"), None);
        assert_eq!(runtime_message_kind("cat: /x: No such file or directory"), None);
        assert_eq!(start_failure_kind(2, "unable to find user x"), None);
        assert_eq!(start_failure_kind(1, "cat: /x: No such file or directory"), None);
        assert_eq!(start_failure_kind(1, "exec /bin/true: argument list too long\nmore"), None);
        assert_eq!(start_failure_kind(0, ""), None);
    }

    #[test]
    fn runcs_execve_e2big_is_invalid_argument() {
        assert_eq!(start_failure_kind(1, "exec /bin/true: argument list too long\n"), Some(ErrorKind::InvalidArgument));
    }

    #[test]
    fn messages() {
        assert_eq!(start_failure_message("x", 126, "  boom\n"), "boom");
        assert!(start_failure_message("x", 127, "").contains("`x` could not be started"));
    }
}
