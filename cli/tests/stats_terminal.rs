//! The refreshing stats table in a real terminal (tmux): it redraws, shows the container, puts
//! the terminal back and exits 0 on `q`, on Ctrl-C, and by itself when the container goes.

mod common;

use std::time::{Duration, Instant};

use anyctr_testkit::docker_cli::docker;
use common::{TmuxSession, addresses, docker_container, tmux, unique};

/// A tmux session running `anyctr stats` on one container, then printing its exit code and
/// whether the terminal is back in canonical mode; killed when dropped.
struct Session(TmuxSession);

impl Session {
    fn start(id: &str) -> Session {
        let session = Session(TmuxSession(unique("anyctr-stats")));
        let command = format!(
            "env NO_COLOR=1 ANYCTR_ADDRESSES='{}' {} stats --interval 0.3 {id}; echo EXIT=$?; \
             stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 120",
            addresses(),
            env!("CARGO_BIN_EXE_anyctr"),
        );
        tmux(&["new-session", "-d", "-s", &session.0.0, "-x", "150", "-y", "20", &command]);
        session
    }

    fn pane(&self) -> String {
        tmux(&["capture-pane", "-p", "-t", &self.0.0])
    }

    /// The pane once it holds `what` (bounded).
    fn wait_for(&self, what: &str) -> String {
        let started = Instant::now();
        loop {
            let pane = self.pane();
            if pane.contains(what) {
                return pane;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no {what:?} in the pane:\n{pane}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The title line's time (`anyctr stats at HH:MM:SS: …`).
    fn title_time(pane: &str) -> String {
        let title = pane.lines().find(|l| l.starts_with("anyctr stats at ")).unwrap_or_else(|| panic!("{pane}"));
        title["anyctr stats at ".len().."anyctr stats at HH:MM:SS".len()].to_owned()
    }

    /// It exited 0 and left the terminal in canonical mode (raw mode undone).
    fn assert_clean_exit(&self) -> String {
        // stty's answer (`icanon` or `-icanon`) comes a moment after the exit code: wait for it.
        let pane = self.wait_for("icanon");
        assert!(pane.contains("EXIT=0"), "{pane}");
        let after: Vec<&str> =
            pane.lines().skip_while(|l| !l.starts_with("EXIT=")).skip(1).filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(after.first().map(|l| l.trim()), Some("icanon"), "the terminal is back to canonical mode:\n{pane}");
        pane
    }
}

#[test]
fn the_stats_table_refreshes_and_ends_on_q_ctrl_c_and_when_the_container_goes() {
    let label = unique("cli-stats-tty");
    let (_c, id) = docker_container(&label, "runc", &["sleep", "600"]);
    let name = docker(&["inspect", "-f", "{{.Name}}", &id]).unwrap().trim().trim_start_matches('/').to_owned();

    // It draws the table with the container, and redraws it (the title's time moves on).
    let s = Session::start(&id);
    let first = s.wait_for(&name);
    assert!(first.contains("q to quit"), "{first}");
    let header: Vec<&str> = first.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(header[..3], ["ENGINE", "CONTAINER", "NAME"], "{first}");
    assert!(first.lines().any(|l| l.starts_with("docker ") && l.contains(&id[..12]) && l.contains(&name)), "{first}");
    let started = Instant::now();
    let t0 = Session::title_time(&first);
    loop {
        let pane = s.pane();
        if pane.contains(&name) && Session::title_time(&pane) != t0 {
            // One table on the screen: redrawn in place, not appended.
            assert_eq!(pane.matches("CONTAINER").count(), 1, "{pane}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the table was not redrawn:\n{pane}");
        std::thread::sleep(Duration::from_millis(200));
    }
    tmux(&["send-keys", "-t", &s.0.0, "q"]);
    let pane = s.assert_clean_exit();
    assert!(pane.contains(&name), "the last table stays on the screen:\n{pane}");
    drop(s);

    // Ctrl-C.
    let s = Session::start(&id);
    s.wait_for(&name);
    tmux(&["send-keys", "-t", &s.0.0, "C-c"]);
    s.assert_clean_exit();
    drop(s);

    // The container goes: the display says so and ends by itself.
    let s = Session::start(&id);
    s.wait_for(&name);
    docker(&["rm", "-f", &id]).unwrap();
    let pane = s.assert_clean_exit();
    assert!(pane.contains("stopped") && pane.contains("every container named has stopped"), "{pane}");
}
