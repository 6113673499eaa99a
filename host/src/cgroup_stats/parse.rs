//! Parsers for the text formats of cgroupfs and `/proc/<pid>/net/dev`. Pure functions of a string:
//! a line they do not understand is skipped, a figure they cannot parse is absent (`None`), never 0.

use anyctr_core::model::{NetworkStats, Pressure, PressureLine};

/// A file holding one number (`memory.current`, `pids.current`); `max` and the v1 "unlimited"
/// sentinel are `None` when `limit` says the file is a limit.
pub(super) fn single(text: &str, limit: bool) -> Option<u64> {
    let word = text.split_whitespace().next()?;
    if limit && word == "max" {
        return None;
    }
    let n: u64 = word.parse().ok()?;
    // cgroup v1 says "no limit" with PAGE_COUNTER_MAX pages in bytes (9223372036854771712 on
    // x86-64, close to i64::MAX): anything that large is no limit.
    (!limit || n < UNLIMITED_FLOOR).then_some(n)
}

/// Limits at or above this are "unlimited" (v1 writes `LONG_MAX` rounded down to a page).
const UNLIMITED_FLOOR: u64 = 1 << 62;

/// `key value` lines (`memory.stat`, `cpu.stat`, `memory.events`, `cpuacct.stat`).
pub(super) fn keyed(text: &str) -> impl Fn(&str) -> Option<u64> + '_ {
    move |key| {
        text.lines().find_map(|line| {
            let (k, v) = line.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
    }
}

/// Sums of v1 `blkio.*` lines (`8:0 Read 4096`) per operation (`Read`, `Write`), over devices.
/// The `Total` summary line is skipped.
pub(super) fn blkio_sum(text: &str, op: &str) -> Option<u64> {
    let mut found = false;
    let mut sum = 0u64;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(_device), Some(o), Some(v)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if o == op
            && let Ok(v) = v.parse::<u64>()
        {
            sum = sum.saturating_add(v);
            found = true;
        }
    }
    found.then_some(sum)
}

/// Sums of v2 `io.stat` fields (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`) over devices.
pub(super) fn io_stat_sum(text: &str, field: &str) -> Option<u64> {
    let mut found = false;
    let mut sum = 0u64;
    for line in text.lines() {
        for kv in line.split_whitespace().skip(1) {
            if let Some((k, v)) = kv.split_once('=')
                && k == field
                && let Ok(v) = v.parse::<u64>()
            {
                sum = sum.saturating_add(v);
                found = true;
            }
        }
    }
    found.then_some(sum)
}

/// A PSI file (`some avg10=0.00 avg60=0.00 avg300=0.00 total=0` and `full …`).
pub(super) fn pressure(text: &str) -> Option<Pressure> {
    let line = |kind: &str| -> Option<PressureLine> {
        let rest = text.lines().find_map(|l| l.strip_prefix(kind)?.strip_prefix(' '))?;
        let field = |name: &str| {
            rest.split_whitespace().find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
        };
        Some(PressureLine::new(
            field("avg10")?.parse().ok()?,
            field("avg60")?.parse().ok()?,
            field("avg300")?.parse().ok()?,
            field("total")?.parse().ok()?,
        ))
    };
    let p = Pressure::new(line("some"), line("full"));
    (p.some.is_some() || p.full.is_some()).then_some(p)
}

/// `/proc/<pid>/net/dev`: one [`NetworkStats`] per interface but loopback.
pub(super) fn net_dev(text: &str) -> Vec<NetworkStats> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, figures) = line.split_once(':')?;
            let name = name.trim();
            if name == "lo" || name.is_empty() {
                return None;
            }
            let n: Vec<u64> = figures.split_whitespace().map(|f| f.parse().ok()).collect::<Option<_>>()?;
            if n.len() < 12 {
                return None;
            }
            let mut s = NetworkStats::new(name);
            (s.rx_bytes, s.rx_packets, s.rx_errors, s.rx_dropped) = (n[0], n[1], n[2], n[3]);
            (s.tx_bytes, s.tx_packets, s.tx_errors, s.tx_dropped) = (n[8], n[9], n[10], n[11]);
            Some(s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_values_and_limits() {
        assert_eq!(single("4096\n", false), Some(4096));
        assert_eq!(single("max\n", true), None);
        assert_eq!(single("9223372036854771712\n", true), None);
        assert_eq!(single("268435456\n", true), Some(268435456));
        assert_eq!(single("", false), None);
        assert_eq!(single("junk", false), None);
    }

    #[test]
    fn keyed_files() {
        let text = "nr_periods 10\nnr_throttled 2\nthrottled_time 345\n";
        let get = keyed(text);
        assert_eq!(get("nr_throttled"), Some(2));
        assert_eq!(get("throttled"), None);
        assert_eq!(get("missing"), None);
    }

    #[test]
    fn blkio_sums_devices_and_skips_total() {
        let text = "8:0 Read 100\n8:0 Write 7\n8:16 Read 50\n8:16 Write 0\nTotal 157\n";
        assert_eq!(blkio_sum(text, "Read"), Some(150));
        assert_eq!(blkio_sum(text, "Write"), Some(7));
        assert_eq!(blkio_sum("Total 0\n", "Read"), None, "no device line: not reported");
    }

    #[test]
    fn io_stat_sums_devices() {
        let text = "8:0 rbytes=1000 wbytes=20 rios=3 wios=4 dbytes=0 dios=0\n253:0 rbytes=1 wbytes=2 rios=1 wios=1\n";
        assert_eq!(io_stat_sum(text, "rbytes"), Some(1001));
        assert_eq!(io_stat_sum(text, "wios"), Some(5));
        assert_eq!(io_stat_sum("", "rbytes"), None);
    }

    #[test]
    fn psi_lines() {
        let text =
            "some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n";
        let p = pressure(text).unwrap();
        assert_eq!(p.some, Some(PressureLine::new(1.5, 0.25, 0.0, 12345)));
        assert_eq!(p.full.unwrap().total_us, 7);
        assert_eq!(pressure("garbage"), None);
    }

    #[test]
    fn net_dev_skips_loopback_and_headers() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  \
eth0:    5000      40    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n";
        let got = net_dev(text);
        assert_eq!(got.len(), 1);
        let e = &got[0];
        assert_eq!(e.interface, "eth0");
        assert_eq!((e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped), (5000, 40, 1, 2));
        assert_eq!((e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped), (3000, 30, 3, 4));
    }
}
