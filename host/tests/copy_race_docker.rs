//! A container attacking the host-path copy while it runs (CVE-2018-15664, the `docker cp`
//! symlink-exchange race): a static C program in a runc container swaps `/x/dir` with a symlink
//! to `/` (or `/etc`) by `renameat2(RENAME_EXCHANGE)` in a tight loop, while `copy_from` and
//! `copy_to` run against paths under `/x/dir`. A host marker must never be read, and nothing may
//! be written outside the container. Both host strategies: the merged dir and
//! `/proc/<pid>/root`. A naive `mv`/`ln -s` shell loop gets the same treatment.
//! Needs the harness's dockerd, gcc and a static libc: fails, never skips, without them.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyctr_core::model::{ContainerDetail, RootfsView};
use anyctr_host::copy::{CopyOptions, CopyStrategy, copy_from_container, copy_to_container};
use anyctr_host::host_path::{HostPathSource, host_path};
use support::docker::{Guard, detail_from_inspect, docker, exec, require_engine, run, socket, unique};
use support::docker_cli::DockerCli;

const ROUNDS: usize = 500;

const SWAPPER: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    for (;;) {
        /* RENAME_EXCHANGE: the directory and the link trade places atomically. */
        if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], 1 << 1) != 0) {
            perror("renameat2");
            return 1;
        }
    }
}
"#;

/// Builds the attacker once per test binary.
fn swapper(dir: &Path) -> PathBuf {
    let src = dir.join("swap.c");
    let bin = dir.join("swap");
    fs::write(&src, SWAPPER).unwrap();
    let out = Command::new("gcc").args(["-static", "-O2", "-o"]).arg(&bin).arg(&src).output().expect("gcc");
    assert!(out.status.success(), "gcc -static failed: {}", String::from_utf8_lossy(&out.stderr));
    bin
}

fn only_host() -> CopyOptions {
    CopyOptions::default().strategies([CopyStrategy::HostPath])
}

