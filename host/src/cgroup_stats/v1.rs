//! cgroup v1: the `cpuacct`, `cpu`, `memory`, `blkio` and `pids` controllers, each its own hierarchy.

use anyctr_core::model::ContainerStats;

use super::CgroupFiles;
use super::parse::{blkio_sum, keyed, single};

/// `USER_HZ`: `cpuacct.stat` counts in these ticks (100 on every Linux architecture anyctr targets).
const NS_PER_TICK: u64 = 1_000_000_000 / 100;

/// Fills `stats` from the container's v1 controller directories.
pub(super) fn fill(files: &dyn CgroupFiles, stats: &mut ContainerStats) {
    let cpu = &mut stats.cpu;
    cpu.usage_ns = files.read("cpuacct", "cpuacct.usage").and_then(|t| single(&t, false));
    // `cpuacct.usage_user`/`_sys` are nanoseconds (kernel ≥ 4.6); `cpuacct.stat` is in ticks.
    cpu.user_ns = files.read("cpuacct", "cpuacct.usage_user").and_then(|t| single(&t, false));
    cpu.system_ns = files.read("cpuacct", "cpuacct.usage_sys").and_then(|t| single(&t, false));
    if (cpu.user_ns.is_none() || cpu.system_ns.is_none())
        && let Some(text) = files.read("cpuacct", "cpuacct.stat")
    {
        let get = keyed(&text);
        cpu.user_ns = cpu.user_ns.or(get("user").map(|t| t.saturating_mul(NS_PER_TICK)));
        cpu.system_ns = cpu.system_ns.or(get("system").map(|t| t.saturating_mul(NS_PER_TICK)));
    }
    if let Some(text) = files.read("cpu", "cpu.stat") {
        let get = keyed(&text);
        cpu.periods = get("nr_periods");
        cpu.throttled_periods = get("nr_throttled");
        cpu.throttled_ns = get("throttled_time");
    }

    let mem = &mut stats.memory;
    mem.usage = files.read("memory", "memory.usage_in_bytes").and_then(|t| single(&t, false));
    mem.limit = files.read("memory", "memory.limit_in_bytes").and_then(|t| single(&t, true));
    if let Some(text) = files.read("memory", "memory.stat") {
        let get = keyed(&text);
        mem.rss = get("total_rss");
        mem.file_cache = get("total_cache");
        mem.swap = get("total_swap");
        // cAdvisor's working set: usage less the inactive file cache the kernel can drop at once.
        mem.working_set = mem.usage.zip(get("total_inactive_file")).map(|(u, i)| u.saturating_sub(i));
    }
    mem.oom_events = files.read("memory", "memory.oom_control").and_then(|t| keyed(&t)("oom_kill"));

    // The throttle files count every IO (the CFQ/BFQ ones only what that scheduler saw).
    let bytes = files
        .read("blkio", "blkio.throttle.io_service_bytes_recursive")
        .or_else(|| files.read("blkio", "blkio.throttle.io_service_bytes"));
    let ops = files
        .read("blkio", "blkio.throttle.io_serviced_recursive")
        .or_else(|| files.read("blkio", "blkio.throttle.io_serviced"));
    let io = &mut stats.block_io;
    if let Some(text) = bytes {
        // An empty file means no IO yet on any device: zero is what the kernel says, not a guess.
        io.read_bytes = blkio_sum(&text, "Read").or(Some(0));
        io.write_bytes = blkio_sum(&text, "Write").or(Some(0));
    }
    if let Some(text) = ops {
        io.read_ops = blkio_sum(&text, "Read").or(Some(0));
        io.write_ops = blkio_sum(&text, "Write").or(Some(0));
    }

    stats.pids.current = files.read("pids", "pids.current").and_then(|t| single(&t, false));
    stats.pids.limit = files.read("pids", "pids.max").and_then(|t| single(&t, true));
}
