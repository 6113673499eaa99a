//! Resource usage of one container at one moment: CPU, memory, block IO, PIDs, network, pressure.
//!
//! Every figure is an `Option`: an engine (or a cgroup version) reports what it has and `None`
//! says "not reported here", never a made-up zero. Each sample says where it came from
//! ([`StatsSource`]), because a host cgroup, an engine's API and a sandbox's own runtime measure
//! different things (a gVisor sandbox's host cgroup holds the sentry, not the container).

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where a [`ContainerStats`] sample was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatsSource {
    /// The container's cgroup v1 controllers, read from the host (no daemon call).
    HostCgroupV1,
    /// The container's cgroup v2 directory, read from the host (no daemon call).
    HostCgroupV2,
    /// The engine's stats API (docker, pouch, podman stats; containerd task metrics; CRI stats)
    /// for a runc-class container, where the engine itself read the container's cgroup.
    EngineApi,
    /// A sandboxed container (gVisor, RunD, Kata): the figures come from the sandbox runtime
    /// through the engine (the shim's metrics), measured inside the sandbox.
    SandboxRuntime,
}

/// CPU time used. Times in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CpuStats {
    /// Total CPU time used since the container started.
    pub usage_ns: Option<u64>,
    /// Of which in user mode.
    pub user_ns: Option<u64>,
    /// Of which in kernel mode.
    pub system_ns: Option<u64>,
    /// CFS enforcement periods that elapsed.
    pub periods: Option<u64>,
    /// Periods in which the container was throttled.
    pub throttled_periods: Option<u64>,
    /// Total time the container was throttled.
    pub throttled_ns: Option<u64>,
    /// CPUs the engine says are online for the container (docker's `online_cpus`).
    pub online_cpus: Option<u32>,
}

/// Memory in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MemoryStats {
    /// Charged memory, page cache included (`memory.usage_in_bytes`, `memory.current`).
    pub usage: Option<u64>,
    /// Usage minus inactive file cache: what the kubelet evicts on (cAdvisor's working set).
    pub working_set: Option<u64>,
    /// Anonymous memory (v1 `total_rss`, v2 `anon`).
    pub rss: Option<u64>,
    /// Page cache (v1 `total_cache`, v2 `file`).
    pub file_cache: Option<u64>,
    /// The limit; `None` when unlimited or not reported.
    pub limit: Option<u64>,
    /// Swap in use.
    pub swap: Option<u64>,
    /// OOM kills in the container's cgroup.
    pub oom_events: Option<u64>,
}

/// Block IO summed over all devices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BlockIoStats {
    /// Bytes read.
    pub read_bytes: Option<u64>,
    /// Bytes written.
    pub write_bytes: Option<u64>,
    /// Read operations.
    pub read_ops: Option<u64>,
    /// Write operations.
    pub write_ops: Option<u64>,
}

/// Tasks (processes and threads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PidsStats {
    /// Tasks in the container now.
    pub current: Option<u64>,
    /// The limit; `None` when unlimited or not reported.
    pub limit: Option<u64>,
}

/// One network interface of the container's own network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NetworkStats {
    /// The interface name inside the container (`eth0`).
    pub interface: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Sent packets dropped.
    pub tx_dropped: u64,
}

impl NetworkStats {
    /// An interface with every counter zero (set the counters read).
    pub fn new(interface: impl Into<String>) -> Self {
        NetworkStats { interface: interface.into(), ..Default::default() }
    }
}

/// One pressure line (`some` or `full`) of a PSI file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PressureLine {
    /// Share of time stalled over the last 10 s, in percent.
    pub avg10: f64,
    /// Over the last 60 s.
    pub avg60: f64,
    /// Over the last 300 s.
    pub avg300: f64,
    /// Total stall time in microseconds.
    pub total_us: u64,
}

impl PressureLine {
    /// A pressure line from its four figures.
    pub fn new(avg10: f64, avg60: f64, avg300: f64, total_us: u64) -> Self {
        PressureLine { avg10, avg60, avg300, total_us }
    }
}

/// The `some` and `full` lines of one resource's pressure file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Pressure {
    /// Some tasks stalled.
    pub some: Option<PressureLine>,
    /// All non-idle tasks stalled (absent for CPU on older kernels).
    pub full: Option<PressureLine>,
}

