//! The host-side signal pouch's kill, stop and forced remove use (pouchd 1.3.0 has no kill API),
//! on real runc containers of this machine's dockerd (no pouchd here): the container's main process
//! is signalled only after it is proven to be that container's init, and a pid that is not is
//! refused with nothing signalled.

use std::path::PathBuf;
use std::time::Duration;

use anyctr_core::ErrorKind;
use anyctr_core::host_signal::{Delivered, MainProcess, signal_main_process};

fn docker(args: &[&str]) -> String {
    let out = anyctr_testkit::docker_cli::docker(args).unwrap_or_else(|e| panic!("{e} (engines not up?)"));
    out.trim().to_owned()
}

struct Container {
    id: String,
}

impl Container {
    fn run() -> Container {
        let image = anyctr_testkit::image();
        let name = format!("anyctr-host-signal-{}-{:x}", std::process::id(), rand_nanos());
        Container { id: docker(&["run", "-d", "--name", &name, &image, "sleep", "600"]) }
    }

    fn inspect(&self, format: &str) -> String {
        docker(&["inspect", "-f", format, &self.id])
    }

    fn pid(&self) -> u32 {
        self.inspect("{{.State.Pid}}").parse().unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| docker(&["rm", "-f", &self.id]));
    }
}

fn rand_nanos() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
}

fn exited_with(c: &Container, code: &str) -> bool {
    for _ in 0..100 {
        if c.inspect("{{.State.Running}}") == "false" {
            return c.inspect("{{.State.ExitCode}}") == code;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn the_containers_init_is_signalled_by_its_root() {
    let c = Container::run();
    let merged = PathBuf::from(c.inspect("{{.GraphDriver.Data.MergedDir}}"));
    let pid = c.pid();
    // Another container's id and no rootfs: refused, the container lives on.
    let stranger = "f".repeat(64);
    let e = signal_main_process(MainProcess { container_id: &stranger, pid, rootfs: None }, 9).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(c.inspect("{{.State.Running}}"), "true", "nothing was signalled");
    // Its rootfs proves it (the id is not consulted then).
    let main = MainProcess { container_id: &stranger, pid, rootfs: Some(&merged) };
    assert_eq!(signal_main_process(main, 9).unwrap(), Delivered::Signalled);
    assert!(exited_with(&c, "137"), "SIGKILL ended the container");
    // The same pid again: gone (or reused by a stranger): never signalled.
    match signal_main_process(main, 9) {
        Ok(d) => assert_eq!(d, Delivered::AlreadyExited),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
    }
}

#[test]
fn the_containers_init_is_signalled_by_its_cgroup() {
    let c = Container::run();
    let main = MainProcess { container_id: &c.id, pid: c.pid(), rootfs: None };
    assert_eq!(signal_main_process(main, 9).unwrap(), Delivered::Signalled);
    assert!(exited_with(&c, "137"), "SIGKILL ended the container");
}

#[test]
fn a_process_of_the_container_that_is_not_its_init_is_refused() {
    let c = Container::run();
    docker(&["exec", "-d", &c.id, "sleep", "601"]);
    let init = c.pid();
    // The exec's host pid: a child of the container's namespace, not pid 1 there.
    let mut exec_pid = None;
    for _ in 0..100 {
        exec_pid = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|p| {
                *p != init
                    && std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == b"sleep\x00601\x00")
                    && std::fs::read_to_string(format!("/proc/{p}/cgroup")).is_ok_and(|g| g.contains(&c.id))
            });
        if exec_pid.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let exec_pid = exec_pid.expect("the exec's process");
    let e = signal_main_process(MainProcess { container_id: &c.id, pid: exec_pid, rootfs: None }, 9).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.message().contains("not pid 1"), "{e}");
}
