//! The host cgroup reader: cgroup v2 on a captured tree (tests/fixtures/cgroup-v2, see its
//! README), cgroup v1 live on this machine against a real docker container (needs the harness's
//! dockerd: fails, never skips, without it).

use std::path::{Path, PathBuf};

use anyctr_core::ErrorKind;
use anyctr_core::model::StatsSource;
use anyctr_host::cgroup_stats::{CgroupStatsReader, ContainerCgroup};
use anyctr_testkit::docker_cli::{RemoveOnDrop, docker, require_docker};

const DOCKER_ID: &str = "2f1b7c3a9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c";
const CRI_ID: &str = "7c0ffee0000000000000000000000000000000000000000000000000000000aa";

fn v2_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup-v2")
}

#[test]
fn v2_tree_reads_every_figure() {
    let reader = CgroupStatsReader::new(Some(&v2_tree())).unwrap();
    assert_eq!(reader.source(), StatsSource::HostCgroupV2);
    let s = reader.read_pid(DOCKER_ID, 4242).unwrap();
    assert_eq!(s.container, DOCKER_ID);
    assert_eq!(s.source, StatsSource::HostCgroupV2);
    assert_eq!(s.cpu.usage_ns, Some(2_500_000_000));
    assert_eq!(s.cpu.user_ns, Some(2_000_000_000));
    assert_eq!(s.cpu.system_ns, Some(500_000_000));
    assert_eq!((s.cpu.periods, s.cpu.throttled_periods, s.cpu.throttled_ns), (Some(120), Some(7), Some(35_000_000)));
    assert_eq!(s.memory.usage, Some(73_728_000));
    assert_eq!(s.memory.limit, Some(268_435_456));
    assert_eq!(s.memory.rss, Some(41_943_040));
    assert_eq!(s.memory.file_cache, Some(29_360_128));
    assert_eq!(s.memory.working_set, Some(73_728_000 - 20_971_520));
    assert_eq!(s.memory.swap, Some(0));
    assert_eq!(s.memory.oom_events, Some(1));
    assert_eq!(s.block_io.read_bytes, Some(1_048_576 + 2048));
    assert_eq!(s.block_io.write_bytes, Some(4096));
    assert_eq!((s.block_io.read_ops, s.block_io.write_ops), (Some(41), Some(2)));
    assert_eq!((s.pids.current, s.pids.limit), (Some(5), Some(1024)));
    let psi = s.pressure.expect("PSI files are there");
    assert_eq!(psi.cpu.unwrap().some.unwrap().total_us, 123_456);
    assert_eq!(psi.memory.unwrap().full.unwrap().total_us, 40);
    assert_eq!(psi.io.unwrap().some.unwrap().total_us, 900);
    let nets = s.networks.expect("pid 4242 has its own network namespace");
    assert_eq!(nets.len(), 1);
    assert_eq!((nets[0].interface.as_str(), nets[0].rx_bytes, nets[0].tx_packets), ("eth0", 5000, 30));
}

#[test]
fn v2_what_is_not_there_is_not_reported() {
    let reader = CgroupStatsReader::new(Some(&v2_tree())).unwrap();
    let all = reader.sweep().unwrap();
    let ids: Vec<&str> = all.keys().map(String::as_str).collect();
    assert_eq!(ids, [DOCKER_ID, CRI_ID], "one walk finds both layouts and nothing else");
    let s = reader.read(CRI_ID, &all[CRI_ID], None).unwrap();
    assert_eq!(s.cpu.usage_ns, Some(1_000_000));
    assert_eq!(s.cpu.periods, None, "no cpu controller: no periods, not 0");
    assert_eq!(s.memory.limit, None, "memory.max is max");
    assert_eq!(s.pids.limit, None, "pids.max is max");
    assert_eq!(s.memory.swap, None, "no memory.swap.current");
    assert_eq!(s.memory.oom_events, None, "no memory.events");
    assert_eq!(s.block_io.read_bytes, Some(0), "an empty io.stat is no IO yet");
    assert!(s.pressure.is_none());
    assert!(s.networks.is_none(), "no process listed: no network read");
    let gone = reader.read("x", &ContainerCgroup::uniform("/system.slice/docker-gone.scope"), None).unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    let escape = reader.read("x", &ContainerCgroup::uniform("/../../../etc"), None);
    assert!(escape.is_err() || escape.unwrap().memory.usage.is_none(), "resolution stays inside the cgroup tree");
}

#[test]
fn v1_live_docker_container() {
    require_docker();
    let name = anyctr_testkit::unique("stats-v1");
    let _rm = RemoveOnDrop(name.clone());
    let image = anyctr_testkit::image();
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--memory",
        "64m",
        &image,
        "sh",
        "-c",
        "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 600",
    ])
    .unwrap();
    let id = docker(&["inspect", "-f", "{{.Id}}", &name]).unwrap().trim().to_owned();
    let pid: u32 = docker(&["inspect", "-f", "{{.State.Pid}}", &name]).unwrap().trim().parse().unwrap();
    let reader = CgroupStatsReader::new(None).unwrap();
    assert_eq!(reader.source(), StatsSource::HostCgroupV1, "this machine mounts cgroup v1");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let s = reader.read_pid(&id, pid).unwrap();
    assert!(s.cpu.usage_ns.unwrap() > 0, "{s:?}");
    assert!(s.cpu.user_ns.is_some() && s.cpu.system_ns.is_some());
    assert!(s.memory.usage.unwrap() > 0);
    assert_eq!(s.memory.limit, Some(64 * 1024 * 1024));
    assert!(s.pids.current.unwrap() >= 1);
    let nets = s.networks.expect("a bridge container has its own netns");
    assert!(nets.iter().any(|n| n.interface == "eth0"), "{nets:?}");
    let swept = reader.sweep().unwrap();
    let by_sweep = reader.read(&id, &swept[&id], None).unwrap();
    assert_eq!(by_sweep.memory.limit, s.memory.limit);
    assert!(by_sweep.cpu.usage_ns >= s.cpu.usage_ns);
    assert!(by_sweep.networks.is_some(), "the sweep finds the netns through cgroup.procs");
}

/// Many containers read on several threads come back in the order asked, each as `read` gives it.
#[test]
fn read_many_keeps_order_and_figures() {
    let reader = CgroupStatsReader::new(Some(&v2_tree())).unwrap();
    let all = reader.sweep().unwrap();
    let gone = ContainerCgroup::uniform("/system.slice/docker-gone.scope");
    let mut asked: Vec<(&str, &ContainerCgroup)> = Vec::new();
    for i in 0..100 {
        asked.push(if i % 2 == 0 { (DOCKER_ID, &all[DOCKER_ID]) } else { (CRI_ID, &all[CRI_ID]) });
    }
    asked.push(("gone", &gone));
    let got = reader.read_many(&asked);
    assert_eq!(got.len(), asked.len());
    for ((id, cgroup), sample) in asked.iter().zip(&got).take(100) {
        let one = reader.read(id, cgroup, None).unwrap();
        let sample = sample.as_ref().unwrap();
        assert_eq!(
            (&sample.container, sample.cpu.usage_ns, sample.memory.usage),
            (&one.container, one.cpu.usage_ns, one.memory.usage)
        );
    }
    assert_eq!(got[100].as_ref().unwrap_err().kind(), ErrorKind::NotFound, "a cgroup that is gone");
}
