//! Exit codes and the one-line error report.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (for `exec`: the command's own exit code is anyctr's) |
//! | 1 | any other failure (conflict, unexpected answer) |
//! | 3 | conformance: a trial failed, a setup was not reachable, or the suite found a problem |
//! | 64 | bad input: usage, unknown flag, bad filter, malformed address, ambiguous id |
//! | 65 | unsupported: the engine or the container's runtime cannot do it |
//! | 66 | not found: no such container, path or process |
//! | 69 | unavailable: no engine answered, or a daemon stopped answering |
//! | 75 | timeout: a bounded call ran out |
//! | 77 | permission denied |
//! | 127 | exec: the command does not exist in the container |
//!
//! The codes follow sysexits(3) where it has one, so they do not collide with the small codes
//! commands usually exit with.

use std::process::ExitCode;

use anyctr::{Error, ErrorKind};

/// Not an error of a call: the suite ran and found a failure (sysexits has no code for it; the
/// small codes below 64 are the commands' own, and 1 is every other failure).
pub const CONFORMANCE_FAILED: u8 = 3;
pub const BAD_INPUT: u8 = 64;
pub const UNSUPPORTED: u8 = 65;
pub const NOT_FOUND: u8 = 66;
pub const UNAVAILABLE: u8 = 69;
pub const TIMEOUT: u8 = 75;
pub const PERMISSION: u8 = 77;
pub const COMMAND_NOT_FOUND: u8 = 127;

/// The exit code for an error of `kind`.
pub fn code_of(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidArgument => BAD_INPUT,
        ErrorKind::Unsupported => UNSUPPORTED,
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::EngineUnavailable => UNAVAILABLE,
        ErrorKind::Timeout => TIMEOUT,
        ErrorKind::PermissionDenied => PERMISSION,
        ErrorKind::CommandNotFound => COMMAND_NOT_FOUND,
        _ => 1,
    }
}

/// What to try next, for the errors where one helps.
fn hint(error: &Error) -> Option<&'static str> {
    match error.kind() {
        ErrorKind::PermissionDenied => Some("run anyctr as root (the engines' sockets and /proc need it)"),
        ErrorKind::EngineUnavailable => {
            Some("point anyctr at the engines with --address or DOCKER_HOST / CONTAINERD_ADDRESS / CONTAINER_HOST")
        }
        ErrorKind::Unsupported if error.message().contains("host-visible") => {
            Some("the container runs sandboxed: use the engine's path (exec without --fast, cp picks a strategy)")
        }
        _ => None,
    }
}

/// Prints `anyctr: <kind>: <what failed> [context] (hint: …)` on one line and gives its code.
pub fn report(command: &str, error: &Error) -> ExitCode {
    let line = error.to_string().replace('\n', "; ");
    match hint(error) {
        Some(hint) => eprintln!("anyctr {command}: {line} (hint: {hint})"),
        None => eprintln!("anyctr {command}: {line}"),
    }
    ExitCode::from(code_of(error.kind()))
}