/// The two host strategies for one container: its merged dir, and `/proc/<pid>/root` (forced by
/// hiding the merged dir).
fn strategies(c: &ContainerDetail) -> [(&'static str, ContainerDetail); 2] {
    let mut proc = c.clone();
    proc.rootfs = RootfsView::NotReported;
    assert_eq!(host_path(c, "/x", None).unwrap().source, HostPathSource::MergedRootfs);
    assert!(matches!(host_path(&proc, "/x", None).unwrap().source, HostPathSource::ProcRoot { .. }));
    [("merged", c.clone()), ("proc_root", proc)]
}

/// Host files that a broken copy would read, removed afterwards.
struct HostMarkers(Vec<PathBuf>);

impl Drop for HostMarkers {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

/// What one attack run saw.
#[derive(Debug, Default)]
struct Tally {
    read_ok: usize,
    /// Reads that went through the container's link (its twin file): the swap was live.
    via_link: usize,
    read_err: usize,
    write_ok: usize,
    write_err: usize,
}

/// Runs `ROUNDS` copies out and in against `/x/dir/<rel>` for each host strategy while the
/// container attacks, and checks the host: `host_dir` is where `/x/dir` lands on the host if a
/// copy followed the container's link with the host's semantics.
async fn attack(name: &str, rel: &str, host_dir: &Path, rounds: usize) -> Vec<(&'static str, Tally)> {
    let c = detail_from_inspect(name);
    let engine = DockerCli { socket: socket() };
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let tag = unique("w").replace('-', "_");
    let payload = base.join("payload");
    fs::write(&payload, "PAYLOAD\n").unwrap();
    let payload_dir = base.join("payload_dir");
    fs::create_dir_all(payload_dir.join("sub")).unwrap();
    fs::write(payload_dir.join("sub/f"), "PAYLOAD\n").unwrap();
    let mut results = Vec::new();
    for (strategy, c) in strategies(&c) {
        let mut t = Tally::default();
        for i in 0..rounds {
            let out = base.join(format!("out-{strategy}-{i}"));
            match copy_from_container(&engine, &c, &format!("/x/dir/{rel}"), &out, &only_host()).await {
                Ok(_) => {
                    let got = fs::read_to_string(&out).unwrap();
                    assert!(got.starts_with("CONTAINER"), "{strategy}: copy {i} read a host file: {got:?}");
                    t.via_link += usize::from(got == "CONTAINER-VIA-LINK\n");
                    t.read_ok += 1;
                }
                Err(e) => {
                    if t.read_err == 0 {
                        println!("RACE {strategy}: first failed read: {e}");
                    }
                    assert!(fs::symlink_metadata(&out).is_err(), "{strategy}: a failed copy left {}", out.display());
                    t.read_err += 1;
                }
            }
            let parent = Path::new(rel).parent().unwrap_or(Path::new("")).to_string_lossy().into_owned();
            let dest_name = format!("{tag}_{strategy}_{i}");
            let dest = format!("/x/dir/{parent}/{dest_name}").replace("//", "/");
            let src = if i % 2 == 0 { &payload } else { &payload_dir };
            match copy_to_container(&engine, &c, src, &dest, &only_host()).await {
                Ok(_) => t.write_ok += 1,
                Err(_) => t.write_err += 1,
            }
        }
        results.push((strategy, t));
    }
    // Nothing landed on the host: no name this run used exists where the link points there.
    let written: Vec<_> = fs::read_dir(host_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&tag))
        .map(|e| e.path())
        .collect();
    for p in &written {
        let _ = fs::remove_dir_all(p).or_else(|_| fs::remove_file(p));
    }
    assert!(written.is_empty(), "copies wrote onto the host: {written:?}");
    results
}

/// Starts a runc container with `/x/dir/<rel>` and its twin through the link holding
/// `CONTAINER`, the host's twin holding `HOST`, and `/x/link -> <link_target>`.
fn victim(tag: &str, rel: &str, link_target: &str, host_twin: &Path) -> (String, Guard, HostMarkers) {
    let name = unique(tag);
    let guard = run(&name, &[]);
    fs::write(host_twin, "HOST\n").unwrap();
    let twin_in_container = Path::new(link_target).join(rel);
    exec(
        &name,
        &format!(
            "mkdir -p /x/dir/$(dirname {rel}) $(dirname {twin}) && echo CONTAINER > /x/dir/{rel} && echo CONTAINER-VIA-LINK > {twin} && ln -s {link_target} /x/link",
            twin = twin_in_container.display()
        ),
    );
    (name, guard, HostMarkers(vec![host_twin.to_path_buf()]))
}

fn start_swapper(name: &str, bin: &Path) {
    docker(&["cp", bin.to_str().unwrap(), &format!("{name}:/swap")]).unwrap();
    docker(&["exec", "-d", name, "/swap", "/x/dir", "/x/link"]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
}

/// The attacker must still be running at the end, or the test proved nothing.
fn still_attacking(name: &str, what: &str) {
    let ps = exec(name, "ps");
    assert!(ps.contains(what), "the attacker stopped: {ps}");
}

fn report(variant: &str, results: &[(&str, Tally)], exchange: bool) {
    for (strategy, t) in results {
        println!("RACE {variant} {strategy}: {t:?}");
        // Some copies must have gone through, or nothing was exercised.
        assert!(t.read_ok + t.write_ok > 0, "{variant} {strategy}: no copy got through: {t:?}");
        // With the exchange loop both sides of the swap must have been met.
        if exchange {
            assert!(t.via_link > 0 && t.via_link < t.read_ok, "{variant} {strategy}: the swap was not live: {t:?}");
        }
    }
}

/// The exchange attack with `/x/link -> link_target`: a broken copy would reach the host's
/// `link_target` through `/x/dir`.
async fn exchange_race(link_target: &str) {
    require_engine();
    let tmp = tempfile::tempdir().unwrap();
    let bin = swapper(tmp.path());
    let marker = format!("anyctr-race-{}", unique("m"));
    // Under the root variant the copies use /x/dir/tmp/<marker>: host /tmp, not host /.
    let (rel, host_dir) = if link_target == "/" {
        (format!("tmp/{marker}"), PathBuf::from("/tmp"))
    } else {
        (marker.clone(), PathBuf::from(link_target))
    };
    let host_twin = host_dir.join(&marker);
    let (name, _guard, _markers) = victim("race-exchange", &rel, link_target, &host_twin);
    start_swapper(&name, &bin);
    let results = attack(&name, &rel, &host_dir, ROUNDS).await;
    still_attacking(&name, "/swap");
    report(&format!("link-to-{link_target}"), &results, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renameat2_exchange_with_a_link_to_root_never_reaches_the_host() {
    exchange_race("/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renameat2_exchange_with_a_link_to_etc_never_reaches_the_host() {
    exchange_race("/etc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_naive_mv_and_ln_loop_never_reaches_the_host() {
    require_engine();
    let marker = format!("anyctr-race-{}", unique("m"));
    let host_twin = Path::new("/tmp").join(&marker);
    let (name, _guard, _markers) = victim("race-shell", &format!("tmp/{marker}"), "/", &host_twin);
    let script = "while true; do mv /x/dir /x/dir.real; ln -s / /x/dir; rm /x/dir; mv /x/dir.real /x/dir; done";
    docker(&["exec", "-d", &name, "sh", "-c", script]).unwrap();
    let results = attack(&name, &format!("tmp/{marker}"), Path::new("/tmp"), ROUNDS / 2).await;
    still_attacking(&name, "while true");
    report("shell-loop", &results, false);
}
