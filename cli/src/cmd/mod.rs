//! One module per command.

pub mod conformance;
pub mod cp;
pub mod engines;
pub mod events;
pub mod exec;
pub mod host_path;
pub mod inspect;
pub mod logs;
pub mod pods;
pub mod ps;
pub mod stats;
pub mod top;
pub mod who;

/// Warns on stderr about engines that are not healthy (a listing may miss their containers).
pub fn warn(problems: &[String]) {
    for problem in problems {
        eprintln!("anyctr: warning: {}", problem.replace('\n', "; "));
    }
}
