//! The Docker API's stats document (`GET /containers/{id}/stats?stream=false`) as a
//! [`ContainerStats`]: dockerd (cgroup v1 and v2 shapes), Podman's compatible API and pouchd
//! (v1.24, which misspells `syetem_cpu_usage` and omits zero fields) all send it.
//!
//! Only `cpu_stats` is read, never `precpu_stats`: a one-shot answer's precpu is all zeros
//! (dockerd with `one-shot=true`, Podman always), and CPU percent comes from two samples
//! ([`ContainerStats::cpu_percent_since`]). A field the daemon left out is `None`; lists the
//! daemon sent empty (`blkio_stats` of a sandbox) are "not reported", not zero. Network counters
//! a daemon omitted inside an interface it did report are Go's `omitempty` zeros and read as 0.

use anyctr_core::model::{ContainerStats, NetworkStats, StatsSource};
use anyctr_core::{Error, ErrorKind, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The sample in `doc` of container `id`, labelled `source`. A document whose `read` time is
/// Go's zero time describes a container that is not running: `Conflict`.
pub fn stats_from_json(doc: &Value, id: &str, source: StatsSource) -> Result<ContainerStats> {
    let read = doc["read"].as_str().unwrap_or_default();
    let time = DateTime::parse_from_rfc3339(read)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| Error::unexpected(format!("stats of {id}: no sample time in {read:?}")))?;
    if time.timestamp() <= 0 {
        return Err(Error::new(ErrorKind::Conflict, format!("container {id} is not running: no stats")));
    }
    let mut s = ContainerStats::new(id, time, source);
    let num = |v: &Value| v.as_u64();

    let cpu = &doc["cpu_stats"];
    s.cpu.usage_ns = num(&cpu["cpu_usage"]["total_usage"]);
    s.cpu.user_ns = num(&cpu["cpu_usage"]["usage_in_usermode"]);
    s.cpu.system_ns = num(&cpu["cpu_usage"]["usage_in_kernelmode"]);
    let throttling = &cpu["throttling_data"];
    s.cpu.periods = num(&throttling["periods"]);
    s.cpu.throttled_periods = num(&throttling["throttled_periods"]);
    s.cpu.throttled_ns = num(&throttling["throttled_time"]);
    s.cpu.online_cpus = num(&cpu["online_cpus"]).and_then(|n| u32::try_from(n).ok());

    let mem = &doc["memory_stats"];
    let stat = |key: &str| num(&mem["stats"][key]);
    s.memory.usage = num(&mem["usage"]);
    s.memory.limit = num(&mem["limit"]).filter(|&l| l > 0);
    // cgroup v1 names (`total_*`, hierarchical) first, then cgroup v2's.
    s.memory.rss = stat("total_rss").or_else(|| stat("anon"));
    s.memory.file_cache = stat("total_cache").or_else(|| stat("file"));
    s.memory.swap = stat("total_swap");
    let inactive_file = stat("total_inactive_file").or_else(|| stat("inactive_file"));
    s.memory.working_set = s.memory.usage.zip(inactive_file).map(|(u, i)| u.saturating_sub(i));

    let blkio = &doc["blkio_stats"];
    let sum = |list: &str, op: &str| -> Option<u64> {
        let entries = blkio[list].as_array().filter(|a| !a.is_empty())?;
        Some(
            entries
                .iter()
                .filter(|e| e["op"].as_str().is_some_and(|o| o.eq_ignore_ascii_case(op)))
                .filter_map(|e| num(&e["value"]))
                .fold(0u64, u64::saturating_add),
        )
    };
    s.block_io.read_bytes = sum("io_service_bytes_recursive", "read");
    s.block_io.write_bytes = sum("io_service_bytes_recursive", "write");
    s.block_io.read_ops = sum("io_serviced_recursive", "read");
    s.block_io.write_ops = sum("io_serviced_recursive", "write");

    s.pids.current = num(&doc["pids_stats"]["current"]);
    s.pids.limit = num(&doc["pids_stats"]["limit"]).filter(|&l| l > 0 && l < 1 << 62);

    if let Some(networks) = doc["networks"].as_object() {
        let mut all: Vec<NetworkStats> = networks
            .iter()
            .map(|(name, n)| {
                let c = |k: &str| num(&n[k]).unwrap_or(0);
                let mut stats = NetworkStats::new(name.as_str());
                (stats.rx_bytes, stats.rx_packets, stats.rx_errors, stats.rx_dropped) =
                    (c("rx_bytes"), c("rx_packets"), c("rx_errors"), c("rx_dropped"));
                (stats.tx_bytes, stats.tx_packets, stats.tx_errors, stats.tx_dropped) =
                    (c("tx_bytes"), c("tx_packets"), c("tx_errors"), c("tx_dropped"));
                stats
            })
            .collect();
        all.sort_by(|a, b| a.interface.cmp(&b.interface));
        s.networks = Some(all);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dockerd_cgroup_v1_document() {
        let doc = json!({
            "read": "2026-11-30T19:39:19.891778832Z",
            "pids_stats": {"current": 3},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 512},
                {"major": 8, "minor": 0, "op": "Total", "value": 4608}],
                "io_serviced_recursive": []},
            "cpu_stats": {"cpu_usage": {"total_usage": 554267225, "usage_in_kernelmode": 40000000,
                "usage_in_usermode": 500000000}, "online_cpus": 2,
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
            "precpu_stats": {"cpu_usage": {"total_usage": 0}},
            "memory_stats": {"usage": 13086720, "limit": 67108864,
                "stats": {"total_rss": 10461184, "total_cache": 491520, "total_inactive_file": 4096}},
            "networks": {"eth0": {"rx_bytes": 516, "rx_packets": 6, "tx_bytes": 0}}
        });
        let s = stats_from_json(&doc, "abc", StatsSource::EngineApi).unwrap();
        assert_eq!(s.cpu.usage_ns, Some(554267225));
        assert_eq!((s.cpu.user_ns, s.cpu.system_ns), (Some(500000000), Some(40000000)));
        assert_eq!((s.cpu.periods, s.cpu.online_cpus), (Some(0), Some(2)));
        assert_eq!(s.memory.limit, Some(64 << 20));
        assert_eq!(s.memory.working_set, Some(13086720 - 4096));
        assert_eq!((s.memory.rss, s.memory.file_cache), (Some(10461184), Some(491520)));
        assert_eq!((s.block_io.read_bytes, s.block_io.write_bytes), (Some(4096), Some(512)));
        assert_eq!(s.block_io.read_ops, None, "an empty list is not reported");
        assert_eq!(s.pids.current, Some(3));
        assert_eq!(s.pids.limit, None);
        let nets = s.networks.unwrap();
        assert_eq!((nets[0].interface.as_str(), nets[0].rx_bytes, nets[0].tx_packets), ("eth0", 516, 0));
    }

    #[test]
    fn cgroup_v2_names_and_a_stopped_container() {
        let doc = json!({"read": "2026-11-30T19:39:19Z",
            "memory_stats": {"usage": 1000, "stats": {"anon": 600, "file": 300, "inactive_file": 100}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "read", "value": 7}, {"op": "write", "value": 9}]}});
        let s = stats_from_json(&doc, "abc", StatsSource::EngineApi).unwrap();
        assert_eq!((s.memory.rss, s.memory.file_cache, s.memory.working_set), (Some(600), Some(300), Some(900)));
        assert_eq!((s.block_io.read_bytes, s.block_io.write_bytes), (Some(7), Some(9)));
        assert_eq!(s.cpu.usage_ns, None);
        assert_eq!(s.memory.limit, None);
        assert!(s.networks.is_none());
        let stopped = json!({"read": "0001-01-01T00:00:00Z", "memory_stats": {}});
        assert_eq!(stats_from_json(&stopped, "abc", StatsSource::EngineApi).unwrap_err().kind(), ErrorKind::Conflict);
    }
}