impl Pressure {
    /// Pressure from its two lines.
    pub fn new(some: Option<PressureLine>, full: Option<PressureLine>) -> Self {
        Pressure { some, full }
    }
}

/// Pressure stall information (cgroup v2 `cpu.pressure`, `memory.pressure`, `io.pressure`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PressureStats {
    /// `cpu.pressure`.
    pub cpu: Option<Pressure>,
    /// `memory.pressure`.
    pub memory: Option<Pressure>,
    /// `io.pressure`.
    pub io: Option<Pressure>,
}

/// One sample of a container's resource usage. See the module docs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ContainerStats {
    /// The container's full id.
    pub container: String,
    /// When the sample was taken (the engine's time where it says, else when it was read).
    pub time: DateTime<Utc>,
    /// Where the figures came from.
    pub source: StatsSource,
    /// CPU time.
    pub cpu: CpuStats,
    /// Memory.
    pub memory: MemoryStats,
    /// Block IO.
    pub block_io: BlockIoStats,
    /// Tasks.
    pub pids: PidsStats,
    /// Per interface, when the container has a network namespace of its own and the source reads
    /// it; `None` when not reported (host network, or a source without network figures).
    pub networks: Option<Vec<NetworkStats>>,
    /// PSI, where the kernel and the cgroup version have it.
    pub pressure: Option<PressureStats>,
}

impl ContainerStats {
    /// An empty sample of `container` (every figure `None`) taken at `time` from `source`; the
    /// reader fills in what it read.
    pub fn new(container: impl Into<String>, time: DateTime<Utc>, source: StatsSource) -> Self {
        ContainerStats {
            container: container.into(),
            time,
            source,
            cpu: CpuStats::default(),
            memory: MemoryStats::default(),
            block_io: BlockIoStats::default(),
            pids: PidsStats::default(),
            networks: None,
            pressure: None,
        }
    }

    /// CPU use between `earlier` and this sample of the same container, in percent of one CPU
    /// (200.0 = two CPUs busy). `None` when either lacks CPU usage or a time, when the samples are
    /// of different containers, or when time did not advance; a counter that went backwards (the
    /// container restarted) also gives `None`, not a negative figure.
    pub fn cpu_percent_since(&self, earlier: &ContainerStats) -> Option<f64> {
        if self.container != earlier.container {
            return None;
        }
        let used = self.cpu.usage_ns?.checked_sub(earlier.cpu.usage_ns?)?;
        let elapsed = (self.time - earlier.time).num_nanoseconds()?;
        (elapsed > 0).then(|| used as f64 * 100.0 / elapsed as f64)
    }
}

/// CPU percent between two samples; see [`ContainerStats::cpu_percent_since`].
pub fn cpu_percent(earlier: &ContainerStats, later: &ContainerStats) -> Option<f64> {
    later.cpu_percent_since(earlier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample(at_ms: i64, usage_ns: Option<u64>) -> ContainerStats {
        let mut s = ContainerStats::new("c1", Utc.timestamp_millis_opt(at_ms).unwrap(), StatsSource::HostCgroupV2);
        s.cpu.usage_ns = usage_ns;
        s
    }

    #[test]
    fn cpu_percent_of_one_cpu() {
        let a = sample(1_000, Some(0));
        let b = sample(2_000, Some(500_000_000));
        assert_eq!(cpu_percent(&a, &b), Some(50.0));
        let c = sample(2_000, Some(2_000_000_000));
        assert_eq!(cpu_percent(&a, &c), Some(200.0));
    }

    #[test]
    fn cpu_percent_refuses_what_it_cannot_know() {
        let a = sample(1_000, Some(10));
        assert_eq!(cpu_percent(&a, &sample(2_000, None)), None, "no usage");
        assert_eq!(cpu_percent(&a, &sample(1_000, Some(20))), None, "no time passed");
        assert_eq!(cpu_percent(&a, &sample(2_000, Some(5))), None, "counter went back");
        let mut other = sample(2_000, Some(20));
        other.container = "c2".into();
        assert_eq!(cpu_percent(&a, &other), None, "another container");
    }

    #[test]
    fn a_new_sample_reports_nothing() {
        let s = sample(0, None);
        assert_eq!(s.memory, MemoryStats::default());
        assert!(s.memory.usage.is_none() && s.pids.current.is_none() && s.networks.is_none());
    }
}
