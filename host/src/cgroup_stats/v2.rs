//! cgroup v2: one directory per container with every enabled controller's files.

use anyctr_core::model::{ContainerStats, PressureStats};

use super::CgroupFiles;
use super::parse::{io_stat_sum, keyed, pressure, single};

/// Fills `stats` from the container's v2 directory.
pub(super) fn fill(files: &dyn CgroupFiles, stats: &mut ContainerStats) {
    let read = |name: &str| files.read("", name);
    if let Some(text) = read("cpu.stat") {
        let get = keyed(&text);
        let ns = |key: &str| get(key).map(|us| us.saturating_mul(1000));
        let cpu = &mut stats.cpu;
        cpu.usage_ns = ns("usage_usec");
        cpu.user_ns = ns("user_usec");
        cpu.system_ns = ns("system_usec");
        // Present only where the cpu controller is enabled for the cgroup.
        cpu.periods = get("nr_periods");
        cpu.throttled_periods = get("nr_throttled");
        cpu.throttled_ns = ns("throttled_usec");
    }

    let mem = &mut stats.memory;
    mem.usage = read("memory.current").and_then(|t| single(&t, false));
    mem.limit = read("memory.max").and_then(|t| single(&t, true));
    mem.swap = read("memory.swap.current").and_then(|t| single(&t, false));
    if let Some(text) = read("memory.stat") {
        let get = keyed(&text);
        mem.rss = get("anon");
        mem.file_cache = get("file");
        mem.working_set = mem.usage.zip(get("inactive_file")).map(|(u, i)| u.saturating_sub(i));
    }
    mem.oom_events = read("memory.events").and_then(|t| keyed(&t)("oom_kill"));

    if let Some(text) = read("io.stat") {
        // No line: no IO on any device yet, which the kernel reports as an empty file.
        let sum = |field: &str| io_stat_sum(&text, field).or(Some(0));
        let io = &mut stats.block_io;
        (io.read_bytes, io.write_bytes) = (sum("rbytes"), sum("wbytes"));
        (io.read_ops, io.write_ops) = (sum("rios"), sum("wios"));
    }

    stats.pids.current = read("pids.current").and_then(|t| single(&t, false));
    stats.pids.limit = read("pids.max").and_then(|t| single(&t, true));

    let mut psi = PressureStats::default();
    psi.cpu = read("cpu.pressure").and_then(|t| pressure(&t));
    psi.memory = read("memory.pressure").and_then(|t| pressure(&t));
    psi.io = read("io.pressure").and_then(|t| pressure(&t));
    if psi.cpu.is_some() || psi.memory.is_some() || psi.io.is_some() {
        stats.pressure = Some(psi);
    }
}
