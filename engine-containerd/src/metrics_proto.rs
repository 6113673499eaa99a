//! The cgroup metrics a shim returns from `Tasks.Metrics`, as the `Any` payload of each
//! `containerd.types.Metric`: `io.containerd.cgroups.v1.Metrics` (runc on cgroup v1, and runsc,
//! whose shim reports its sandbox in the v1 shape on any host) and
//! `io.containerd.cgroups.v2.Metrics` (runc on cgroup v2).
//!
//! Declared here with prost's derive, only the fields anyctr reads, with the tags of
//! containerd/cgroups' `stats/v1/metrics.proto` and `cgroup2/stats/metrics.proto` (prost skips
//! the fields not declared). containerd-client ships neither proto, and a build script would
//! need protoc on every build machine for a dozen numbers.

use anyctr_core::model::{ContainerStats, NetworkStats};

/// The type URL of cgroup v1 metrics.
pub(crate) const V1_TYPE: &str = "io.containerd.cgroups.v1.Metrics";
/// The type URL of cgroup v2 metrics.
pub(crate) const V2_TYPE: &str = "io.containerd.cgroups.v2.Metrics";

/// Limits at or above this are "unlimited" (v1's `PAGE_COUNTER_MAX` in bytes, v2's `max`).
const UNLIMITED_FLOOR: u64 = 1 << 62;

fn limit(n: u64) -> Option<u64> {
    (n > 0 && n < UNLIMITED_FLOOR).then_some(n)
}

