//! The cp progress bar in a real terminal (tmux), and none when stderr is not a terminal.

mod common;

use std::time::{Duration, Instant};

use common::{TmuxSession as Session, addresses, anyctr, docker_container, tmux, unique};

#[test]
fn cp_draws_a_progress_bar_on_a_terminal_only() {
    let label = unique("cli-bar");
    let (_c, id) = docker_container(&label, "runc", &["sleep", "600"]);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("big");
    std::fs::write(&local, vec![7u8; 64 << 20]).unwrap();
    let session = Session(unique("anyctr-bar"));
    let command = format!(
        "env NO_COLOR=1 ANYCTR_ADDRESSES='{}' {} cp {} {id}:/tmp/big; echo EXIT=$?; sleep 120",
        addresses(),
        env!("CARGO_BIN_EXE_anyctr"),
        local.display()
    );
    tmux(&["new-session", "-d", "-s", &session.0, "-x", "160", "-y", "12", &command]);
    let started = Instant::now();
    let pane = loop {
        let pane = tmux(&["capture-pane", "-p", "-t", &session.0]);
        if pane.contains("EXIT=") {
            break pane;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "no exit in the pane:\n{pane}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(pane.contains("EXIT=0"), "{pane}");
    // The finished bar: the bytes over the total, drawn with the bar's blocks.
    assert!(pane.contains("64.00 MiB/64.00 MiB"), "{pane}");
    assert!(pane.contains('█'), "{pane}");
    assert!(pane.contains("copied via host_path"), "{pane}");

    // Not a terminal: the report alone, no bar.
    let out =
        anyctr().args(["cp", &format!("{id}:/tmp/big"), dir.path().join("back").to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "no bar when piped: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("copied via host_path"));
}