pub(crate) mod v1 {
    /// `io.containerd.cgroups.v1.Metrics`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metrics {
        #[prost(message, optional, tag = "2")]
        pub pids: Option<PidsStat>,
        #[prost(message, optional, tag = "3")]
        pub cpu: Option<CpuStat>,
        #[prost(message, optional, tag = "4")]
        pub memory: Option<MemoryStat>,
        #[prost(message, optional, tag = "5")]
        pub blkio: Option<BlkIoStat>,
        #[prost(message, repeated, tag = "7")]
        pub network: Vec<NetworkStat>,
        #[prost(message, optional, tag = "9")]
        pub memory_oom_control: Option<MemoryOomControl>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PidsStat {
        #[prost(uint64, tag = "1")]
        pub current: u64,
        #[prost(uint64, tag = "2")]
        pub limit: u64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CpuStat {
        #[prost(message, optional, tag = "1")]
        pub usage: Option<CpuUsage>,
        #[prost(message, optional, tag = "2")]
        pub throttling: Option<Throttle>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CpuUsage {
        #[prost(uint64, tag = "1")]
        pub total: u64,
        #[prost(uint64, tag = "2")]
        pub kernel: u64,
        #[prost(uint64, tag = "3")]
        pub user: u64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Throttle {
        #[prost(uint64, tag = "1")]
        pub periods: u64,
        #[prost(uint64, tag = "2")]
        pub throttled_periods: u64,
        #[prost(uint64, tag = "3")]
        pub throttled_time: u64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MemoryStat {
        #[prost(uint64, tag = "18")]
        pub total_cache: u64,
        #[prost(uint64, tag = "19")]
        pub total_rss: u64,
        #[prost(uint64, tag = "30")]
        pub total_inactive_file: u64,
        #[prost(message, optional, tag = "33")]
        pub usage: Option<MemoryEntry>,
        /// memory+swap (`memory.memsw.*`).
        #[prost(message, optional, tag = "34")]
        pub swap: Option<MemoryEntry>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MemoryEntry {
        #[prost(uint64, tag = "1")]
        pub limit: u64,
        #[prost(uint64, tag = "2")]
        pub usage: u64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MemoryOomControl {
        #[prost(uint64, tag = "3")]
        pub oom_kill: u64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BlkIoStat {
        #[prost(message, repeated, tag = "1")]
        pub io_service_bytes_recursive: Vec<BlkIoEntry>,
        #[prost(message, repeated, tag = "2")]
        pub io_serviced_recursive: Vec<BlkIoEntry>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BlkIoEntry {
        #[prost(string, tag = "1")]
        pub op: String,
        #[prost(uint64, tag = "5")]
        pub value: u64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NetworkStat {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(uint64, tag = "2")]
        pub rx_bytes: u64,
        #[prost(uint64, tag = "3")]
        pub rx_packets: u64,
        #[prost(uint64, tag = "4")]
        pub rx_errors: u64,
        #[prost(uint64, tag = "5")]
        pub rx_dropped: u64,
        #[prost(uint64, tag = "6")]
        pub tx_bytes: u64,
        #[prost(uint64, tag = "7")]
        pub tx_packets: u64,
        #[prost(uint64, tag = "8")]
        pub tx_errors: u64,
        #[prost(uint64, tag = "9")]
        pub tx_dropped: u64,
    }
}

pub(crate) mod v2 {
    /// `io.containerd.cgroups.v2.Metrics`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metrics {
        #[prost(message, optional, tag = "1")]
        pub pids: Option<PidsStat>,
        #[prost(message, optional, tag = "2")]
        pub cpu: Option<CpuStat>,
        #[prost(message, optional, tag = "4")]
        pub memory: Option<MemoryStat>,
        #[prost(message, optional, tag = "6")]
        pub io: Option<IoStat>,
        #[prost(message, optional, tag = "8")]
        pub memory_events: Option<MemoryEvents>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PidsStat {
        #[prost(uint64, tag = "1")]
        pub current: u64,
        #[prost(uint64, tag = "2")]
        pub limit: u64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CpuStat {
        #[prost(uint64, tag = "1")]
        pub usage_usec: u64,
        #[prost(uint64, tag = "2")]
        pub user_usec: u64,
        #[prost(uint64, tag = "3")]
        pub system_usec: u64,
        #[prost(uint64, tag = "4")]
        pub nr_periods: u64,
        #[prost(uint64, tag = "5")]
        pub nr_throttled: u64,
        #[prost(uint64, tag = "6")]
        pub throttled_usec: u64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MemoryStat {
        #[prost(uint64, tag = "1")]
        pub anon: u64,
        #[prost(uint64, tag = "2")]
        pub file: u64,
        #[prost(uint64, tag = "13")]
        pub inactive_file: u64,
        #[prost(uint64, tag = "32")]
        pub usage: u64,
        #[prost(uint64, tag = "33")]
        pub usage_limit: u64,
        #[prost(uint64, tag = "34")]
        pub swap_usage: u64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MemoryEvents {
        #[prost(uint64, tag = "5")]
        pub oom_kill: u64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct IoStat {
        #[prost(message, repeated, tag = "1")]
        pub usage: Vec<IoEntry>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct IoEntry {
        #[prost(uint64, tag = "3")]
        pub rbytes: u64,
        #[prost(uint64, tag = "4")]
        pub wbytes: u64,
        #[prost(uint64, tag = "5")]
        pub rios: u64,
        #[prost(uint64, tag = "6")]
        pub wios: u64,
    }
}

/// Fills `s` from v1 metrics. A message the shim left out leaves its figures `None`.
pub(crate) fn fill_v1(m: &v1::Metrics, s: &mut ContainerStats) {
    if let Some(cpu) = &m.cpu {
        if let Some(u) = &cpu.usage {
            (s.cpu.usage_ns, s.cpu.user_ns, s.cpu.system_ns) = (Some(u.total), Some(u.user), Some(u.kernel));
        }
        if let Some(t) = &cpu.throttling {
            s.cpu.periods = Some(t.periods);
            s.cpu.throttled_periods = Some(t.throttled_periods);
            s.cpu.throttled_ns = Some(t.throttled_time);
        }
    }
    if let Some(mem) = &m.memory {
        if let Some(usage) = &mem.usage {
            s.memory.usage = Some(usage.usage);
            s.memory.limit = limit(usage.limit);
            s.memory.working_set = Some(usage.usage.saturating_sub(mem.total_inactive_file));
            // memsw counts memory and swap together; no memsw accounting reads as 0 usage.
            s.memory.swap = mem.swap.as_ref().filter(|sw| sw.usage > 0).map(|sw| sw.usage.saturating_sub(usage.usage));
        }
        (s.memory.rss, s.memory.file_cache) = (Some(mem.total_rss), Some(mem.total_cache));
    }
    s.memory.oom_events = m.memory_oom_control.as_ref().map(|o| o.oom_kill);
    if let Some(blkio) = &m.blkio {
        let sum = |entries: &[v1::BlkIoEntry], op: &str| -> Option<u64> {
            (!entries.is_empty()).then(|| {
                entries.iter().filter(|e| e.op.eq_ignore_ascii_case(op)).map(|e| e.value).fold(0, u64::saturating_add)
            })
        };
        s.block_io.read_bytes = sum(&blkio.io_service_bytes_recursive, "read");
        s.block_io.write_bytes = sum(&blkio.io_service_bytes_recursive, "write");
        s.block_io.read_ops = sum(&blkio.io_serviced_recursive, "read");
        s.block_io.write_ops = sum(&blkio.io_serviced_recursive, "write");
    }
    if let Some(p) = &m.pids {
        (s.pids.current, s.pids.limit) = (Some(p.current), limit(p.limit));
    }
    if !m.network.is_empty() {
        s.networks = Some(
            m.network
                .iter()
                .map(|n| {
                    let mut out = NetworkStats::new(n.name.as_str());
                    (out.rx_bytes, out.rx_packets, out.rx_errors, out.rx_dropped) =
                        (n.rx_bytes, n.rx_packets, n.rx_errors, n.rx_dropped);
                    (out.tx_bytes, out.tx_packets, out.tx_errors, out.tx_dropped) =
                        (n.tx_bytes, n.tx_packets, n.tx_errors, n.tx_dropped);
                    out
                })
                .collect(),
        );
    }
}

/// Fills `s` from v2 metrics. A message the shim left out leaves its figures `None`.
pub(crate) fn fill_v2(m: &v2::Metrics, s: &mut ContainerStats) {
    if let Some(c) = &m.cpu {
        let ns = |us: u64| Some(us.saturating_mul(1000));
        (s.cpu.usage_ns, s.cpu.user_ns, s.cpu.system_ns) = (ns(c.usage_usec), ns(c.user_usec), ns(c.system_usec));
        (s.cpu.periods, s.cpu.throttled_periods) = (Some(c.nr_periods), Some(c.nr_throttled));
        s.cpu.throttled_ns = ns(c.throttled_usec);
    }
    if let Some(mem) = &m.memory {
        s.memory.usage = Some(mem.usage);
        s.memory.limit = limit(mem.usage_limit);
        s.memory.working_set = Some(mem.usage.saturating_sub(mem.inactive_file));
        (s.memory.rss, s.memory.file_cache, s.memory.swap) = (Some(mem.anon), Some(mem.file), Some(mem.swap_usage));
    }
    s.memory.oom_events = m.memory_events.as_ref().map(|e| e.oom_kill);
    if let Some(io) = &m.io {
        let sum = |f: fn(&v2::IoEntry) -> u64| Some(io.usage.iter().map(f).fold(0, u64::saturating_add));
        (s.block_io.read_bytes, s.block_io.write_bytes) = (sum(|e| e.rbytes), sum(|e| e.wbytes));
        (s.block_io.read_ops, s.block_io.write_ops) = (sum(|e| e.rios), sum(|e| e.wios));
    }
    if let Some(p) = &m.pids {
        (s.pids.current, s.pids.limit) = (Some(p.current), limit(p.limit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyctr_core::model::StatsSource;
    use prost::Message;

    fn empty() -> ContainerStats {
        ContainerStats::new("c", chrono::Utc::now(), StatsSource::SandboxRuntime)
    }

    #[test]
    fn v1_as_runsc_sends_it() {
        // The shape `ctr task metrics --format json` showed for a gVisor container on this machine.
        let m = v1::Metrics {
            pids: Some(v1::PidsStat { current: 44, limit: 0 }),
            cpu: Some(v1::CpuStat {
                usage: Some(v1::CpuUsage { total: 702652816, kernel: 70000000, user: 620000000 }),
                throttling: Some(v1::Throttle::default()),
            }),
            memory: Some(v1::MemoryStat {
                total_cache: 487424,
                total_rss: 10145792,
                total_inactive_file: 0,
                usage: Some(v1::MemoryEntry { limit: 67108864, usage: 12558336 }),
                swap: Some(v1::MemoryEntry { limit: 134217728, usage: 12558336 }),
            }),
            blkio: Some(v1::BlkIoStat::default()),
            network: vec![],
            memory_oom_control: None,
        };
        let decoded = v1::Metrics::decode(m.encode_to_vec().as_slice()).unwrap();
        let mut s = empty();
        fill_v1(&decoded, &mut s);
        assert_eq!(s.cpu.usage_ns, Some(702652816));
        assert_eq!((s.cpu.user_ns, s.cpu.system_ns), (Some(620000000), Some(70000000)));
        assert_eq!((s.memory.usage, s.memory.limit, s.memory.swap), (Some(12558336), Some(64 << 20), Some(0)));
        assert_eq!(s.memory.working_set, Some(12558336));
        assert_eq!((s.pids.current, s.pids.limit), (Some(44), None));
        assert_eq!(s.block_io.read_bytes, None, "empty blkio lists: not reported");
        assert_eq!(s.memory.oom_events, None);
        assert!(s.networks.is_none());
    }

    #[test]
    fn v2_with_unlimited_memory() {
        let m = v2::Metrics {
            pids: Some(v2::PidsStat { current: 2, limit: 0 }),
            cpu: Some(v2::CpuStat { usage_usec: 1500, user_usec: 1000, system_usec: 500, ..Default::default() }),
            memory: Some(v2::MemoryStat {
                anon: 10,
                file: 20,
                inactive_file: 5,
                usage: 40,
                usage_limit: u64::MAX,
                swap_usage: 0,
            }),
            io: Some(v2::IoStat { usage: vec![v2::IoEntry { rbytes: 1, wbytes: 2, rios: 3, wios: 4 }] }),
            memory_events: Some(v2::MemoryEvents { oom_kill: 1 }),
        };
        let mut s = empty();
        fill_v2(&v2::Metrics::decode(m.encode_to_vec().as_slice()).unwrap(), &mut s);
        assert_eq!(s.cpu.usage_ns, Some(1_500_000));
        assert_eq!((s.memory.limit, s.memory.working_set, s.memory.oom_events), (None, Some(35), Some(1)));
        assert_eq!((s.block_io.read_bytes, s.block_io.write_ops), (Some(1), Some(4)));
    }
}
